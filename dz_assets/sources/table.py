"""``raw_src.<id>``: made and widened from the source's fields, classified for masking, granted
to the roles its file names."""

from __future__ import annotations

import psycopg
from psycopg import sql

from dz_assets.sources.config import SourceConfig

LINEAGE = [("_key", "text primary key"), ("_position", "text"), ("_source", "text not null"),
           ("_run_id", "text not null"), ("_loaded_at", "timestamptz not null"),
           ("_deleted", "boolean not null default false"), ("_deleted_at", "timestamptz")]
LINEAGE_DOCS = {"_key": "键值（多字段键以分隔符连接）", "_position": "源记录位置（数据库：键值；接口：页码与序号；文件：文件名与行号）",
                "_source": "数据源标识", "_run_id": "写入本行的运行号", "_loaded_at": "入库时间",
                "_deleted": "源端已删除（全量同步中消失的键）", "_deleted_at": "标记删除时间"}


def ensure_table(conn: psycopg.Connection, cfg: SourceConfig) -> None:
    """Create ``raw_src.<id>``, or add the columns of fields new to its file (a field removed from
    the file keeps its column: old rows still hold it)."""
    target = sql.Identifier("raw_src", cfg.table_name)
    cols = [sql.SQL("{} {}").format(sql.Identifier(f.column), sql.SQL(f.sql_type)) for f in cfg.fields]
    cols += [sql.SQL("{} {}").format(sql.Identifier(n), sql.SQL(t)) for n, t in LINEAGE]
    conn.execute(sql.SQL("create table if not exists {} ({})").format(target, sql.SQL(", ").join(cols)))
    for f in cfg.fields:
        conn.execute(sql.SQL("alter table {} add column if not exists {} {}").format(
            target, sql.Identifier(f.column), sql.SQL(f.sql_type)))
    conn.execute(sql.SQL("comment on table {} is {}").format(
        target, sql.Literal(f"{cfg.name}（{cfg.owner}）：每个键一行，来源 {cfg.file.name}")))
    for name, doc in LINEAGE_DOCS.items():
        conn.execute(sql.SQL("comment on column {}.{} is {}").format(target, sql.Identifier(name), sql.Literal(doc)))


def protect(conn: psycopg.Connection, cfg: SourceConfig) -> None:
    """Classify every column (a field's ``pii``, else not personal), make the analysts' masked
    view ``masked_raw_src.<id>`` and grant what ``roles`` names: analysts and officers read the
    masked view, other roles the table."""
    rel = cfg.table_name
    rows = [(f.column, f.pii or "none") for f in cfg.fields] + [(n, "none") for n, _t in LINEAGE]
    have = set(conn.execute("select column_name, pii from meta.column_class where schema_name = 'raw_src' "
                            "and relation = %s", (rel,)).fetchall())
    if have == set(rows) and conn.execute("select to_regclass(%s) is not null",
                                          (f"masked_raw_src.{rel}",)).fetchone()[0]:
        _drop_hash_index(conn, rel)  # dz_protect_all (db init) may have made it again
        _grant(conn, cfg)
        return  # classified and masked as the file says: dz_protect again would re-hash every row
    conn.execute("delete from meta.column_class where schema_name = 'raw_src' and relation = %s", (rel,))
    with conn.cursor() as cur:
        cur.executemany("insert into meta.column_class (schema_name, relation, column_name, pii) "
                        "values ('raw_src', %s, %s, %s)", [(rel, c, p) for c, p in rows])
    conn.execute("select meta.dz_protect('raw_src', %s)", (rel,))
    # dz_protect indexes the ID hash of a modelled relation for analysts' lookups; on a landing
    # table every load would pay a SHA-256 per row for it (a 100 000-row load: 1 s of 3.5). Called
    # before the run's rows arrive, the index is built over what the table held before.
    _drop_hash_index(conn, rel)
    _grant(conn, cfg)


def _drop_hash_index(conn: psycopg.Connection, rel: str) -> None:
    conn.execute(sql.SQL("drop index if exists {}").format(sql.Identifier("raw_src", rel[:50] + "__id_hash")))


def _grant(conn: psycopg.Connection, cfg: SourceConfig) -> None:
    rel = cfg.table_name
    roles = {r for (r,) in conn.execute("select rolname::text from pg_roles where rolname like 'dz\\_%%'")}
    view = sql.Identifier("masked_raw_src", rel)
    table = sql.Identifier("raw_src", rel)
    wanted = set(cfg.roles)
    if {"dz_analyst", "dz_officer"} & wanted:
        for r in ({"dz_analyst", "dz_officer"} & wanted) & roles:
            conn.execute(sql.SQL("grant select on {} to {}").format(view, sql.Identifier(r)))
    elif "dz_analyst" in roles:  # dz_protect grants analysts every masked view: not this one
        conn.execute(sql.SQL("revoke select on {} from dz_analyst").format(view))
    for r in (wanted - {"dz_analyst", "dz_officer"}) & roles:
        conn.execute(sql.SQL("grant select on {} to {}").format(table, sql.Identifier(r)))
        if r != "dz_engineer":
            conn.execute(sql.SQL("grant usage on schema raw_src to {}").format(sql.Identifier(r)))
