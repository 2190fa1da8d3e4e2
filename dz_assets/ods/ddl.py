"""ODS tables derived from the catalogue: ``ods.<table code lowercase>``, typed, one row per key.

Every ODS table carries the lineage and soft-delete columns of the design, which analysts and
outside checks rely on by name. The DDL is a pure function of the catalogue, so FULL loads build
a fresh table from the same definition and swap it in.
"""

from __future__ import annotations

import hashlib
import json

import psycopg
from psycopg import sql

from dz_assets.catalog import Catalogue, Table, load_catalogue

# name, type, default — in this order after the catalogue's fields
LINEAGE_COLUMNS: tuple[tuple[str, str, str | None], ...] = (
    ("_deleted", "boolean not null", "false"),
    ("_deleted_at", "timestamptz", None),
    ("_valid_from", "timestamptz", None),
    ("_batch_id", "text", None),
    ("_file", "text", None),
    ("_line", "bigint", None),
    ("_msg_id", "text", None),
    ("_seq", "bigint", None),
    ("_extra", "jsonb", None),  # fields a delivery carried that the catalogue does not know
    ("_loaded_at", "timestamptz not null", "now()"),
)
LINEAGE_NAMES = tuple(c[0] for c in LINEAGE_COLUMNS)


def ods_rel(table: Table) -> sql.Composed:
    """``ods.<table>`` as an identifier, for statements over the ODS table of ``table``."""
    return sql.SQL("ods.{}").format(sql.Identifier(table.ods_name))


def column_defs(table: Table) -> list[sql.Composable]:
    cols = [sql.SQL("{} {}").format(sql.Identifier(f.column), sql.SQL(f.pg_type)) for f in table.fields]
    for name, typ, default in LINEAGE_COLUMNS:
        d = sql.SQL(" default {}").format(sql.SQL(default)) if default else sql.SQL("")
        cols.append(sql.SQL("{} {}{}").format(sql.Identifier(name), sql.SQL(typ), d))
    return cols


def create_table_sql(table: Table, *, schema: str = "ods", name: str | None = None) -> sql.Composed:
    """``create table`` for the ODS shape of ``table`` (optionally under another name, for swaps)."""
    name = name or table.ods_name
    parts = column_defs(table)
    if table.key:
        parts.append(sql.SQL("primary key ({})").format(
            sql.SQL(", ").join(sql.Identifier(c.lower()) for c in table.key)))
    return sql.SQL("create table {}.{} ({})").format(
        sql.Identifier(schema), sql.Identifier(name), sql.SQL(", ").join(parts))


def comment_sql(table: Table, *, schema: str = "ods", name: str | None = None) -> list[sql.Composed]:
    name = name or table.ods_name
    rel = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(name))
    out = [sql.SQL("comment on table {} is {}").format(rel, sql.Literal(f"{table.name}（{table.code}）"))]
    for f in table.fields:
        out.append(sql.SQL("comment on column {}.{} is {}").format(
            rel, sql.Identifier(f.column), sql.Literal(f.name)))
    return out


def catalogue_digest(cat: Catalogue) -> str:
    body = [(t.code, t.key, [(f.code, f.type, f.length, f.required, f.key, f.dict) for f in t.fields])
            for t in cat.tables.values()]
    codes = sorted((ct.dict, c, n) for ct in cat.code_tables.values() for c, n in ct.codes.items())
    return hashlib.sha256(json.dumps([body, codes], ensure_ascii=False).encode()).hexdigest()


def ensure_ods_tables(conn: psycopg.Connection, cat: Catalogue | None = None) -> list[str]:
    """Create the ODS tables that do not exist yet; return their names. Existing ones are kept."""
    cat = cat or load_catalogue()
    existing = {r[0] for r in conn.execute(
        "select table_name from information_schema.tables where table_schema = 'ods'")}
    created = []
    with conn.transaction():
        for t in cat.tables.values():
            if t.ods_name in existing:
                continue
            conn.execute(create_table_sql(t))
            for c in comment_sql(t):
                conn.execute(c)
            created.append(t.ods_name)
    return created


def sync_catalogue(conn: psycopg.Connection, cat: Catalogue | None = None) -> bool:
    """Mirror the catalogue and code tables into ``meta``; a no-op when unchanged. True if written."""
    cat = cat or load_catalogue()
    digest = catalogue_digest(cat)
    with conn.transaction():
        row = conn.execute("select digest from meta.catalogue_sync").fetchone()
        if row and row[0] == digest:
            return False
        conn.execute("delete from meta.catalogue_field")
        conn.execute("delete from meta.catalogue_table")
        conn.execute("delete from meta.code_table")
        with conn.cursor() as cur:
            with cur.copy("copy meta.catalogue_table (table_code, table_name, domain_code, domain, seq, pk, "
                          "detail) from stdin") as cp:
                for t in cat.tables.values():
                    cp.write_row((t.code, t.name, t.domain_code, t.domain, t.seq, list(t.key), t.detail))
            with cur.copy("copy meta.catalogue_field (table_code, ordinal, field_code, field_name, type, "
                          "length, required, key, dict) from stdin") as cp:
                for t in cat.tables.values():
                    for i, f in enumerate(t.fields, 1):
                        cp.write_row((t.code, i, f.code, f.name, f.type, f.length, f.required, f.key, f.dict))
            with cur.copy("copy meta.code_table (dict, code, name, parent) from stdin") as cp:
                for ct in cat.code_tables.values():
                    for code, name in ct.codes.items():
                        cp.write_row((ct.dict, code, name, ct.parents.get(code)))
        conn.execute(
            "insert into meta.catalogue_sync (id, digest) values (1, %s) "
            "on conflict (id) do update set digest = excluded.digest, synced_at = now()", (digest,))
    return True
