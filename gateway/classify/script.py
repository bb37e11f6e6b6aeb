"""Whether our detectors can read a text's script.

The NER models read Latin script; our own recognizers read Latin, Chinese
(Han), Japanese (kana with Han), Korean (Hangul), Greek and Cyrillic: numbers,
e-mails, salutations and titles (``様``, ``님``, ``г-н``...), key names in
structured data (``language.py`` says which language gets what). Text in any
other script (Arabic, Hebrew, Devanagari, Thai, Georgian...) could carry names
and addresses nothing here would find, so the classifier reports it as
``unreadable_language`` and the policy fails closed.

The rule is deliberately strict: one *word* (``UNREADABLE_RUN`` or more
consecutive letters) in an unreadable script is enough, because a name
written in Cyrillic inside an English prompt is exactly what would otherwise
leak; so is a text where ``UNREADABLE_SHARE`` or more of the letters are
such letters inside words (short Japanese, where kana sit between Chinese
characters). Standalone letters (``Δ``, ``β``, ``σ`` in finance and maths)
and symbols, emoji, digits and punctuation of any script do not count.
"""

from __future__ import annotations

import re

UNREADABLE_RUN = 3
UNREADABLE_SHARE = 0.2

_HAN_RANGES = (
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # CJK unified ideographs, ext. A, compatibility
    "\U00020000-\U0003134f"  # CJK extensions B..G
)
_KANA_RANGES = "\u3040-\u30ff\u31f0-\u31ff\uff66-\uff9f"  # hiragana, katakana (+ phonetic ext., half-width)
_HANGUL_RANGES = "\u1100-\u11ff\u3130-\u318f\uac00-\ud7af"  # jamo, compatibility jamo, syllables
_READABLE_LETTERS = (
    "\u0000-\u02af"  # Basic Latin .. IPA extensions
    "\u0370-\u03ff\u1f00-\u1fff"  # Greek and Coptic, Greek extended
    "\u0400-\u052f"  # Cyrillic, Cyrillic supplement
    "\u1e00-\u1eff"  # Latin extended additional (Vietnamese...)
    "\u2c60-\u2c7f\ua720-\ua7ff\uab30-\uab6f"  # Latin extended C, D, E
    "\u3005"  # the ideographic iteration mark (佐々木)
    + _HAN_RANGES
    + _KANA_RANGES
    + _HANGUL_RANGES
)
_UNREADABLE_LETTER = rf"(?![{_READABLE_LETTERS}])[^\W\d_]"
_UNREADABLE_WORD = re.compile(rf"(?:{_UNREADABLE_LETTER}){{{UNREADABLE_RUN},}}")
_UNREADABLE_IN_WORD = re.compile(rf"(?<=[^\W\d_]){_UNREADABLE_LETTER}|{_UNREADABLE_LETTER}(?=[^\W\d_])")
_LETTER = re.compile(r"[^\W\d_]")


def is_readable(text: str) -> bool:
    """True unless ``text`` holds a word in a script our detectors cannot read.

    Expects normalized text (see ``normalize``): compatibility letters such as
    full-width or mathematical Latin have been folded to plain Latin by then.
    """
    if text.isascii():
        return True
    if _UNREADABLE_WORD.search(text) is not None:
        return False
    unreadable = len(_UNREADABLE_IN_WORD.findall(text))
    return unreadable < 2 or unreadable < UNREADABLE_SHARE * len(_LETTER.findall(text))


_HAN = re.compile(f"[{_HAN_RANGES}]")


def has_han(text: str) -> bool:
    """Whether ``text`` holds a Chinese character (patterns for Chinese are skipped without one)."""
    return not text.isascii() and _HAN.search(text) is not None


_KANA = re.compile(f"[{_KANA_RANGES}]")
_HANGUL = re.compile(f"[{_HANGUL_RANGES}]")


def has_kana(text: str) -> bool:
    """Whether ``text`` holds Japanese kana (the Japanese patterns are skipped without)."""
    return not text.isascii() and _KANA.search(text) is not None


def has_hangul(text: str) -> bool:
    """Whether ``text`` holds Korean Hangul."""
    return not text.isascii() and _HANGUL.search(text) is not None
