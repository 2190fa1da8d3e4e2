"""The FULL swap: a fresh ``ods.<table>__load`` is built beside the live table, then renamed in
its place in the caller's transaction (the live one retired as ``__old``), comments, grants and
dependent views carried over. The builder (the province's FULL loader) fills and keys the
``__load`` table; everything that touches the ``ods`` relations themselves is here."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

import psycopg
from psycopg import sql

from dz_assets.catalog import Table
from dz_assets.db import trap_duplicates
from dz_assets.db.named_sql import NamedSql
from dz_assets.ods.ddl import column_defs, comment_sql

query = NamedSql(__file__)

LOAD_SUFFIX = "__load"
OLD_SUFFIX = "__old"  # a swapped-out table, dropped once the swap has committed
SWAP_LOCK_TIMEOUT_S = 120  # dbt models read ODS tables for seconds to minutes, not longer

log = logging.getLogger(__name__)


def ods_table(name: str) -> sql.Composed:
    """``ods.<name>`` for any relation of the schema (a live table, its build, its retired one)."""
    return sql.SQL("ods.{}").format(sql.Identifier(name))


def load_name(table: Table) -> str:
    return table.ods_name + LOAD_SUFFIX


def create_load_table(conn: psycopg.Connection, table: Table, batch_id: str, created: datetime | str) -> None:
    """A fresh ``__load`` table in the caller's transaction (which may COPY into it with FREEZE),
    the batch's lineage as column defaults, and no key yet: an index built once after the load
    is ~2× faster than one maintained per row."""
    rel = ods_table(load_name(table))
    conn.execute(sql.SQL("drop table if exists {}").format(rel))
    conn.execute(sql.SQL("create table {} ({})").format(rel, sql.SQL(", ").join(column_defs(table))))
    conn.execute(sql.SQL("alter table {} alter column _batch_id set default {}, "
                         "alter column _valid_from set default {}").format(
        rel, sql.Literal(batch_id), sql.Literal(created)))


def _add_key(table: Table) -> sql.Composed:
    return sql.SQL("alter table {} add constraint {} primary key ({})").format(
        ods_table(load_name(table)), sql.Identifier(load_name(table) + "_pkey"),
        sql.SQL(", ").join(sql.Identifier(k.lower()) for k in table.key))


def _has_key(conn: psycopg.Connection, table: Table) -> bool:
    return conn.execute("select exists (select from pg_constraint where conrelid = %s::regclass and contype = 'p')",
                        (f"ods.{load_name(table)}",)).fetchone()[0]


def try_primary_key(conn: psycopg.Connection, table: Table) -> bool:
    """Give the build its primary key unless a key is delivered twice; whether it has one now.

    The unique violation is trapped in the server, so no key value reaches its log. Asking first
    with a grouping query would cost a second pass over the table (~40 % of the key's own build)."""
    trap_duplicates(conn, _add_key(table))
    return _has_key(conn, table)


def seal_load_table(conn: psycopg.Connection, table: Table) -> None:
    """The build holds all its rows, each key once: it gets its primary key, its lineage
    defaults go (later writes name their own) and it is analysed. Statistics travel with the
    table through the swap: the dbt run that follows a FULL plans on real figures, also where
    autovacuum is off or has not got to it (~0.8 s per 10M rows)."""
    rel = ods_table(load_name(table))
    if table.key and not _has_key(conn, table):
        conn.execute(_add_key(table))
    conn.execute(sql.SQL("alter table {} alter column _batch_id drop default, "
                         "alter column _valid_from drop default").format(rel))
    conn.execute(sql.SQL("analyze {}").format(rel))


def drop_tables(dsn: str, names: list[str], *, cascade: bool = False) -> None:
    """Drop these ``ods`` tables (leftovers: ``__load`` builds of a failed load, tables a swap
    retired). One that cannot be dropped now is logged and left for the next load of its table,
    which drops it first; this never raises."""
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("set lock_timeout = '10s'")
            for name in names:
                try:
                    conn.execute(sql.SQL("drop table if exists {}{}").format(
                        ods_table(name), sql.SQL(" cascade" if cascade else "")))
                except psycopg.Error as exc:
                    log.warning("ods.%s stays until the next load of its table: %s", name, exc)
    except psycopg.OperationalError as exc:
        log.warning("ods.%s stay until the next load of each: %s", ", ".join(names), exc)


def _view_kind(relkind: str) -> str:
    return "materialized view" if relkind == "m" else "view"


def swap_in(conn: psycopg.Connection, table: Table) -> None:
    """Replace ods.<table> by its ``__load`` build, keeping comments, grants and dependent views.

    The old table is renamed ``__old``, not dropped: a drop unlinks its files at commit, while
    the swap still holds every table's exclusive lock (~0.85 s for 10 M person rows). The
    caller drops it after the commit (``drop_tables``)."""
    old, new = ods_table(table.ods_name), ods_table(load_name(table))
    retired = table.ods_name + OLD_SUFFIX
    exists = conn.execute("select to_regclass(%s)", (f"ods.{table.ods_name}",)).fetchone()[0]
    views, grants = [], []
    if exists:
        views = conn.execute(query("swap", "dependent_views"), {"rel": f"ods.{table.ods_name}"}).fetchall()
        for rel in [f"ods.{table.ods_name}", *(v[0] for v in views)]:
            grants += [g for (g,) in conn.execute(query("swap", "grants"), {"rel": rel})]
        conn.execute(sql.SQL("lock table {} in access exclusive mode").format(old))
        for name, kind, _body, _comment, _options, _depth in reversed(views):  # deepest first
            conn.execute(f"drop {_view_kind(kind)} if exists {name} cascade")
        conn.execute(sql.SQL("drop table if exists {}").format(ods_table(retired)))  # a crash's leftover
        conn.execute(sql.SQL("alter table {} rename to {}").format(old, sql.Identifier(retired)))
        if table.key:  # index names are per schema: the new key takes this one
            conn.execute(sql.SQL("alter index if exists ods.{} rename to {}").format(
                sql.Identifier(table.ods_name + "_pkey"), sql.Identifier(retired + "_pkey")))
    conn.execute(sql.SQL("alter table {} rename to {}").format(new, sql.Identifier(table.ods_name)))
    if table.key:
        conn.execute(sql.SQL("alter index ods.{} rename to {}").format(
            sql.Identifier(load_name(table) + "_pkey"), sql.Identifier(table.ods_name + "_pkey")))
    for stmt in comment_sql(table):
        conn.execute(stmt)
    for name, kind, body, comment, options, _depth in views:
        what = _view_kind(kind)
        # a view's options travel with it: a security barrier dropped here would let a reader's
        # own conditions run before the view's jurisdiction filter
        with_options = f" with ({', '.join(options)})" if options else ""
        conn.execute(f"create {what} {name}{with_options} as {body}")
        if comment:
            conn.execute(sql.SQL(f"comment on {what} {name} is {{}}").format(sql.Literal(comment)))
    for grant in grants:  # the table's first, then its views' (they exist again by now)
        conn.execute(grant)
    conn.execute(query("swap", "protect"), {"relation": table.ods_name})
    conn.execute(query("swap", "after_swap"), {"relation": table.ods_name})


def swap_all(dsn: str, tables: list[Table],
             record: Callable[[psycopg.Connection, Table], None] | None = None) -> None:
    """Swap every build in, in one transaction and one lock order for every loader; ``record``
    (table → None) writes the batch's bookkeeping of a table in that same transaction. The
    retired tables are dropped after the commit."""
    with psycopg.connect(dsn) as conn, conn.transaction():
        # A long reader must not stall the batch forever: after this, the swap fails (the builds
        # stay committed as __load tables) and the run's retry starts the load again.
        conn.execute(f"set local lock_timeout = '{SWAP_LOCK_TIMEOUT_S}s'")
        for table in sorted(tables, key=lambda t: t.code):
            swap_in(conn, table)
            if record is not None:
                record(conn, table)
    drop_tables(dsn, [t.ods_name + OLD_SUFFIX for t in tables], cascade=True)
