"""Issue 17's forms through a running gateway: each is kept on-prem, the external upstream gets nothing.

A real gateway (uvicorn on loopback, the real classifier) sits between two recording
loopback OpenAI servers (``tests/upstreams/gateway_between.py``); the policy sends
``internal`` requests to the external one (``max_level: internal``, reached through
litellm) and anything above to the on-prem one. For every language the bank writes in and
every hard form of the issue (numbers split across lines, table cells and messages; names
in structured data; names with nothing but a given name, a greeting or a capitalised run
to find them) the answer must carry the expected level, come from on-prem, and leave the
external upstream without a single request. Two ordinary prompts go out, so a broken
external path cannot pass for a kept one.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gateway.classify.engine import DetectionEngine
from tests.upstreams.gateway_between import RunningGateway, gateway_between

POLICY = """
version: 1
name: issue-17-forms
levels: [public, internal, confidential, restricted]
classification:
  default_level: internal
  on_error: restricted
  entities: {{CREDIT_CARD: restricted, CN_BANK_CARD: restricted, IBAN_CODE: restricted, US_SSN: restricted,
              CN_RESIDENT_ID: restricted, PERSON: confidential, EMAIL_ADDRESS: confidential,
              PHONE_NUMBER: confidential, CN_PHONE: confidential, STREET_ADDRESS: confidential}}
targets:
  onprem:
    kind: openai_compatible
    api_base: {onprem}
    model: m-onprem
    api_key_env: LOOPBACK_UPSTREAM_KEY
    residency: on_prem
  closed:
    kind: litellm
    model: openai/gpt-4o-mini
    api_base: {external}
    api_key_env: LOOPBACK_UPSTREAM_KEY
    residency: external
    max_level: internal
models:
  bank-standard: {{tier: standard}}
routes:
  - name: sensitive-stays-on-prem
    when: {{level_at_least: confidential}}
    targets: [onprem]
  - name: default
    targets: [closed]
"""


def user(*texts: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text} for text in texts]


# (case, messages, level): one or more per language, one or more per form.
CASES = [
    # every language: a name with no title, key or introducing word before it
    ("de", user("Bitte die Überweisung an Jörg Brandt heute noch freigeben."), "confidential"),
    ("de-preposition", user("Bitte die Zahlung von Gerlinde Hövelmann prüfen."), "confidential"),
    ("fr", user("Merci de rappeler Sébastien Marchand concernant son prêt."), "confidential"),
    ("es", user("Confirme el pago de Lisandro Ferrer Vidal antes del viernes."), "confidential"),
    ("it", user("Verifica il bonifico per conto di Ottavio Gentile entro oggi."), "confidential"),
    ("it-title", user("Ho parlato con la dott.ssa Bianchi del mutuo."), "confidential"),
    ("nl", user("Controleer de betaling van Joep Mertens aan de bank."), "confidential"),
    ("nl-initials", user("P. Jansen heeft gisteren gebeld over de hypotheek."), "confidential"),
    ("zh", user("请回电李娜，关于房贷申请。"), "confidential"),
    ("ja", user("高橋 健太様のお問い合わせに返信してください。"), "confidential"),
    ("en", user("Kuyra, can I please speak to your manager about the fee?"), "confidential"),
    ("en-foreign-letters", user("Margrethe Sørensen asked about the fee."), "confidential"),
    # numbers split across lines, table cells and messages
    ("split-lines-card", user("Card no.: 3044 1640\n1076 29"), "restricted"),
    ("split-lines-iban", user("IBAN:\nGB29 LTAY 3160 4610\n7094 67"), "restricted"),
    ("split-cells", user("name;card\nJane;4111;1111;1111;1111"), "restricted"),
    ("split-markdown-cells", user("| IBAN | DE89 3704 | 0044 0532 | 0130 00 |"), "restricted"),
    ("split-messages", user("My card is 4111 1111", "1111 1111 please"), "restricted"),
    # names in structured data
    ("json-key", user('Deduplicate: {"id": 4411, "account_holder": "Wilhelmina Achterberg"}'), "confidential"),
    ("csv-column", user("Check these rows:\nname,iban_country\nAurelio Benedetti,IT\n"), "confidential"),
    ("surname-given", user('Rows:\n"VANDERBEEK, Annelies";1200\n"OYELARAN, Tunde";80\n'), "confidential"),
    ("lower-case", user("kunde jörg brandt möchte eine neue pin"), "confidential"),
]
CLEAN = [
    "Beschreibe die Vorteile von Private Banking für Neukunden.",
    "Traduci gli orari della filiale di Borgo San Lorenzo in inglese.",
]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, engine: DetectionEngine) -> Iterator[RunningGateway]:
    with gateway_between(tmp_path_factory.mktemp("forms"), POLICY, engine=engine) as running:
        yield running


@pytest.mark.parametrize(("case", "messages", "level"), CASES, ids=[case[0] for case in CASES])
def test_kept_on_prem_and_nothing_sent_out(
    gateway: RunningGateway, case: str, messages: list[dict[str, str]], level: str
) -> None:
    sent_before, external_before = len(gateway.onprem.requests), len(gateway.external.requests)
    response = gateway.chat({"model": "bank-standard", "messages": messages})
    assert response.status_code == 200, response.text
    assert response.headers["x-gateway-level"] == level, case
    assert response.headers["x-gateway-residency"] == "on_prem", case
    assert len(gateway.onprem.requests) == sent_before + 1
    assert len(gateway.external.requests) == external_before, gateway.external_received()


def test_ordinary_text_goes_out(gateway: RunningGateway) -> None:
    """The control: the external path works, so an external upstream left alone above means kept."""
    external_before = len(gateway.external.requests)
    for text in CLEAN:
        response = gateway.chat({"model": "bank-standard", "messages": user(text)})
        assert response.status_code == 200, response.text
        assert response.headers["x-gateway-level"] == "internal", text
        assert response.headers["x-gateway-residency"] == "external", text
    assert len(gateway.external.requests) == external_before + len(CLEAN)
