"""SQL of the redirect service, kept in ``.sql`` files beside the code and loaded by name."""

from __future__ import annotations

from functools import cache
from pathlib import Path

_DIR = Path(__file__).parent


@cache
def load_sql(name: str) -> str:
    return (_DIR / f"{name}.sql").read_text(encoding="utf-8")
