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
    if hasattr(value, "__json_stream__"):  # nested below the top level: built in memory
        return list(value.__json_stream__())
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=_default)


def emit_json(obj: dict[str, Any]) -> None:
    """Print exactly one JSON object on standard output. A top-level value with a
    ``__json_stream__`` method (a verdict's rejects: there may be millions) is written as an array
    item by item, never built as one string."""
    out = sys.stdout
    if not any(hasattr(v, "__json_stream__") for v in obj.values()):
        out.write(_dumps(obj) + "\n")
    else:
        out.write("{")
        for i, (key, value) in enumerate(obj.items()):
            out.write(("" if i == 0 else ", ") + _dumps(str(key)) + ": ")
            if hasattr(value, "__json_stream__"):
                out.write("[")
                for j, item in enumerate(value.__json_stream__()):
                    out.write(("" if j == 0 else ", ") + _dumps(item))
                out.write("]")
            else:
                out.write(_dumps(value))
        out.write("}\n")
    out.flush()


def notice(message: str) -> None:
    """A human notice or progress line: always on standard error."""
    click.echo(message, err=True)


json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
