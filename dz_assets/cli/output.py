"""Output conventions shared by every ``dzhub`` command."""

from __future__ import annotations

import json
import sys
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import click


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def emit_json(obj: dict[str, Any]) -> None:
    """Print exactly one JSON object on standard output."""
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, default=_default) + "\n")
    sys.stdout.flush()


def notice(message: str) -> None:
    """A human notice or progress line: always on standard error."""
    click.echo(message, err=True)


json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
