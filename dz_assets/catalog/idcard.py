"""Resident ID numbers (公民身份号码) of GB 11643-1999: 6-digit region, 8-digit birth date,
3-digit order code (odd for men, even for women) and an ISO 7064 MOD 11-2 check character.

The one statement of the standard in dz-hub: the synthetic city generates numbers with
:func:`make_id`, and the package checks' vectorised quality flags (``province/quality.py``) take
their constants from here, so the generator and the checks agree on what a valid number is.
"""

from __future__ import annotations

import re
from datetime import date

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = "10X98765432"  # indexed by the weighted sum mod 11
EARLIEST_BIRTH_YEAR = 1890  # an older birth date is taken as a data error
PATTERN = re.compile(r"[0-9]{17}[0-9Xx]")


def check_digit(first17: str) -> str:
    """The check character (``0``–``9`` or ``X``) for the first 17 digits."""
    if len(first17) != 17 or not first17.isdigit():
        raise ValueError(f"need 17 digits, got {first17!r}")
    total = sum(int(c) * w for c, w in zip(first17, WEIGHTS, strict=True))
    return CHECK_CHARS[total % 11]


def make_id(region: str, birth: date | str, seq: int, sex: str | None = None) -> str:
    """An ID number. ``seq`` is the 3-digit order code (0–999); with ``sex`` ``1`` (male) or
    ``2`` (female) its parity is forced to match (odd = male), as GB 11643 requires."""
    b = birth if isinstance(birth, str) else birth.strftime("%Y%m%d")
    s = seq % 1000
    if sex == "1" and s % 2 == 0:
        s = s + 1 if s < 999 else 999
    elif sex == "2" and s % 2 == 1:
        s -= 1
    first17 = f"{region}{b}{s:03d}"
    return first17 + check_digit(first17)


def birth_date_of(idno: str) -> date | None:
    """The birth date the number encodes, or None when it is no calendar day."""
    try:
        return date(int(idno[6:10]), int(idno[10:12]), int(idno[12:14]))
    except ValueError:
        return None


def id_problem(idno: str, regions=None, today: date | None = None) -> str | None:
    """Why ``idno`` is not a valid number, or None.

    Reasons: ``pattern`` (not 17 digits + digit/X), ``checkdigit``, ``region`` (first six digits
    not in ``regions``, when a collection of division codes is given; a region is accepted when
    its province, ``XX0000``, is listed but the table has no finer codes for it), ``birth``
    (no calendar day, before ``EARLIEST_BIRTH_YEAR`` or after ``today``).
    """
    if not PATTERN.fullmatch(idno or ""):
        return "pattern"
    if check_digit(idno[:17]) != idno[17].upper():
        return "checkdigit"
    born = birth_date_of(idno)
    if born is None or born.year < EARLIEST_BIRTH_YEAR or (today is not None and born > today):
        return "birth"
    if regions is not None:
        r = idno[:6]
        if r not in regions and not (r[:2] + "0000" in regions and not _has_finer(regions, r[:2])):
            return "region"
    return None


def _has_finer(regions, province: str) -> bool:
    return any(c.startswith(province) and c != province + "0000" for c in regions)


def is_valid_id(idno: str, regions=None, today: date | None = None) -> bool:
    """True when the number has the right pattern, check digit and a real birth date (and, when
    ``regions`` is given, a known region code)."""
    return id_problem(idno, regions, today) is None
