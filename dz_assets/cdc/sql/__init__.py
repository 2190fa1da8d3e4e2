"""Named SQL of the change log and apply step, kept beside the code (``-- name: <name>`` heads).

Statements are templates: ``{log}``, ``{ods}``, ``{key}`` … are filled with identifiers by
``psycopg.sql`` (the catalogue decides them), values are bound as parameters.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from psycopg import sql

_HEAD = re.compile(r"^-- name: (\w+)\s*$", re.M)


@cache
def _statements(file: str) -> dict[str, str]:
    text = (Path(__file__).parent / f"{file}.sql").read_text(encoding="utf-8")
    parts = _HEAD.split(text)
    return {parts[i]: parts[i + 1].strip().rstrip(";") for i in range(1, len(parts), 2)}


def query(file: str, name: str, **parts: sql.Composable) -> sql.Composed | str:
    """The statement ``name`` of ``<file>.sql``, with its ``{placeholders}`` filled when given."""
    text = _statements(file)[name]
    return sql.SQL(text).format(**parts) if parts else text
