"""Token counting offline: litellm's bundled encodings, identical to tiktoken's."""

from __future__ import annotations

from pathlib import Path

import pytest
import tiktoken

from gateway.tokens import TokenCounter, bundled_dir, encoding_name

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
