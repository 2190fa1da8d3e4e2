"""Change logs ``raw.<table lower>__changes``: every change of either incremental channel, once.

One log per catalogue table, created on demand from the catalogue (like the ODS tables): the
message id is unique, so a redelivered or re-read change is stored once; the row is kept as
delivered (``data``, unknown fields included) with its lineage (``source`` = ``mq`` or the INCR
batch id, ``file``, ``line``). Writes are COPY into a temporary table, then
``INSERT … ON CONFLICT (msg_id) DO NOTHING`` (COPY itself cannot skip existing rows).
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import psycopg
from psycopg import sql

from dz_assets.catalog import Table
from dz_assets.cdc.message import Change

_known: set[str] = set()  # "dsn-independent" cache of logs seen this process (create is idempotent)


def log_name(table: Table) -> str:
    return f"{table.ods_name}__changes"


def log_rel(table: Table) -> sql.Composed:
    return sql.SQL("raw.{}").format(sql.Identifier(log_name(table)))


def key_ident(table: Table) -> sql.Composed:
    return sql.SQL(", ").join(sql.Identifier(k.lower()) for k in table.key)


def create_log_sql(table: Table) -> list[sql.Composed]:
    rel = log_rel(table)
    keys = [sql.SQL("{} {} not null").format(sql.Identifier(f.column), sql.SQL(f.pg_type))
            for f in table.key_fields]
    ddl = sql.SQL(
        "create table if not exists {rel} (msg_id text primary key, seq bigint not null, "
        "op char(1) not null check (op in ('I', 'U', 'D')), ts timestamptz not null, {keys}, "
        "data jsonb, source text not null, file text, line bigint, "
        "received_at timestamptz not null default now(), applied_at timestamptz, outcome text)"
    ).format(rel=rel, keys=sql.SQL(", ").join(keys))
    name = log_name(table)
    return [
        ddl,
        # apply reads only the pending rows; the key/seq index serves recon and local checks
        sql.SQL("create index if not exists {} on {} (msg_id) where applied_at is null").format(
            sql.Identifier(name + "_pending"), rel),
        sql.SQL("create index if not exists {} on {} ({}, seq)").format(
            sql.Identifier(name + "_key_seq"), rel, key_ident(table)),
        sql.SQL("comment on table {} is {}").format(
            rel, sql.Literal(f"{table.name}（{table.code}）变更日志：每条增量变更一行（消息号、序号、操作、时间、原始行、来源）")),
    ]


def ensure_log(conn: psycopg.Connection, table: Table) -> None:
    marker = f"{conn.info.dbname}:{table.code}"
    if marker in _known:
        return
    exists = conn.execute("select to_regclass(%s)", (f"raw.{log_name(table)}",)).fetchone()[0]
    if not exists:
        # Two consumers may create the same log at once: serialise on an advisory lock.
        conn.execute("select pg_advisory_xact_lock(hashtextextended(%s, 0))", ("dz.cdc.log:" + table.code,))
        for stmt in create_log_sql(table):
            conn.execute(stmt)
    _known.add(marker)


def _key_text(table: Table, values: tuple[str, ...]) -> list[str]:
    out = []
    for f, v in zip(table.key_fields, values, strict=True):
        # COPY casts text to the key's type; YYYYMMDDHHMMSS needs the offset form to cast.
        out.append(f"{v[:8]}T{v[8:]}+08" if f.type == "datetime" else v)
    return out


def store_changes(conn: psycopg.Connection, table: Table, changes: Iterable[Change]) -> int:
    """Log the changes (in the caller's transaction); returns how many were new."""
    ensure_log(conn, table)
    rel = log_rel(table)
    cols = sql.SQL(", ").join(map(sql.Identifier, ["msg_id", "seq", "op", "ts",
                                                   *[k.lower() for k in table.key],
                                                   "data", "source", "file", "line"]))
    tmp = sql.Identifier(f"_cdc_in_{table.ods_name}")
    conn.execute(sql.SQL("create temp table if not exists {} (like {} including defaults) "
                         "on commit delete rows").format(tmp, rel))
    n = 0
    with conn.cursor() as cur, cur.copy(sql.SQL("copy {} ({}) from stdin").format(tmp, cols)) as cp:
        for c in changes:
            data = None if c.op == "D" and not c.data else json.dumps(c.data, ensure_ascii=False)
            cp.write_row((c.msg_id, c.seq, c.op, c.ts, *_key_text(table, c.key), data, c.source, c.file, c.line))
            n += 1
    if not n:
        return 0
    cur = conn.execute(sql.SQL("insert into {} select * from {} on conflict (msg_id) do nothing").format(rel, tmp))
    new = cur.rowcount
    conn.execute(sql.SQL("truncate {}").format(tmp))  # the same transaction may store again
    return new
