"""Named SQL statements of the province operations, kept in ``.sql`` files beside the code.

A file holds statements headed by ``-- name: <name>`` lines; :func:`query` returns one by name.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

_HEAD = re.compile(r"^-- name: (\w+)\s*$", re.M)


@cache
def _statements(file: str) -> dict[str, str]:
    text = (Path(__file__).parent / f"{file}.sql").read_text(encoding="utf-8")
    parts = _HEAD.split(text)
    return {parts[i]: parts[i + 1].strip().rstrip(";") for i in range(1, len(parts), 2)}


def query(file: str, name: str) -> str:
    """The statement ``name`` of ``<file>.sql``."""
    return _statements(file)[name]
