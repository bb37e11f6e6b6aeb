"""Check-digit algorithms the recognizers validate candidates with.

Pure functions over ASCII strings; callers strip separators first.
"""

from __future__ import annotations

import datetime

# Weights and check characters of GB 11643-1999 (ISO 7064 MOD 11-2).
_CN_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CN_ID_CHECK = "10X98765432"

# First two digits of a resident ID: province-level division codes.
CN_PROVINCE_CODES = frozenset(
    {
        11, 12, 13, 14, 15,
        21, 22, 23,
        31, 32, 33, 34, 35, 36, 37,
        41, 42, 43, 44, 45, 46,
        50, 51, 52, 53, 54,
        61, 62, 63, 64, 65,
        71, 81, 82, 83, 91,
    }
)  # fmt: skip


def luhn_valid(digits: str) -> bool:
    """True if ``digits`` (only 0-9) passes the Luhn check."""
    if not digits.isascii() or not digits.isdigit():
        return False
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def cn_resident_id_check_char(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character for 17 digits."""
    total = sum(int(char) * weight for char, weight in zip(first17, _CN_ID_WEIGHTS, strict=True))
    return _CN_ID_CHECK[total % 11]


def cn_resident_id_valid(candidate: str, *, today: datetime.date | None = None) -> bool:
    """True for an 18-character PRC resident ID with a valid region, birth date and check.

    The birth date must be a real calendar date between 1900-01-01 and today.
    """
    value = candidate.upper()
    if len(value) != 18 or not value[:17].isascii() or not value[:17].isdigit():
        return False
    if int(value[:2]) not in CN_PROVINCE_CODES:
        return False
    try:
        born = datetime.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return False
    if born < datetime.date(1900, 1, 1) or born > (today or datetime.date.today()):
        return False
    return cn_resident_id_check_char(value[:17]) == value[17]


def iban_mod97_valid(iban: str) -> bool:
    """True if an IBAN (upper case, no separators) passes ISO 7064 MOD 97-10."""
    if len(iban) < 5 or not iban.isascii() or not iban.isalnum():
        return False
    rearranged = iban[4:] + iban[:4]
    remainder = 0
    for char in rearranged:
        value = int(char, 36)  # 0-9 -> 0-9, A-Z -> 10-35
        remainder = (remainder * (100 if value > 9 else 10) + value) % 97
    return remainder == 1
