"""``gateway/answers.py`` and the adapters' extras, as pure functions: the spec's required fields, legacy shapes."""

from __future__ import annotations

from adapters.base import AnswerExtras, Completion, Usage, join_extras
from adapters.openai_wire import StreamAssembler, parse_completion
from gateway.answers import chunk_body, completion_body
from tests.upstreams.openapi_schema import check

CALLS = [
    {"id": "call_1", "type": "function", "function": {"name": "a", "arguments": "{}"}},
    {"id": "call_2", "type": "function", "function": {"name": "b", "arguments": "{}"}},
]


def test_a_plain_answer_has_refusal_and_logprobs_null_and_validates() -> None:
    body = completion_body("r1", "m", Completion("hi", "stop", Usage(1, 1)))
    check("CreateChatCompletionResponse", body)
    choice = body["choices"][0]
    assert choice["message"]["refusal"] is None and choice["logprobs"] is None
    assert "system_fingerprint" not in body  # a string when present, never null


def test_a_legacy_request_gets_its_first_tool_call_as_function_call() -> None:
    body = completion_body("r1", "m", Completion(None, "tool_calls", Usage(), CALLS), legacy_functions=True)
    check("CreateChatCompletionResponse", body)
    message = body["choices"][0]["message"]
    assert message["function_call"] == {"name": "a", "arguments": "{}"} and "tool_calls" not in message
    assert body["choices"][0]["finish_reason"] == "function_call"


def test_a_legacy_stream_delta_carries_only_the_first_call() -> None:
    delta = {"tool_calls": [{"index": 0, "function": {"arguments": '{"x"'}}, {"index": 1, "id": "call_2"}]}
    chunk = chunk_body("r1", "m", 1, delta=delta, legacy_functions=True)
    check("CreateChatCompletionStreamResponse", chunk)
    assert chunk["choices"][0]["delta"] == {"function_call": {"arguments": '{"x"'}}


def test_stream_extras_are_joined_into_one_answer() -> None:
    pieces = [
        AnswerExtras(refusal="No, ", logprobs={"content": None, "refusal": [{"token": "No"}]}),
        AnswerExtras(refusal="sorry.", system_fingerprint="fp_1"),
    ]
    joined = join_extras(pieces)
    assert joined == AnswerExtras(refusal="No, sorry.", logprobs={"content": None, "refusal": [{"token": "No"}]},
                                  system_fingerprint="fp_1")  # fmt: skip
    assert join_extras([]) is None


def test_an_upstreams_extras_are_read_from_its_body_and_its_chunks() -> None:
    completion = parse_completion({
        "id": "x", "model": "m", "system_fingerprint": "fp_9", "usage": None,
        "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                     "message": {"role": "assistant", "content": None, "refusal": "No.", "reasoning": "because"}}],
    })  # fmt: skip
    assert completion.extras == AnswerExtras(refusal="No.", reasoning_content="because", system_fingerprint="fp_9")
    assembler = StreamAssembler()
    delta = {"tool_calls": [{"index": 0, "id": None, "type": None, "function": {"name": None, "arguments": "{}"}}]}
    chunk = assembler.feed({"id": "x", "choices": [{"index": 0, "delta": delta}], "system_fingerprint": "fp_9"})
    assert chunk is not None and chunk.tool_calls == [{"index": 0, "function": {"arguments": "{}"}}]
    assembler.feed({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    final = assembler.finish()
    assert final.extras is not None and final.extras.system_fingerprint == "fp_9"
