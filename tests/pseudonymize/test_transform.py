"""The transform replaces every finding of the chosen types in every field, with the real classifier."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator

import pytest

from gateway.classify import PresidioClassifier
from gateway.classify.base import Detection
from gateway.classify.engine import DetectionEngine
from gateway.classify.extract import Extracted, Piece
from gateway.outbound import Outbound
from gateway.protocol import ChatCompletionRequest
from gateway.pseudonymize import PseudonymKey, pseudonymize, restore

KEY = PseudonymKey(b"k" * 32, ephemeral=False)
TYPES = frozenset({"PERSON", "EMAIL_ADDRESS", "PHONE_NUMBER"})
NAME, EMAIL = "Margarethe Vollenweider", "margarethe.vollenweider@example.org"


@pytest.fixture(scope="module")
def classifier() -> Iterator[PresidioClassifier]:
    c = PresidioClassifier(engine=DetectionEngine(), timeout_s=30)
    yield c
    c.close()


def _request() -> ChatCompletionRequest:
    arguments = json.dumps({"recipient": NAME, "email": EMAIL})
    return ChatCompletionRequest.model_validate({
        "model": "m",
        "messages": [
            {"role": "system", "content": f"You help {NAME}'s relationship manager."},
            {"role": "user", "content": [{"type": "text", "text": f"Reply to {NAME} <{EMAIL}> about her fee."}]},
            {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function",
                                                   "function": {"name": "send", "arguments": arguments}}]},
            {"role": "tool", "tool_call_id": "c1", "content": f"Sent to {EMAIL}."},
        ],
        "tools": [{"type": "function", "function": {"name": "send", "description": f"Send mail for {NAME}.",
                                                     "parameters": {"type": "object"}}}],
    })  # fmt: skip


async def test_every_value_of_the_chosen_types_is_replaced_everywhere(classifier: PresidioClassifier) -> None:
    outbound = Outbound.of(_request())
    before = copy.deepcopy((outbound.messages, outbound.params))
    extracted = outbound.extract()
    found = await classifier.classify(extracted.texts, entities=TYPES)
    assert {"PERSON", "EMAIL_ADDRESS"} <= found.entity_types
    result = pseudonymize(outbound, extracted, found.detections, TYPES, KEY, "team-a")

    sent = json.dumps([result.outbound.messages, result.outbound.params], ensure_ascii=False)
    assert NAME not in sent and "Vollenweider" not in sent and EMAIL not in sent
    assert (outbound.messages, outbound.params) == before  # the original is untouched
    assert result.outbound.carries(result.outbound.call(deadline_s=1, request_id=""))
    person = next(p for p in result.vault if p.startswith("PERSON_"))
    # system, user part, tool-call arguments (which the detector missed: every occurrence goes), tool description
    assert sent.count(f"<{person}>") == 4
    assert result.counts == {"PERSON": 1, "EMAIL_ADDRESS": 1}
    residual = await classifier.classify(result.outbound.texts()[0], entities=TYPES)
    assert not residual.entity_types & TYPES

    args = result.outbound.messages[2]["tool_calls"][0]["function"]["arguments"]
    assert json.loads(restore(args, result.vault, json_string=True)) == {"recipient": NAME, "email": EMAIL}


async def test_placeholders_hold_across_the_turns_of_a_conversation(classifier: PresidioClassifier) -> None:
    history: list[dict[str, str]] = []
    seen: dict[str, str] = {}
    for turn in range(5):
        history.append({"role": "user", "content": f"Please write to {NAME} ({EMAIL}) about point {turn}."})
        outbound = Outbound.of(ChatCompletionRequest(model="m", messages=history))
        extracted = outbound.extract()
        found = await classifier.classify(extracted.texts, entities=TYPES)
        result = pseudonymize(outbound, extracted, found.detections, TYPES, KEY, "team-a")
        for name in result.vault:
            assert seen.setdefault(name[:6], name) == name, "a value changed placeholder between turns"
        history.append({"role": "assistant", "content": restore(f"Done for <{seen['PERSON']}>.", result.vault)})
    assert history[-1]["content"] == f"Done for {NAME}."


def test_a_key_and_a_value_deep_in_a_schema_are_replaced() -> None:
    request = ChatCompletionRequest.model_validate({"model": "m", "messages": [{"role": "user", "content": "hi"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "out", "schema": {
            "type": "object", "properties": {"Jane Roe": {"enum": ["Jane Roe"]}}}}}})  # fmt: skip
    outbound = Outbound.of(request)
    extracted = outbound.extract()
    fields = extracted.texts[-1]
    pieces = [p for p in extracted.pieces if p.value == "Jane Roe"]
    assert len(pieces) == 2 and {p.is_key for p in pieces} == {True, False}
    detections = [Detection("PERSON", 0.9, p.offset, p.offset + 8, text_index=p.text) for p in pieces]
    result = pseudonymize(outbound, extracted, detections, TYPES, KEY, "t")
    schema = result.outbound.params["response_format"]["json_schema"]["schema"]
    (label,) = schema["properties"]
    assert label.startswith("<PERSON_") and schema["properties"][label] == {"enum": [label]}
    assert fields.count("Jane Roe") == 2


def test_a_finding_across_two_fields_or_in_a_number_stays_for_the_residual_check() -> None:
    outbound = Outbound.of(ChatCompletionRequest(model="m", messages=[{"role": "user", "content": "x"}],
                                                 stop=["Jane", "Roe"], seed=5551234))  # fmt: skip
    extracted = Extracted(texts=["Jane\nRoe\n5551234"], pieces=[
        Piece(("stop", 0), "Jane", 0, 0), Piece(("stop", 1), "Roe", 0, 5),
        Piece(("seed",), "5551234", 0, 9, is_string=False)])  # fmt: skip
    detections = [Detection("PERSON", 0.9, 0, 8), Detection("PHONE_NUMBER", 0.9, 9, 16)]
    result = pseudonymize(outbound, extracted, detections, TYPES, KEY, "t")
    assert result.outbound is outbound and not len(result.vault)
