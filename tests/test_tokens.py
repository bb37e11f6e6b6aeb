"""Token counting offline: litellm's bundled encodings, identical to tiktoken's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import tiktoken

from adapters.base import ToolCallParts, merge_tool_call_delta, tool_call_text
from gateway.tokens import AnswerTally, TokenCounter, bundled_dir, encoding_name

SAMPLES = [
    "Hello, world! It's 4111 1111 1111 1111.",
    "Überweisung an DE89 3704 0044 0532 0130 00 — ça va ? 你好，世界。",
    "def f(x):\n    return x ** 2  # <|endoftext|>\n\n\n",
]


@pytest.mark.parametrize("name", ["o200k_base", "cl100k_base"])
def test_encodings_match_tiktoken(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(bundled_dir()))  # tiktoken's own, from the same files
    ours, theirs = TokenCounter().encoding(name), tiktoken.get_encoding(name)
    for text in SAMPLES:
        assert ours.encode_ordinary(text) == theirs.encode_ordinary(text)


def test_model_names_map_to_their_encoding() -> None:
    assert encoding_name("openai/gpt-4o-mini") == "o200k_base"
    assert encoding_name("gpt-4") == "cl100k_base"
    assert encoding_name("anthropic/claude-3-5-sonnet") == "cl100k_base"
    assert encoding_name("meta-llama/Llama-3.1-8B-Instruct") == "cl100k_base"


def test_chat_prompts_are_counted_as_openai_bills_them() -> None:
    counter = TokenCounter()
    # OpenAI reports 8 prompt tokens for a single user message "Hello" on gpt-4o.
    assert counter.count_messages("openai/gpt-4o", [{"role": "user", "content": "Hello"}]) == 8
    usage = counter.usage("gpt-4o", [{"role": "user", "content": "Hello"}], "Hello there")
    assert (usage.prompt_tokens, usage.completion_tokens) == (8, 2)
    parts = [{"role": "user", "content": [{"type": "text", "text": "Hello"}], "name": "ana"}]
    assert counter.count_messages("gpt-4o", parts) > 8


def test_without_the_files_it_falls_back_and_says_so(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    counter = TokenCounter(tmp_path)
    assert counter.count_text("gpt-4o", "12345678") == 2
    assert "counting tokens as characters" in caplog.text


# -- a streamed answer, tallied within bounds ---------------------------------------------------


async def test_an_answer_tally_counts_long_text_in_blocks_and_lets_it_go() -> None:
    counter = TokenCounter()
    pieces = [f"word{i} and some more text, " for i in range(20_000)]  # about 560 KB
    tally = AnswerTally(counter, "gpt-4o", keep_chars=100_000, block_chars=16_384)
    for piece in pieces:
        tally.add(piece)
        if tally.due:
            await tally.count_due()
        assert len(tally.pending) < 16_384 + len(piece)  # what is held beyond the kept part stays small
    assert tally.text is None  # past keep_chars: not kept for the cache
    whole = counter.count_text("gpt-4o", "".join(pieces))
    blocks = tally.counted + counter.count_text("gpt-4o", tally.pending)
    edges = sum(map(len, pieces)) // 16_384 + 1
    assert tally.counted > 0 and abs(blocks - whole) <= edges  # at most a token per block edge


async def test_a_short_answer_is_kept_whole_and_tool_calls_only_counted() -> None:
    tally = AnswerTally(TokenCounter(), "gpt-4o")
    tally.add("Hello ")
    tally.add('{"id": 42}', content=False)
    tally.add("world")
    assert tally.text == "Hello world" and tally.counted == 0 and tally.pending == 'Hello {"id": 42}world'


def test_tool_call_parts_join_like_merged_deltas() -> None:
    deltas = [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "look", "arguments": ""}},
              {"index": 0, "function": {"name": "up", "arguments": '{"id"'}},
              {"index": 1, "id": "call_2", "function": {"name": "other", "arguments": "{}"}},
              {"index": 0, "function": {"arguments": ": 42}"}}]  # fmt: skip
    merged: dict[int, dict[str, Any]] = {}
    parts = ToolCallParts()
    for delta in deltas:
        merge_tool_call_delta(merged, delta)
        parts.add(delta)
    assert parts.calls() == [merged[i] for i in sorted(merged)]
    assert tool_call_text(deltas[1]) == 'up{"id"'
