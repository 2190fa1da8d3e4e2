"""The column classification the masked views are generated from, and applying it.

ODS columns are classified in the catalogue (``fields.csv``, column ``pii``); their lineage
columns are not personal but ``_extra`` (fields the catalogue does not know, as JSON), which is
masked as JSON. dbt models carry ``meta: {pii: …}`` per column in their yml and write their own
rows at the end of each dbt run (``macros/access/protect.sql``).
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from dz_assets.catalog import Catalogue, Table, load_catalogue
from dz_assets.ods.ddl import LINEAGE_NAMES

# The schemas analysts read through masked views (``masked_<schema>``); dbt's layers among them
# are written by dbt's on-run-end.
MASKED_LAYERS = ("ods", "core", "topic", "element", "model")
STATION_COLUMNS = ("gajgjgdm", "jz_gajgjgdm", "hj_gajgjgdm", "gkgajgjgdm")


def ods_classes(table: Table) -> list[tuple[str, str]]:
    """(column, class) of every column of ``ods.<table>``, in table order."""
    out = [(f.column, f.pii) for f in table.fields]
    out += [(name, "json" if name == "_extra" else "none") for name in LINEAGE_NAMES]
    return out


def sync_ods_classes(conn: psycopg.Connection, cat: Catalogue | None = None) -> int:
    """Write the ODS rows of ``meta.column_class`` from the catalogue; the number of columns."""
    cat = cat or load_catalogue()
    rows = [("ods", t.ods_name, col, pii) for t in cat.tables.values() for col, pii in ods_classes(t)]
    with conn.transaction():
        conn.execute("delete from meta.column_class where schema_name = 'ods'")
        with conn.cursor() as cur, cur.copy(
                "copy meta.column_class (schema_name, relation, column_name, pii) from stdin") as cp:
            for r in rows:
                cp.write_row(r)
    return len(rows)


@dataclass(frozen=True)
class Protection:
    missing_roles: list[str]  # group roles the server would not let db init create
    masked_views: int


def apply_access(conn: psycopg.Connection) -> Protection:
    """Grants of every group role and every masked view, again (idempotent)."""
    with conn.transaction():
        missing = conn.execute("select meta.dz_grant_access()").fetchone()[0] or []
        if not missing:  # the console's writes (migration 0014_console)
            conn.execute("select meta.dz_grant_console()")
        views = conn.execute("select meta.dz_protect_all()").fetchone()[0]
        conn.execute("select meta.dz_grant_address_access()")
    return Protection(list(missing), views)


def protect_relation(conn: psycopg.Connection, schema: str, relation: str) -> str | None:
    """The masked view of one relation, again (after a swap re-created the relation); the view's
    name, or None when the relation is not one analysts read. The relation's own grants are the
    swap's to keep (and the engineers' come with the schema's default privileges)."""
    return conn.execute("select meta.dz_protect(%s, %s)", (schema, relation)).fetchone()[0]
