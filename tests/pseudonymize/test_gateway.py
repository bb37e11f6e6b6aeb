"""Pseudonymisation through a running gateway, at real loopback upstreams that echo what they get.

The external upstream records every request and answers with the text of the
last message it received (placeholders included), streamed in three-character
pieces so that chunk boundaries fall inside placeholders. Nothing detected may
reach it; every answer must come back with the original values.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from collections.abc import Iterator

import httpx
import openai
import orjson
import pytest

from tests.upstreams.gateway_between import RunningGateway, gateway_between

NAME, EMAIL, CARD = "Margarethe Vollenweider", "margarethe.vollenweider@example.org", "4539 1488 0343 6467"
PROMPT = f"Please draft a short reply to {NAME} ({EMAIL}) about the fee on her account."

POLICY = """
version: 1
name: pseudonymise
levels: [public, internal, confidential, restricted]
classification:
  default_level: internal
  on_error: restricted
  entities: {{CREDIT_CARD: restricted, PERSON: confidential, EMAIL_ADDRESS: confidential,
              PHONE_NUMBER: confidential}}
targets:
  strong:
    kind: openai_compatible
    api_base: {external}
    model: strong-model
    api_key_env: LOOPBACK_UPSTREAM_KEY
    residency: external
    max_level: internal
  strong-litellm:
    kind: litellm
    model: openai/strong-model
    api_base: {external}
    api_key_env: LOOPBACK_UPSTREAM_KEY
    residency: external
    max_level: internal
  onprem:
    kind: openai_compatible
    api_base: {onprem}
    model: onprem-model
    api_key_env: LOOPBACK_UPSTREAM_KEY
    residency: on_prem
models:
  bank-premium: {{tier: premium}}
  bank-lite: {{tier: lite}}
  external-only: {{tier: external}}
routes:
  - name: external-only
    when: {{tier: external, level_at_least: confidential}}
    targets: [strong]
    transform: pseudonymize
  - name: premium-pseudonymised
    when: {{tier: premium, level_at_least: confidential}}
    targets: [strong, onprem]
    transform: pseudonymize
  - name: lite-pseudonymised
    when: {{tier: lite, level_at_least: confidential}}
    targets: [strong-litellm, onprem]
    transform: {{pseudonymize: [PERSON, EMAIL_ADDRESS]}}
  - name: default
    targets: [strong]
"""


def _external_saw(gateway: RunningGateway, *values: str) -> list[str]:
    seen = gateway.external_received().lower()
    return [v for v in values if v.lower() in seen]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    with gateway_between(tmp_path_factory.mktemp("pseudonymise"), POLICY, team="advisers",
                         env={"GATEWAY_PSEUDONYM_SECRET": "p" * 40}) as gw:  # fmt: skip
        yield gw


@pytest.fixture(autouse=True)
def _fresh(gateway: RunningGateway) -> None:
    for upstream in (gateway.external, gateway.onprem):
        upstream.reset()
        upstream.echo(3)


def _sse_text(response: httpx.Response) -> str:
    text = []
    for line in response.text.splitlines():
        if line.startswith("data: {"):
            for choice in json.loads(line[6:]).get("choices", []):
                text.append(choice["delta"].get("content") or "")
    return "".join(text)


@pytest.mark.parametrize("model", ["bank-premium", "bank-lite"])
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_a_confidential_request_goes_out_pseudonymised_and_comes_back_whole(
    gateway: RunningGateway, model: str, stream: bool
) -> None:
    response = gateway.chat({"model": model, "stream": stream, "messages": [{"role": "user", "content": PROMPT}]})
    assert response.status_code == 200, response.text
    assert response.headers["x-gateway-residency"] == "external"
    assert response.headers["x-gateway-level"] == "confidential"
    assert response.headers["x-gateway-transform"] == "pseudonymize; EMAIL_ADDRESS=1, PERSON=1"
    assert _external_saw(gateway, NAME, "Vollenweider", EMAIL) == []
    sent = gateway.external.chat_requests[-1].body["messages"][-1]["content"]
    assert re.search(r"<PERSON_\d{6}>", sent) and re.search(r"<EMAIL_ADDRESS_\d{6}>", sent)
    answer = _sse_text(response) if stream else response.json()["choices"][0]["message"]["content"]
    assert answer == PROMPT


def test_a_restricted_value_never_leaves_even_pseudonymised(gateway: RunningGateway) -> None:
    prompt = f"{PROMPT} Her card {CARD} was declined."
    kept = gateway.chat({"model": "bank-lite", "messages": [{"role": "user", "content": prompt}]})
    assert kept.status_code == 200 and kept.headers["x-gateway-residency"] == "on_prem"
    assert kept.headers["x-gateway-level"] == "restricted" and "x-gateway-transform" not in kept.headers
    refused = gateway.chat({"model": "external-only", "messages": [{"role": "user", "content": prompt}]})
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "no_target_available"
    assert gateway.external.chat_requests == []


def test_tool_definitions_and_tool_call_arguments_round_trip(gateway: RunningGateway) -> None:
    body = {
        "model": "bank-premium",
        "messages": [
            {"role": "user", "content": f"Please send the fee schedule to {NAME}."},
            {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function", "function": {
                "name": "send_mail", "arguments": json.dumps({"to": NAME, "email": EMAIL})}}]},
            {"role": "tool", "tool_call_id": "c1", "content": f"Mail sent to {EMAIL}."},
        ],
        "tools": [{"type": "function", "function": {"name": "send_mail", "description": f"Mail {NAME}.",
                                                     "parameters": {"type": "object"}}}],
    }  # fmt: skip
    gateway.external.echo(None)
    first = gateway.chat(body)
    assert first.status_code == 200 and _external_saw(gateway, NAME, EMAIL) == []
    received = gateway.external.chat_requests[-1].body
    person = re.search(r"<PERSON_\d{6}>", received["tools"][0]["function"]["description"]).group(0)
    assert json.loads(received["messages"][1]["tool_calls"][0]["function"]["arguments"])["to"] == person
    # The model answers with a tool call that uses the placeholder: the client gets the name.
    arguments = json.dumps({"to": person, "note": f"Dear {person.lower()}"})
    gateway.external.set_reply("", tool_calls=[{"id": "c2", "type": "function",
                                                 "function": {"name": "send_mail", "arguments": arguments}}])
    for stream in (False, True):
        answer = gateway.chat({**body, "stream": stream})
        assert answer.status_code == 200
        if stream:
            parts = [json.loads(line[6:]) for line in answer.text.splitlines() if line.startswith("data: {")]
            got = "".join(d["function"].get("arguments", "") for p in parts for c in p["choices"]
                          for d in c["delta"].get("tool_calls") or [])  # fmt: skip
        else:
            got = answer.json()["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]
        assert json.loads(got) == {"to": NAME, "note": f"Dear {NAME}"}


def test_a_conversation_keeps_its_placeholders_turn_after_turn(gateway: RunningGateway) -> None:
    history: list[dict[str, str]] = []
    placeholders = set()
    for turn in range(5):
        history.append({"role": "user", "content": f"Turn {turn}: please write to {NAME} ({EMAIL}) again."})
        response = gateway.chat({"model": "bank-premium", "messages": history})
        assert response.status_code == 200 and response.headers["x-gateway-residency"] == "external"
        history.append({"role": "assistant", "content": response.json()["choices"][0]["message"]["content"]})
        sent = orjson.dumps(gateway.external.chat_requests[-1].body).decode()
        placeholders |= set(re.findall(r"<(?:PERSON|EMAIL_ADDRESS)_\d{6}>", sent))
    assert len(placeholders) == 2  # one for the name, one for the address, in all five turns
    assert _external_saw(gateway, NAME, EMAIL) == []


def test_the_openai_client_sees_the_original_names_and_the_headers(gateway: RunningGateway) -> None:
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=gateway.key, max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="bank-premium", messages=[{"role": "user", "content": PROMPT}]
    )
    assert raw.headers["x-gateway-transform"].startswith("pseudonymize;")
    assert raw.parse().choices[0].message.content == PROMPT
    stream = client.chat.completions.create(
        model="bank-premium", messages=[{"role": "user", "content": PROMPT}], stream=True
    )
    assert "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices) == PROMPT
    assert _external_saw(gateway, NAME, EMAIL) == []


def test_the_ledger_and_the_audit_trail_record_the_transform_never_the_values(gateway: RunningGateway) -> None:
    response = gateway.chat({"model": "bank-premium", "messages": [{"role": "user", "content": PROMPT}]})
    request_id = response.headers["x-request-id"]
    deadline = time.monotonic() + 20
    while True:  # the writers batch off the request path
        with sqlite3.connect(gateway.database) as db:
            row = db.execute("SELECT transform, residency FROM ledger WHERE request_id = ?", (request_id,)).fetchone()
            audit = db.execute("SELECT body FROM audit_log WHERE request_id = ?", (request_id,)).fetchone()
        if (row and audit) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert row == ("pseudonymize:EMAIL_ADDRESS=1,PERSON=1", "external")
    assert json.loads(audit[0])["transform"] == "pseudonymize:EMAIL_ADDRESS=1,PERSON=1"
    with sqlite3.connect(gateway.database) as db:
        everything = " ".join(str(v) for r in db.execute("SELECT * FROM ledger") for v in r)
        everything += " ".join(str(v) for r in db.execute("SELECT body FROM audit_log") for v in r)
    assert NAME not in everything and EMAIL not in everything and "Vollenweider" not in everything
