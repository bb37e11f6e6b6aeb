"""Through the gateway: personal data in each language stays on-prem, ordinary text may leave.

Real classifier, real loopback upstreams (an on-prem OpenAI-compatible server and an
external one that litellm really calls), the policy's ``max_level: internal`` on the
external target. A prompt with a name, an address or a phone in any of the forms and
languages of issue 17 must be answered by the on-prem target, and the external
upstream must have received nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.app import create_app
from gateway.classify import PresidioClassifier
from gateway.classify.engine import DetectionEngine
from gateway.config import Config
from tests.upstreams.openai_server import OpenAIUpstream

KEY = "sk-language-routing"
POLICY = """
version: 1
name: languages
levels: [public, internal, confidential, restricted]
classification:
  default_level: internal
  on_error: restricted
  entities: {{CREDIT_CARD: restricted, IBAN_CODE: restricted, PERSON: confidential, EMAIL_ADDRESS: confidential,
              PHONE_NUMBER: confidential, CN_PHONE: confidential, STREET_ADDRESS: confidential}}
targets:
  onprem:
    kind: openai_compatible
    api_base: {onprem}
    model: m-onprem
    api_key_env: LANG_UPSTREAM_KEY
    residency: on_prem
    pricing: {{usd_per_million_input: 1, usd_per_million_output: 2}}
  closed:
    kind: litellm
    model: openai/gpt-4o-mini
    api_base: {closed}
    api_key_env: LANG_UPSTREAM_KEY
    residency: external
    max_level: internal
models:
  bank-standard: {{tier: standard}}
routes:
  - name: sensitive-stays-on-prem
    when: {{level_at_least: confidential}}
    targets: [onprem]
  - name: default
    targets: [closed, onprem]
"""

SENSITIVE = [
    "Sehr geehrte Frau Weißgerber, anbei erhalten Sie den Kontoauszug.",
    "Bonjour Mme Lefèvre, votre dossier est complet.",
    "La titular Remedios Albarracín solicita un duplicado.",
    "Gentile Sig.ra Bonfiglio, la sua pratica è approvata.",
    "Geachte heer van Oosterhout, hierbij uw afschrift.",
    "高橋 健太様のお問い合わせに返信してください。",
    "请联系客户刘建华核实身份。",
    'Deduplicate: {"id": 4411, "account_holder": "Wilhelmina Achterberg", "status": "open"}',
    "Check these rows:\nname,iban_country\nAurelio Benedetti,IT\nKatarzyna Wiśniewska,PL\n",
    'Rows:\n"VANDERBEEK, Annelies";1200\n"OYELARAN, Tunde";80\n',
    "Send the new card to Suensaarenkatu 22, 98570 Aapajärvi, please.",
    "お客様は東京都千代田区丸の内1丁目1番1号に転居しました。",
    "Bitte heute unter 448 91 830 zurückrufen.",
]
CLEAN = [
    "Beschreibe den Rückzahlungsprozess für Ratenkredite in fünf Schritten.",
    "Calcula la cuota mensual de un préstamo de 20.000 EUR al 4,5 % a 10 años.",
    "第3四半期の流動性レポートを要約してください。",
]


@pytest.fixture
def upstreams() -> Iterator[dict[str, OpenAIUpstream]]:
    ups = {name: OpenAIUpstream(api_key=KEY).start() for name in ("onprem", "closed")}
    try:
        yield ups
    finally:
        for up in ups.values():
            up.stop()


@pytest.fixture
async def client(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, upstreams: dict[str, OpenAIUpstream], engine: DetectionEngine
) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.setenv("LANG_UPSTREAM_KEY", KEY)
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY.format(**{name: up.base_url for name, up in upstreams.items()}))
    config = Config(policy=str(policy), database_url=f"sqlite:///{tmp_path}/gw.db", var_dir=str(tmp_path),
                    policy_watch_s=0)  # fmt: skip
    classifier = PresidioClassifier(engine=engine, timeout_s=30)
    app = create_app(config, classifier=classifier)
    async with app.router.lifespan_context(app):
        _, key = app.state.gateway.keys.create("ops", ["user"])
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://gw", headers={"Authorization": f"Bearer {key}"}, timeout=60
        ) as http:
            yield http
    classifier.close()


async def _chat(client: httpx.AsyncClient, text: str) -> Any:
    body = {"model": "bank-standard", "messages": [{"role": "user", "content": text}]}
    response = await client.post("/v1/chat/completions", json=body)
    assert response.status_code == 200, response.text
    return response


async def test_personal_data_in_every_language_stays_on_prem(
    client: httpx.AsyncClient, upstreams: dict[str, OpenAIUpstream]
) -> None:
    for text in SENSITIVE:
        response = await _chat(client, text)
        assert response.headers["x-gateway-level"] == "confidential", text
        assert response.headers["x-gateway-residency"] == "on_prem", text
    assert upstreams["closed"].chat_requests == []
    assert len(upstreams["onprem"].chat_requests) == len(SENSITIVE)


async def test_ordinary_text_in_other_languages_may_leave(
    client: httpx.AsyncClient, upstreams: dict[str, OpenAIUpstream]
) -> None:
    for text in CLEAN:
        response = await _chat(client, text)
        assert response.headers["x-gateway-level"] == "internal", text
        assert response.headers["x-gateway-target"] == "closed", text
    assert len(upstreams["closed"].chat_requests) == len(CLEAN)
