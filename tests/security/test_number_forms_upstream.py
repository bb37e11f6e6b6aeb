"""Restricted numbers in every form, through the gateway: decided restricted, never sent outside.

The gateway runs with the real classifier; its policy lets an external ``litellm`` target take
``internal`` requests only and sends everything else to an on-prem target. Both upstreams are real
OpenAI servers on loopback. Each prompt below carries a card number, IBAN or resident ID in one of
the forms of issues 16 and 17 (split across lines, cells, code, messages and content parts;
separators; spelled out; escaped; encoded) or content that cannot be decoded: each must be decided
``restricted``, answered by the on-prem target, and the external upstream must have received
nothing. A clean prompt, sent last, does reach the external upstream: the route is live.
"""

from __future__ import annotations

import base64
import secrets
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

UPSTREAM_KEY = "sk-number-forms-upstream"
CARD = "4111111111111111"

POLICY = """
version: 1
name: number-forms
levels: [public, internal, confidential, restricted]
classification:
  default_level: internal
  on_error: restricted
  on_undecodable: {on_undecodable}
  entities: {{CREDIT_CARD: restricted, CN_BANK_CARD: restricted, IBAN_CODE: restricted,
              CN_RESIDENT_ID: restricted, US_SSN: restricted}}
targets:
  onprem:
    kind: openai_compatible
    api_base: {onprem}
    model: m-onprem
    api_key_env: NUMBER_FORMS_KEY
    residency: on_prem
  closed:
    kind: litellm
    model: openai/gpt-4o-mini
    api_base: {closed}
    api_key_env: NUMBER_FORMS_KEY
    residency: external
    max_level: internal
models:
  bank-standard: {{tier: standard}}
routes:
  - name: restricted-stays-on-prem
    when: {{level_at_least: confidential}}
    targets: [onprem]
  - name: default
    targets: [closed, onprem]
"""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _user(content: Any) -> dict[str, Any]:
    return {"role": "user", "content": content}


# name -> messages; one case per form
CASES: dict[str, list[dict[str, Any]]] = {
    "wrapped at a line end": [_user("Card no.: 3044 1640\n1076 29 was declined, why?")],
    "IBAN over three lines": [_user("Please pay to IBAN\nGB29 LTAY 3160 4610\n7094 67 today")],
    "CSV cells": [_user("name;card\nJane;4111;1111;1111;1111\nsummarise this row")],
    "Markdown table": [_user("| holder | IBAN |\n|---|---|\n| J. | DE89 3704 | 0044 0532 | 0130 00 |")],
    "code concatenation": [_user('fix this: card = "4111 1111 " +\n    "1111 1111"')],
    "resident ID across lines": [_user("身份证号码：110105\n199003071239，请核实")],
    "two messages": [_user("My card is 4111 1111"), _user("1111 1111, can you check it?")],
    "two content parts": [_user([{"type": "text", "text": "IBAN DE89 3704 0044"},
                                 {"type": "text", "text": "0532 0130 00 please"}])],
    "underscores": [_user("the constant is 4111_1111_1111_1111")],
    "thousands separators": [_user("card 4,111,111,111,111,111 on file")],
    "pipes": [_user("card 4111|1111|1111|1111 on file")],
    "spelled English": [_user("transcript: my card is four " + " ".join(["one"] * 15) + " thanks")],
    "spelled German": [_user("Transkript: Karte vier " + " ".join(["eins"] * 15))],
    "spelled French": [_user("transcription : carte quatre " + " ".join(["un"] * 15))],
    "Chinese numerals": [_user("卡号四一一一一一一一一一一一一一一一，谢谢")],
    "base64": [_user(f"decode {_b64(f'card {CARD}'.encode())} please")],
    "hex": [_user(f"payload {CARD.encode().hex()}")],
    "URL-encoding": [_user("GET /pay?pan=%34%31%31%31%31%31%31%31%31%31%31%31%31%31%31%31")],
    "PDF in base64 (undecodable)": [_user(f"summarise {_b64(b'%PDF-1.7 statement of account')}")],
}  # fmt: skip
CLEAN = [_user("Summarise ISIN US0378331005 and BIC DEUTDEFF; request 123e4567-e89b-12d3-a456-426614174000")]


@pytest.fixture
def upstreams() -> Iterator[dict[str, OpenAIUpstream]]:
    ups = {name: OpenAIUpstream(api_key=UPSTREAM_KEY).start() for name in ("onprem", "closed")}
    try:
        yield ups
    finally:
        for up in ups.values():
            up.stop()


async def _gateway(
    tmp_path: Path, upstreams: dict[str, OpenAIUpstream], engine: DetectionEngine, on_undecodable: str
) -> AsyncIterator[httpx.AsyncClient]:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY.format(on_undecodable=on_undecodable, **{n: u.base_url for n, u in upstreams.items()}))
    config = Config(policy=str(policy), database_url=f"sqlite:///{tmp_path}/gw.db", var_dir=str(tmp_path),
                    policy_watch_s=0)  # fmt: skip
    classifier = PresidioClassifier(engine=engine, timeout_s=30)
    app = create_app(config, classifier=classifier)
    async with app.router.lifespan_context(app):
        _, key = app.state.gateway.keys.create(f"numbers-{secrets.token_hex(3)}", ["user"])
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw",
                                     headers={"Authorization": f"Bearer {key}"}, timeout=60) as client:  # fmt: skip
            yield client
    classifier.close()


@pytest.fixture
async def client(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, upstreams: dict[str, OpenAIUpstream],
    detection_engine: DetectionEngine,
) -> AsyncIterator[httpx.AsyncClient]:  # fmt: skip
    monkeypatch.setenv("NUMBER_FORMS_KEY", UPSTREAM_KEY)
    async for gateway in _gateway(tmp_path, upstreams, detection_engine, "on_error"):
        yield gateway


async def _post(client: httpx.AsyncClient, messages: list[dict[str, Any]], stream: bool = False) -> httpx.Response:
    body = {"model": "bank-standard", "messages": messages, "stream": stream}
    async with client.stream("POST", "/v1/chat/completions", json=body) as response:
        await response.aread()
        return response


async def test_every_form_stays_on_prem(client: httpx.AsyncClient, upstreams: dict[str, OpenAIUpstream]) -> None:
    wrong = {}
    for name, messages in CASES.items():
        response = await _post(client, messages)
        got = (response.status_code, response.headers.get("x-gateway-level"), response.headers.get("x-gateway-target"))
        if got != (200, "restricted", "onprem"):
            wrong[name] = got
    streamed = await _post(client, CASES["wrapped at a line end"], stream=True)
    assert (streamed.headers["x-gateway-level"], streamed.headers["x-gateway-residency"]) == ("restricted", "on_prem")
    assert wrong == {}
    assert upstreams["closed"].chat_requests == []
    assert len(upstreams["onprem"].chat_requests) == len(CASES) + 1

    clean = await _post(client, CLEAN)
    assert (clean.status_code, clean.headers["x-gateway-level"], clean.headers["x-gateway-target"]) == (
        200, "internal", "closed",
    )  # fmt: skip
    assert len(upstreams["closed"].chat_requests) == 1


async def test_undecodable_content_can_be_ignored_by_policy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, upstreams: dict[str, OpenAIUpstream],
    detection_engine: DetectionEngine,
) -> None:  # fmt: skip
    monkeypatch.setenv("NUMBER_FORMS_KEY", UPSTREAM_KEY)
    async for client in _gateway(tmp_path, upstreams, detection_engine, "ignore"):
        pdf = await _post(client, CASES["PDF in base64 (undecodable)"])
        assert (pdf.headers["x-gateway-level"], pdf.headers["x-gateway-target"]) == ("internal", "closed")
        card = await _post(client, CASES["base64"])  # readable encodings are read whatever the setting
        assert (card.headers["x-gateway-level"], card.headers["x-gateway-target"]) == ("restricted", "onprem")
    assert len(upstreams["closed"].chat_requests) == 1
