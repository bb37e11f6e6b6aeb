"""Counting tokens when an upstream reports none: offline, with the model's tokenizer.

Upstream usage reports are the truth and are always preferred. This counter
is for what they leave out: a stream from a server that sends no usage, a
stream the client abandoned before the usage event came, a call cut off by an
error. It never touches the network: the OpenAI encodings (``o200k_base``,
``cl100k_base``) are read from the copies litellm ships inside its wheel
(``litellm/litellm_core_utils/tokenizers``, named as tiktoken caches them),
checked against tiktoken's published SHA-256, and handed to tiktoken's BPE
core, instead of letting tiktoken download them.

Which encoding: the model's own for OpenAI models (``gpt-4o`` → ``o200k_base``,
``gpt-4`` → ``cl100k_base``, as tiktoken maps them); ``cl100k_base`` for every
other model, an approximation that finance sees flagged on the ledger row
(``usage_source = counted``). Open models served in-process report exact
usage from their own tokenizer and never come here.

Chat prompts are counted as OpenAI documents it: 3 tokens per message, 1 per
``name``, 3 to prime the reply, plus the tokens of each message's text.

Counting costs about 0.1 s of CPU per MB of text, so it never runs on the
event loop for long text: callers count in a worker thread (tiktoken releases
the GIL), and a streamed answer is tallied as it arrives (``AnswerTally``):
its text is kept whole only up to ``keep_chars`` (what the answer cache may
store), and beyond ``block_chars`` not yet counted it is counted in a worker
thread, block by block, and let go. What is left for the loop to count at the
end is less than ``block_chars``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import importlib.util
import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import orjson
import tiktoken
from tiktoken.model import encoding_name_for_model

from adapters.base import Usage

log = logging.getLogger("gateway.tokens")

_BASE_URL: Final = "https://openaipublic.blob.core.windows.net/encodings/"
_O200K_PATTERN: Final = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)
_CL100K_PATTERN: Final = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
    r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)
# name -> (pattern, SHA-256 of the rank file as tiktoken publishes it, end-of-text id)
ENCODINGS: Final[Mapping[str, tuple[str, str, int]]] = {
    "o200k_base": (_O200K_PATTERN, "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d", 199999),
    "cl100k_base": (_CL100K_PATTERN, "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7", 100257),
}
FALLBACK_ENCODING: Final = "cl100k_base"
TOKENS_PER_MESSAGE: Final = 3
TOKENS_PER_NAME: Final = 1
REPLY_PRIMING: Final = 3


class TokenizerUnavailable(Exception):
    """The bundled encoding files are missing or do not match their published hash."""


def bundled_dir() -> Path | None:
    """litellm's directory of tiktoken files, found without importing litellm."""
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "litellm_core_utils" / "tokenizers"


def encoding_name(model: str) -> str:
    """The tiktoken encoding for a target's model (``openai/gpt-4o-mini`` or ``gpt-4o-mini``)."""
    bare = model.rsplit("/", 1)[-1]
    try:
        name = encoding_name_for_model(bare)
    except KeyError:
        return FALLBACK_ENCODING
    return name if name in ENCODINGS else FALLBACK_ENCODING


class TokenCounter:
    """Counts tokens offline. Encodings are loaded on first use (a fraction of a
    second, once per encoding per counter); build one per app and share it."""

    def __init__(self, directory: Path | None = None) -> None:
        self._directory = directory if directory is not None else bundled_dir()
        self._encodings: dict[str, tiktoken.Encoding] = {}
        self._warned = False

    def encoding(self, name: str) -> tiktoken.Encoding:
        found = self._encodings.get(name)
        if found is None:
            found = self._encodings[name] = self._load(name)
        return found

    def count_text(self, model: str, text: str) -> int:
        """Tokens of ``text``; without the encoding files (a broken install), about
        four characters a token, logged as an error once."""
        if not text:
            return 0
        try:
            encoding = self.encoding(encoding_name(model))
        except TokenizerUnavailable as exc:
            if not self._warned:
                self._warned = True
                log.error("counting tokens as characters / 4: %s", exc)
            return (len(text) + 3) // 4
        return len(encoding.encode_ordinary(text))

    def count_messages(self, model: str, messages: Sequence[Mapping[str, Any]]) -> int:
        """Prompt tokens of OpenAI chat ``messages``, counted as OpenAI bills them."""
        total = REPLY_PRIMING
        for message in messages:
            total += TOKENS_PER_MESSAGE
            for key, value in message.items():
                total += self.count_text(model, "".join(_texts(value)))
                if key == "name":
                    total += TOKENS_PER_NAME
        return total

    def count_completion(self, model: str, text: str, tool_calls: Iterable[Mapping[str, Any]] = ()) -> int:
        total = self.count_text(model, text)
        for call in tool_calls:
            total += self.count_text(model, "".join(_texts(call.get("function") or {})))
        return total

    def usage(
        self,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        completion: str,
        tool_calls: Iterable[Mapping[str, Any]] = (),
    ) -> Usage:
        """The usage of a call whose upstream reported none: prompt and what was produced."""
        return Usage(
            prompt_tokens=self.count_messages(model, messages),
            completion_tokens=self.count_completion(model, completion, tool_calls),
        )

    def _load(self, name: str) -> tiktoken.Encoding:
        pattern, sha256, end_of_text = ENCODINGS[name]
        if self._directory is None:
            raise TokenizerUnavailable("litellm's bundled tokenizer files are not installed")
        path = self._directory / hashlib.sha1(f"{_BASE_URL}{name}.tiktoken".encode()).hexdigest()
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise TokenizerUnavailable(f"cannot read the {name} encoding: {exc.strerror}") from None
        if hashlib.sha256(data).hexdigest() != sha256:
            raise TokenizerUnavailable(f"the bundled {name} encoding does not match its published hash")
        pairs = (line.split() for line in data.splitlines() if line)
        ranks = {base64.b64decode(token): int(rank) for token, rank in pairs}
        log.debug("loaded the %s encoding from %s", name, path)
        return tiktoken.Encoding(
            name, pat_str=pattern, mergeable_ranks=ranks, special_tokens={"<|endoftext|>": end_of_text}
        )


class AnswerTally:
    """A streamed answer's text, held and counted within bounds (module docstring).

    ``add`` each piece; when ``due``, ``await count_due()`` (a worker thread counts
    the pending text, which is then let go). ``text`` is the whole answer while it
    (its content: tool calls count against ``keep_chars`` but are not in it) is at
    most ``keep_chars`` long, else ``None`` (too long to cache);
    ``counted`` the tokens counted so far, ``pending`` the text not yet counted.
    Counting in blocks may differ from counting the whole by a token per block.
    """

    def __init__(
        self, counter: TokenCounter, model: str, *, keep_chars: int = 1 << 20, block_chars: int = 64 << 10
    ) -> None:
        self._counter = counter
        self._model = model
        self._keep_chars = keep_chars
        self._block_chars = block_chars
        self._kept: list[str] | None = []
        self._kept_chars = 0
        self._pending: list[str] = []
        self._pending_chars = 0
        self.counted = 0

    def add(self, text: str, *, content: bool = True) -> None:
        """Take a piece of the answer: its content, or (``content=False``) text that is only
        counted, such as a tool call's arguments (its whole calls are the caller's to keep)."""
        if self._kept is not None:
            self._kept_chars += len(text)
            if self._kept_chars > self._keep_chars:
                self._kept = None
            elif content:
                self._kept.append(text)
        self._pending.append(text)
        self._pending_chars += len(text)

    @property
    def due(self) -> bool:
        return self._pending_chars >= self._block_chars

    async def count_due(self) -> None:
        block = self.pending
        self._pending, self._pending_chars = [], 0
        self.counted += await asyncio.to_thread(self._counter.count_text, self._model, block)

    @property
    def pending(self) -> str:
        return "".join(self._pending)

    @property
    def text(self) -> str | None:
        return None if self._kept is None else "".join(self._kept)


def _texts(value: Any) -> Iterable[str]:
    """The text inside a message field: strings as they are, content parts' text,
    anything else (tool calls) as compact JSON."""
    if value is None:
        return
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for part in value:
            if isinstance(part, Mapping) and isinstance(part.get("text"), str):
                yield part["text"]
            elif not isinstance(part, Mapping) or part.get("type") not in ("image_url", "input_audio", "file"):
                yield orjson.dumps(part).decode()
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _texts(item)
    else:
        yield str(value)
