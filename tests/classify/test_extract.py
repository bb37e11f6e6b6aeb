import json

from gateway.classify import extract_texts


def test_every_role_and_string_content() -> None:
    request = {
        "model": "bank-standard",
        "messages": [
            {"role": "system", "content": "You are a bank assistant."},
            {"role": "developer", "content": "Be brief."},
            {"role": "user", "content": "Card 4111 1111 1111 1111", "name": "john_smith"},
            {"role": "assistant", "content": "I cannot help with that."},
        ],
    }
    texts, unscannable = extract_texts(request)
    assert texts == [
        "You are a bank assistant.",
        "Be brief.",
        "john_smith",
        "Card 4111 1111 1111 1111",
        "I cannot help with that.",
    ]
    assert unscannable is False


def test_text_parts_and_refusals() -> None:
    request = {
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "part one"}, {"type": "text", "text": "part two"}]},
            {"role": "assistant", "content": [{"type": "refusal", "refusal": "No."}]},
        ]
    }
    assert extract_texts(request) == (["part one", "part two", "No."], False)


def test_tool_calls_tool_results_and_legacy_function_call() -> None:
    arguments = json.dumps({"iban": "DE89370400440532013000"})
    request = {
        "messages": [
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "lookup_iban", "arguments": arguments}}
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "Owner: John Smith"},
            {
                "role": "assistant",
                "content": None,
                "function_call": {"name": "legacy", "arguments": '{"ssn": "123-45-6789"}'},
            },
            {"role": "function", "name": "legacy", "content": "done"},
        ]
    }
    texts, unscannable = extract_texts(request)
    assert texts == [
        "lookup_iban",
        arguments,
        "Owner: John Smith",
        "legacy",
        '{"ssn": "123-45-6789"}',
        "legacy",
        "done",
    ]
    assert not unscannable


def test_tool_definitions_and_response_format() -> None:
    request = {
        "messages": [{"role": "user", "content": "hi"}],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "pay",
                    "description": "Pay John Smith's invoice",
                    "parameters": {"type": "object", "properties": {"iban": {"enum": ["DE89370400440532013000"]}}},
                },
            }
        ],
        "functions": [{"name": "old_style", "description": "Legacy function"}],
        "tool_choice": {"type": "function", "function": {"name": "pay"}},
        "response_format": {"type": "json_schema", "json_schema": {"name": "out", "schema": {"description": "card"}}},
    }
    texts, unscannable = extract_texts(request)
    assert texts[:3] == ["hi", "pay", "Pay John Smith's invoice"]
    assert any("DE89370400440532013000" in t for t in texts)
    assert "Legacy function" in texts
    assert texts.count("pay") == 2  # definition and tool_choice
    assert any('"description": "card"' in t for t in texts)
    assert not unscannable


def test_non_text_parts_are_unscannable() -> None:
    for part in (
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
        {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}},
        {"type": "file", "file": {"file_id": "file-1"}},
        {"type": "something_new"},
    ):
        request = {"messages": [{"role": "user", "content": [{"type": "text", "text": "look"}, part]}]}
        assert extract_texts(request) == (["look"], True)


def test_audio_reference_and_odd_shapes_are_unscannable() -> None:
    assert extract_texts({"messages": [{"role": "assistant", "audio": {"id": "audio_1"}}]}) == ([], True)
    assert extract_texts({"messages": ["not a message"]}) == ([], True)
    texts, unscannable = extract_texts({"messages": [{"role": "user", "content": {"weird": "Card 4111"}}]})
    assert unscannable and any("Card 4111" in t for t in texts)


def test_empty_and_missing_fields() -> None:
    assert extract_texts({}) == ([], False)
    assert extract_texts({"messages": [{"role": "user", "content": ""}]}) == ([], False)
