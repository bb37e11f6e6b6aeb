"""The walker reads every string of what is sent: keys and values, at every depth, every field."""

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.classify import extract_texts
from gateway.outbound import VOCABULARY

CANARY = "4111111111111111"


def test_prose_in_order_then_every_other_field_in_one_text() -> None:
    request = {
        "model": "bank-standard",
        "messages": [
            {"role": "system", "content": "You are a bank assistant."},
            {"role": "user", "content": "Card 4111 1111 1111 1111", "name": "john_smith"},
            {"role": "assistant", "content": [{"type": "refusal", "refusal": "No."}]},
        ],
        "stop": ["END", "STOP HERE"],
        "user": "employee-42",
    }
    texts, unreadable = extract_texts(request, VOCABULARY)
    assert texts[:3] == ["You are a bank assistant.", "Card 4111 1111 1111 1111", "No."]
    assert texts[3].split("\n") == ["bank-standard", "john_smith", "END", "STOP HERE", "employee-42"]
    assert unreadable is False


def test_tool_calls_ids_results_and_schemas_are_read() -> None:
    arguments = json.dumps({"iban": "DE89370400440532013000"})
    request = {
        "messages": [
            {
                "role": "assistant",
                "tool_calls": [
                    {"id": "call_9", "type": "function", "function": {"name": "lookup", "arguments": arguments}}
                ],
            },
            {"role": "tool", "tool_call_id": "call_9", "content": "Owner: John Smith"},
        ],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "pay",
                    "description": "Pay John Smith's invoice",
                    "parameters": {"type": "object", "properties": {"Jane Doe": {"enum": ["DE89370400440532013000"]}}},
                },
            }
        ],
        "logit_bias": {"50256": -100},
        "seed": 4111111111111111,
    }
    texts, unreadable = extract_texts(request, VOCABULARY)
    assert texts[:3] == [arguments, "Owner: John Smith", "Pay John Smith's invoice"]
    fields = texts[3].split("\n")
    for value in ("call_9", "lookup", "pay", "Jane Doe", "DE89370400440532013000", "50256", "-100", CANARY):
        assert value in fields
    assert "properties" not in fields and "function" not in fields  # the wire's own words carry no data
    assert not unreadable


def test_non_text_parts_and_audio_references_make_the_request_unreadable() -> None:
    for part in (
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
        {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}},
        {"type": "file", "file": {"file_id": "file-1"}},
        {"type": "something_new"},
    ):
        request = {"messages": [{"role": "user", "content": [{"type": "text", "text": "look"}, part]}]}
        assert extract_texts(request) == ([], True)
    assert extract_texts({"messages": [{"role": "assistant", "audio": {"id": "audio_1"}}]}) == ([], True)


def test_empty_and_missing_fields() -> None:
    assert extract_texts({}) == ([], False)
    assert extract_texts({"messages": [{"role": "user", "content": ""}]}, VOCABULARY) == ([], False)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(body=st.dictionaries(st.text(max_size=8), _json, max_size=4), where=st.integers(0, 10_000), as_key=st.booleans())
def test_a_string_anywhere_is_read_whether_key_or_value(body: dict, where: int, as_key: bool) -> None:
    """Plant the canary at a random place of random JSON (as a key or as a value): some text carries it."""
    places: list[object] = []

    def collect(node: object) -> None:
        if isinstance(node, dict):
            places.append(node)
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            places.append(node)
            for value in node:
                collect(value)

    collect(body)
    place = places[where % len(places)]
    if isinstance(place, dict):
        place[CANARY if as_key else "x"] = None if as_key else CANARY
    else:
        place.append(CANARY)
    texts, unreadable = extract_texts(body, VOCABULARY)
    assert unreadable or any(CANARY in text for text in texts)
