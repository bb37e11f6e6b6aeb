"""Placeholders back to the values they replaced, in a whole answer or a stream.

A model does not always copy a placeholder exactly: it may change its case
(``<person_482913>``), drop or swap its brackets (``PERSON_482913``,
``[PERSON_482913]``), or put spaces inside the brackets. All of these are
restored. A placeholder this request never made (the model invented one) is
left as it is. In JSON mode (tool-call arguments, a JSON string's inside) the
value is written JSON-escaped.

``StreamRestorer`` restores a stream chunk by chunk: the end of a chunk that
could be the start of one of this request's placeholders is held back until
the next chunk completes or breaks it, so the stream stays a stream and a
placeholder split across chunks is still restored.
"""

from __future__ import annotations

import json
import re

from gateway.pseudonymize.placeholders import Vault

_PLACEHOLDER = re.compile(
    r"(?:<\s*|\[\s*)?\b([A-Za-z][A-Za-z_]*_[0-9]{6})\b(?:\s*>|\s*\])?"
)
_MAX_HELD = 64  # longer than any placeholder with its brackets and spaces
_OPENING = re.compile(r"(?:<|\[)?\s*[A-Za-z_0-9]*\Z")


def restore(text: str, vault: Vault, *, json_string: bool = False) -> str:
    """``text`` with each of ``vault``'s placeholders replaced by its value."""
    if not len(vault) or not text:
        return text

    def value_of(match: re.Match[str]) -> str:
        value = vault.value(match.group(1))
        if value is None:
            return match.group(0)
        return json.dumps(value, ensure_ascii=False)[1:-1] if json_string else value

    return _PLACEHOLDER.sub(value_of, text)


class StreamRestorer:
    """Restores one stream of text (a message's content, or one tool call's arguments)."""

    __slots__ = ("_held", "_json", "_vault")

    def __init__(self, vault: Vault, *, json_string: bool = False) -> None:
        self._vault, self._json, self._held = vault, json_string, ""

    def feed(self, chunk: str) -> str:
        """What can be sent of ``chunk`` now, restored; a possible placeholder's start is kept back."""
        text = self._held + chunk
        cut = self._hold_from(text)
        self._held = text[cut:]
        return restore(text[:cut], self._vault, json_string=self._json)

    def flush(self) -> str:
        """The rest, at the end of the stream."""
        text, self._held = self._held, ""
        return restore(text, self._vault, json_string=self._json)

    def _hold_from(self, text: str) -> int:
        """Where the possibly unfinished placeholder at the end of ``text`` starts (``len(text)``: none)."""
        if not len(self._vault):
            return len(text)
        tail = _OPENING.search(text, max(0, len(text) - _MAX_HELD))
        if tail is None:
            return len(text)
        start = tail.start()
        # The candidate may start inside a longer word: only a word start can begin a placeholder.
        while start < len(text) and not self._could_begin(text, start):
            start += 1
        return start

    def _could_begin(self, text: str, start: int) -> bool:
        if start > 0 and text[start - 1].isalnum() and text[start] not in "<[":
            return False
        fragment = text[start:].lstrip("<[").lstrip()
        if not fragment:
            return text[start] in "<[" or (text[start].isspace() and start > 0 and text[start - 1] in "<[")
        # ``PERSON_4829`` may still become ``PERSON_482913``; ``PERSON_482913`` may still get its ``>``.
        return self._vault.could_start(fragment) and len(fragment) <= _MAX_HELD
