"""Text normalization before detection, with a map back to the original text.

Detectors see a canonical form of the text so that obfuscation does not hide
data from them:

- Unicode NFKC: full-width and other compatibility forms become plain ones
  (``４１１１`` -> ``4111``, no-break spaces -> spaces, ``①`` -> ``1``);
- invisible characters are removed: zero-width space/joiners (U+200B..U+200D),
  word joiner (U+2060), BOM (U+FEFF), soft hyphen (U+00AD) and every other
  format (``Cf``) character, e.g. bidi controls;
- decimal digits of any script become ASCII digits (``٤١١١`` -> ``4111``);
- dash and middle-dot look-alikes become ``-`` and ``.``; the ideographic
  zero ``〇`` becomes ``零``, the Han character it stands for, so that
  Chinese numerals read as Chinese (``spelled.py`` reads both as 0);
- lone surrogates (possible in JSON ``\ud800`` escapes) become U+FFFD.

NFKC is applied per *segment* (a character and the combining marks after it),
so every normalized character maps to the segment it came from and a span of
the normalized text maps back to a span of the original with
:meth:`NormalizedText.to_original`. Pure ASCII text is returned as is, with no
map (the common case costs one ``str.isascii`` call).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_FOLD = {
    # dashes and minus signs
    **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2043\u2212\ufe58\ufe63", "-"),
    # middle dots
    **dict.fromkeys("\u00b7\u2027\u30fb", "."),
    # the ideographic zero (a number sign, not a Han letter) as the Han character for zero
    "\u3007": "\u96f6",
}
_NON_ASCII_RUN = re.compile(r"[^\x00-\x7f]+")


@dataclass(frozen=True, slots=True, eq=False)
class NormalizedText:
    """A normalized text and the way back to the text it came from.

    ``starts[i]``/``ends[i]`` are the original span of the segment that
    produced normalized character ``i``; both are ``None`` when the text was
    unchanged.
    """

    original: str
    text: str
    starts: list[int] | None = None
    ends: list[int] | None = None

    @property
    def changed(self) -> bool:
        return self.starts is not None

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """Map a span ``[start, end)`` of ``text`` to a span of ``original``.

        The result covers every original character that produced the span,
        including invisible characters removed inside it.
        """
        if self.starts is None or self.ends is None:
            return start, end
        if not 0 <= start <= end <= len(self.text):
            raise ValueError("span outside the normalized text")
        if start == end:
            position = self.starts[start] if start < len(self.starts) else len(self.original)
            return position, position
        return self.starts[start], self.ends[end - 1]


def _normalize_segment(segment: str) -> str:
    if unicodedata.category(segment[0]) == "Cs":
        return "\ufffd" + _normalize_segment(segment[1:]) if len(segment) > 1 else "\ufffd"
    kept = "".join(
        char
        for char in segment
        if unicodedata.category(char) != "Cf"  # zero-width, bidi, BOM, soft hyphen...
    )
    if not kept:
        return ""
    folded = unicodedata.normalize("NFKC", kept)
    out = []
    for char in folded:
        if char.isascii():
            out.append(char)
        elif char in _FOLD:
            out.append(_FOLD[char])
        elif unicodedata.category(char) == "Nd":
            out.append(str(unicodedata.decimal(char)))
        else:
            out.append(char)
    return "".join(out)


def normalize(text: str) -> NormalizedText:
    """Normalize ``text`` for detection; see the module docstring."""
    if text.isascii():
        return NormalizedText(text, text)
    parts: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    position = 0
    for run in _NON_ASCII_RUN.finditer(text):
        run_start, run_end = run.span()
        # A combining mark belongs to the (possibly ASCII) character before it.
        if run_start > position and unicodedata.combining(text[run_start]):
            run_start -= 1
        if run_start > position:
            parts.append(text[position:run_start])
            starts.extend(range(position, run_start))
            ends.extend(range(position + 1, run_start + 1))
        index = run_start
        while index < run_end:
            segment_end = index + 1
            while segment_end < run_end and unicodedata.combining(text[segment_end]):
                segment_end += 1
            normalized = _normalize_segment(text[index:segment_end])
            parts.append(normalized)
            starts.extend([index] * len(normalized))
            ends.extend([segment_end] * len(normalized))
            index = segment_end
        position = run_end
    if position < len(text):
        parts.append(text[position:])
        starts.extend(range(position, len(text)))
        ends.extend(range(position + 1, len(text) + 1))
    return NormalizedText(text, "".join(parts), starts, ends)
