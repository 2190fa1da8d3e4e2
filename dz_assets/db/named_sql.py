"""Named SQL: statements kept in ``.sql`` files beside the code that runs them, loaded by name.

A file holds statements headed by ``-- name: <name>`` lines, or one statement named after the
file. Statements may be templates: ``{log}``, ``{ods}``, ``{key}`` … are filled with identifiers by
``psycopg.sql`` (the catalogue decides them); values are always bound as parameters.

Each module that runs SQL makes its own loader, ``query = NamedSql(__file__)``, and calls
``query("apply", "upsert", ods=…)`` or ``query("replay_claim")``.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from psycopg import sql

_HEAD = re.compile(r"^-- name: (\w+)\s*$", re.M)


@cache
def _statements(path: Path) -> dict[str, str]:
    text = path.read_text(encoding="utf-8")
    parts = _HEAD.split(text)
    if len(parts) == 1:
        return {path.stem: text.strip().rstrip(";")}
    return {parts[i]: parts[i + 1].strip().rstrip(";") for i in range(1, len(parts), 2)}


class NamedSql:
    """The named statements of the ``.sql`` files in one folder (the calling module's)."""

    def __init__(self, module_file: str | Path) -> None:
        self.folder = Path(module_file).resolve().parent

    def __call__(self, file: str, name: str | None = None, **parts: sql.Composable) -> sql.Composed | str:
        """The statement ``name`` of ``<file>.sql`` (``name`` defaults to the file's own name),
        with its ``{placeholders}`` filled when parts are given."""
        text = _statements(self.folder / f"{file}.sql")[name or file]
        return sql.SQL(text).format(**parts) if parts else text
