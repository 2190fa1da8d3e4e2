"""SQL of the redirect service, kept in ``.sql`` files beside the code and loaded by name."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from dz_assets.settings import PROJECT_ROOT

_DIR = Path(__file__).parent
# The served registry's one definition: the dbt model the redirect API reads once dbt built it.
REGISTRY_MODEL = PROJECT_ROOT / "dbt_project" / "models" / "serve" / "serve_address_registry.sql"
_CONFIG = re.compile(r"\{\{\s*config\(.*?\)\s*\}\}", re.S)
_SOURCE = re.compile(r"\{\{\s*source\(\s*'(\w+)'\s*,\s*'(\w+)'\s*\)\s*\}\}")


@cache
def load_sql(name: str) -> str:
    if name == "registry_ods":
        return registry_ods_sql()
    return (_DIR / f"{name}.sql").read_text(encoding="utf-8")


def registry_ods_sql() -> str:
    """The lookup by a batch of codes (``%(codes)s``, a text[]) before dbt has built
    ``serve.address_registry``: the model's own SQL with its sources named as the ODS and meta
    tables they resolve to, so that both sources answer with the same rules. The model may use
    only ``config()`` and ``source()`` for this to hold (checked here: anything else is an error)."""
    text = _SOURCE.sub(r"\1.\2", _CONFIG.sub("", REGISTRY_MODEL.read_text(encoding="utf-8")))
    if "{{" in text or "{%" in text:
        raise ValueError(f"{REGISTRY_MODEL.name} uses Jinja beyond config() and source()")
    body = text.replace("%", "%%")  # psycopg placeholders: the model's own % are literal
    return ("select dzbm, dzmc, xzqh, xzqhmc, gajg, gajgmc, status\n"
            f"  from (\n{body}\n) registry\n where dzbm = any(%(codes)s)")
