"""Every string a request sends, for the classifier.

``extract`` walks the body that will leave for a target (its messages and
forwarded parameters, ``gateway/outbound.py``) and returns every string in
it, keys and values at every depth, plus every number (a card number fits in
a ``seed``). Nothing is chosen by field name: a field the walker was never
told about is read like any other. Two kinds of text come out:

- prose, in request order, one text each: the strings under ``content``,
  ``text``, ``refusal``, ``arguments``, ``description`` and ``input`` (message
  contents, text parts, tool-call arguments, tool and schema descriptions,
  embeddings inputs: each input is classified on its own);
- everything else (names, ids, stop sequences, ``user``, ``logit_bias`` keys,
  JSON Schema property names and enum values...), joined by newlines into one
  last text, so that a hundred short fields cost one pass of the NER model.

Each string is also a ``Piece``: where it sits in the body and where it
starts in which text, so a finding can be traced back to its field (the
pseudonymiser replaces values in place). Strings in ``skip`` (the wire
format's own field names and enumerated values, which carry no data) are left
out. A message content part the classifier cannot read (an image, audio, a
file) makes the request unreadable: no texts, ``unreadable`` set, and the
gateway decides the policy's ``on_error``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

PROSE_KEYS = frozenset({"content", "text", "refusal", "arguments", "description", "input"})
READABLE_PARTS = frozenset({"text", "refusal"})

Path = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Piece:
    """One string of the body: at ``path`` (a key: the path of its object, ``is_key`` set), in text
    ``text`` from ``offset``. ``is_string``: false for a number read as its digits."""

    path: Path
    value: str
    text: int
    offset: int
    is_key: bool = False
    is_string: bool = True


@dataclass(slots=True)
class Extracted:
    texts: list[str] = field(default_factory=list)
    pieces: list[Piece] = field(default_factory=list)
    unreadable: bool = False


class _Unreadable(Exception):
    pass


def extract(body: Mapping[str, Any], skip: frozenset[str] = frozenset()) -> Extracted:
    """Texts and pieces of a request body (see the module docstring)."""
    prose: list[tuple[Path, str]] = []
    fields: list[tuple[Path, str, bool, bool]] = []  # path, value, is_key, is_string

    def walk(value: Any, key: str | None, path: Path) -> None:
        if isinstance(value, str):
            if not value:
                return
            if key in PROSE_KEYS:
                prose.append((path, value))
            elif value not in skip:
                fields.append((path, value, False, True))
        elif isinstance(value, Mapping):
            if key == "content_part" and value.get("type") not in READABLE_PARTS:
                raise _Unreadable
            for name, item in value.items():
                name = str(name)
                if name not in skip:
                    fields.append((path, name, True, True))
                if name == "audio" and key == "message" and item is not None:
                    raise _Unreadable  # a reference to earlier audio
                walk(item, name, (*path, name))
        elif isinstance(value, list | tuple):
            inner = "message" if key == "messages" else "content_part" if key == "content" else key
            for i, item in enumerate(value):
                walk(item, inner, (*path, i))
        elif isinstance(value, bool) or value is None:
            return
        else:  # a number (or anything else not JSON): read what it says of itself
            fields.append((path, str(value), False, False))

    try:
        walk(body, None, ())
    except _Unreadable:
        return Extracted(unreadable=True)
    out = Extracted()
    for path, value in prose:
        out.pieces.append(Piece(path, value, len(out.texts), 0))
        out.texts.append(value)
    if fields:
        offset, joined = 0, len(out.texts)
        for path, value, is_key, is_string in fields:
            out.pieces.append(Piece(path, value, joined, offset, is_key, is_string))
            offset += len(value) + 1
        out.texts.append("\n".join(value for _, value, _, _ in fields))
    return out


def extract_texts(body: Mapping[str, Any], skip: frozenset[str] = frozenset()) -> tuple[list[str], bool]:
    """``(texts, unreadable)`` for a request body (see the module docstring)."""
    found = extract(body, skip)
    return found.texts, found.unreadable
