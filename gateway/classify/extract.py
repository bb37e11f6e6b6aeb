"""Every string a request sends, for the classifier.

``extract_texts`` walks the body that will leave for a target (its messages
and forwarded parameters, ``gateway/outbound.py``) and returns every string in
it, keys and values at every depth, plus every number (a card number fits in
a ``seed``). Nothing is chosen by field name: a field the walker was never
told about is read like any other. Two kinds of text come out:

- prose, in request order, one text each: the strings under ``content``,
  ``text``, ``refusal``, ``arguments`` and ``description`` (message contents,
  text parts, tool-call arguments, tool and schema descriptions);
- everything else (names, ids, stop sequences, ``user``, ``logit_bias`` keys,
  JSON Schema property names and enum values...), joined by newlines into one
  last text, so that a hundred short fields cost one pass of the NER model.

Strings in ``skip`` (the wire format's own field names and enumerated values,
which carry no data) are left out. A message content part the classifier
cannot read (an image, audio, a file) makes the request unreadable: the
answer is ``([], True)`` and the gateway decides the policy's ``on_error``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

PROSE_KEYS = frozenset({"content", "text", "refusal", "arguments", "description"})
READABLE_PARTS = frozenset({"text", "refusal"})


class _Unreadable(Exception):
    pass


def extract_texts(body: Mapping[str, Any], skip: frozenset[str] = frozenset()) -> tuple[list[str], bool]:
    """``(texts, unreadable)`` for a request body (see the module docstring)."""
    prose: list[str] = []
    fields: list[str] = []

    def walk(value: Any, key: str | None) -> None:
        if isinstance(value, str):
            if not value:
                return
            if key in PROSE_KEYS:
                prose.append(value)
            elif value not in skip:
                fields.append(value)
        elif isinstance(value, Mapping):
            if key == "content_part" and value.get("type") not in READABLE_PARTS:
                raise _Unreadable
            for name, item in value.items():
                name = str(name)
                if name not in skip:
                    fields.append(name)
                if name == "audio" and key == "message" and item is not None:
                    raise _Unreadable  # a reference to earlier audio
                walk(item, name)
        elif isinstance(value, list | tuple):
            inner = "message" if key == "messages" else "content_part" if key == "content" else key
            for item in value:
                walk(item, inner)
        elif isinstance(value, bool) or value is None:
            return
        elif isinstance(value, int | float):
            fields.append(str(value))
        else:  # not JSON: read what it says of itself
            fields.append(str(value))

    try:
        walk(body, None)
    except _Unreadable:
        return [], True
    if fields:
        prose.append("\n".join(fields))
    return prose, False
