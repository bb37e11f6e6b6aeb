"""Text in and out of the model: chat messages for the template, token ids back into text."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from adapters.transformers_local.options import bad_request


def template_message(message: Mapping[str, Any]) -> dict[str, str]:
    """An OpenAI message as the plain ``{role, content}`` a chat template expects."""
    role = str(message.get("role") or "user")
    content = message.get("content")
    if content is None:
        text = ""
    elif isinstance(content, str):
        text = content
    elif isinstance(content, list):
        parts = []
        for part in content:
            if not isinstance(part, Mapping) or part.get("type") != "text":
                raise bad_request("the local model accepts text content only")
            parts.append(str(part.get("text") or ""))
        text = "\n".join(parts)
    else:
        raise bad_request("message content must be a string or a list of parts")
    return {"role": "system" if role == "developer" else role, "content": text}


def encode_chat(tokenizer: Any, messages: list[dict[str, Any]]) -> list[int]:
    """The prompt's token ids: ``messages`` rendered with the model's own chat template."""
    conversation = [template_message(message) for message in messages]
    try:
        ids = tokenizer.apply_chat_template(conversation, add_generation_prompt=True, tokenize=True, return_dict=False)
    except Exception as exc:  # jinja2 raises from inside the model's template
        raise bad_request(f"the local model's chat template refused the messages ({type(exc).__name__})") from exc
    return list(ids)


class TextStream:
    """Turns generated token ids into text deltas, holding back what is not final yet.

    Text is held back while it ends in an incomplete UTF-8 sequence (a token can
    carry half a character) and while it could be the start of a stop string.
    ``push`` returns the new final text and whether a stop string was reached;
    the stop string and anything after it are never returned.
    """

    def __init__(self, tokenizer: Any, context_ids: Iterable[int], stop: tuple[str, ...]) -> None:
        self._tokenizer = tokenizer
        self._ids = list(context_ids)
        self._prefix = 0  # ids[prefix:read] were already turned into text
        self._read = len(self._ids)
        self._stop = stop
        self._held = ""

    def push(self, token_id: int) -> tuple[str, bool]:
        self._ids.append(token_id)
        seen = self._decode(self._ids[self._prefix : self._read])
        text = self._decode(self._ids[self._prefix :])
        if len(text) <= len(seen) or text.endswith("\ufffd"):
            return "", False
        self._prefix, self._read = self._read, len(self._ids)
        return self._screen(text[len(seen) :])

    def flush(self) -> tuple[str, bool]:
        """The rest of the text at the end of generation, incomplete characters included."""
        tail = ""
        if self._read < len(self._ids):
            seen = self._decode(self._ids[self._prefix : self._read])
            tail = self._decode(self._ids[self._prefix :])[len(seen) :]
            self._prefix = self._read = len(self._ids)
        text, hit = self._screen(tail)
        if hit:
            return text, True
        text, self._held = text + self._held, ""
        return text, False

    def _decode(self, ids: list[int]) -> str:
        text: str = self._tokenizer.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)
        return text

    def _screen(self, delta: str) -> tuple[str, bool]:
        text = self._held + delta
        if not self._stop:
            return text, False
        hits = [i for i in (text.find(s) for s in self._stop) if i >= 0]
        if hits:
            self._held = ""
            return text[: min(hits)], True
        keep = 0
        for stop in self._stop:
            for size in range(min(len(stop) - 1, len(text)), keep, -1):
                if text.endswith(stop[:size]):
                    keep = size
                    break
        self._held = text[len(text) - keep :]
        return text[: len(text) - keep], False
