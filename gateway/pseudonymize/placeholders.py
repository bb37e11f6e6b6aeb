"""Placeholders derived from the values they stand for, and the vault that takes them back.

A placeholder is typed and numbered, ``<PERSON_482913>``: a model reads it as
a person and keeps it apart from ``<PERSON_730154>``. The number is an HMAC of
the scope (the team), the entity type and the value (case and spacing folded),
under ``GATEWAY_PSEUDONYM_SECRET``: the same value gets the same placeholder
in every turn of a conversation, on every replica, with no mapping stored
anywhere. Without the secret each process draws one at start (placeholders then
hold within a process only: set it for replicas). In the rare case that two
values of one request fall on the same number, the later one takes the next
free number, so placeholders never collide within a request.

``Vault`` holds one request's placeholders and the values they replaced, in
memory, for the time of the request. It never prints its contents.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from gateway.config import ConfigError

SECRET_ENV = "GATEWAY_PSEUDONYM_SECRET"
MIN_SECRET_CHARS = 32
_SPAN = 900_000  # six-digit numbers: 100000-999999


@dataclass(frozen=True, slots=True, repr=False)
class PseudonymKey:
    secret: bytes
    ephemeral: bool

    def __repr__(self) -> str:  # never print key material
        return f"PseudonymKey(ephemeral={self.ephemeral})"

    @classmethod
    def random(cls) -> PseudonymKey:
        return cls(secrets.token_bytes(32), ephemeral=True)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> PseudonymKey:
        secret = environ.get(SECRET_ENV, "")
        if not secret:
            return cls.random()
        if len(secret) < MIN_SECRET_CHARS:
            raise ConfigError(f"{SECRET_ENV} must be at least {MIN_SECRET_CHARS} characters")
        return cls(secret.encode(), ephemeral=False)

    def number(self, scope: str, entity_type: str, value: str) -> int:
        message = "\x00".join((scope, entity_type, _fold(value))).encode()
        digest = hmac.new(self.secret, message, hashlib.sha256).digest()
        return 100_000 + int.from_bytes(digest[:8], "big") % _SPAN


def _ascii_word(char: str) -> bool:
    return char.isascii() and (char.isalnum() or char == "_")


def _unspaced(value: str) -> bool:
    """Letters of a script written without spaces between words (Han, kana, Hangul)."""
    return any("\u3040" <= c <= "\u30ff" or "\u3400" <= c <= "\u9fff" or "\uac00" <= c <= "\ud7af" for c in value)


def _fold(value: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", value).casefold().split())


class Vault:
    """One request's placeholders (``PERSON_482913``, without brackets) and the values behind them."""

    __slots__ = ("_by_value", "_key", "_scope", "_values")

    def __init__(self, key: PseudonymKey, scope: str) -> None:
        self._key, self._scope = key, scope
        self._values: dict[str, str] = {}
        self._by_value: dict[tuple[str, str], str] = {}

    def __repr__(self) -> str:  # never print values
        return f"Vault({len(self._values)} placeholders)"

    def __len__(self) -> int:
        return len(self._values)

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def placeholder(self, entity_type: str, value: str) -> str:
        """``<TYPE_NNNNNN>`` for ``value``: the same for the same value, never another value's."""
        folded = (entity_type, _fold(value))
        known = self._by_value.get(folded)
        if known is not None:
            return f"<{known}>"
        number = self._key.number(self._scope, entity_type, value)
        while (name := f"{entity_type}_{number}") in self._values:
            number = 100_000 + (number - 99_999) % _SPAN
        self._values[name] = value
        self._by_value[folded] = name
        return f"<{name}>"

    def label_of(self, text: str) -> str | None:
        """The placeholder of a value already in the vault, matched case- and space-insensitively."""
        folded = _fold(text)
        name = next((n for (_, v), n in self._by_value.items() if v == folded), None)
        return f"<{name}>" if name is not None else None

    def pattern(self, min_chars: int = 3) -> re.Pattern[str] | None:
        """Any of the vault's values, longest first, never inside a longer Latin word; ``None`` when empty.

        Values shorter than ``min_chars`` are left out, except those with letters of scripts written without
        spaces (a Chinese name is two characters)."""
        values = sorted(
            {v for v in self._values.values() if len(v.strip()) >= min_chars or _unspaced(v)}, key=len, reverse=True
        )
        if not values:
            return None
        alternatives = "|".join(
            (r"(?<!\w)" if _ascii_word(v[0]) else "")
            + r"\s+".join(map(re.escape, v.split()))
            + (r"(?!\w)" if _ascii_word(v[-1]) else "")
            for v in values
        )
        return re.compile(alternatives, re.IGNORECASE)

    def value(self, name: str) -> str | None:
        """The value behind ``TYPE_NNNNNN`` (any case), or ``None`` for a placeholder this request never made."""
        return self._values.get(name.upper())

    def could_start(self, fragment: str) -> bool:
        """Whether some placeholder of this request begins with ``fragment`` (any case, no brackets)."""
        upper = fragment.upper()
        return any(name.startswith(upper) for name in self._values)

    def types(self) -> dict[str, int]:
        """How many values of each entity type were replaced (for the record: counts, never values)."""
        counts: dict[str, int] = {}
        for name in self._values:
            entity = name.rsplit("_", 1)[0]
            counts[entity] = counts.get(entity, 0) + 1
        return counts
