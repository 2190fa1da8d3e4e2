"""The warehouse schema: migrations are versioned and idempotent."""

from dz_assets.db import connect
from dz_assets.db.init import init_database
from dz_assets.db.migrate import available


def test_init_is_idempotent(pg_dsn):
    again = init_database(pg_dsn)
    assert again.migrations_applied == []
    assert again.ods_tables_created == []
    assert again.catalogue_synced is False
    with connect(pg_dsn) as conn:
        versions = [r[0] for r in conn.execute("select version from meta.schema_migration order by 1")]
    assert versions == [m.version for m in available()]


def test_schemas_and_ods_tables_exist(db):
    schemas = {r[0] for r in db.execute("select schema_name from information_schema.schemata")}
    assert {"meta", "raw", "ods", "staging", "core", "topic", "element", "model", "serve"} <= schemas
    n = db.execute("select count(*) from information_schema.tables where table_schema = 'ods'").fetchone()[0]
    assert n == 143
    cols = {r[0] for r in db.execute(
        "select column_name from information_schema.columns "
        "where table_schema = 'ods' and table_name = 'hz_hjrkjbxx'")}
    assert {"rybh", "gmsfhm", "xm", "_deleted", "_deleted_at", "_valid_from", "_batch_id", "_file", "_line",
            "_msg_id", "_seq"} <= cols


def test_catalogue_mirrored(db):
    assert db.execute("select count(*) from meta.catalogue_table").fetchone()[0] == 143
    assert db.execute("select name from meta.code_table where dict = 'DZZT' and code = '3'").fetchone()[0] == "注销"


def test_a_new_warehouse_sorts_text_in_code_point_order_with_the_c_collation(db):
    """dz-hub creates its databases with LC_COLLATE C: UTF-8 byte order is code-point order."""
    assert db.execute("select datcollate, pg_encoding_to_char(encoding) from pg_database "
                      "where datname = current_database()").fetchone() == ("C", "UTF8")
    words = ["王", "Z", "a", "李", "1", "張"]
    ordered = [r[0] for r in db.execute("select w from unnest(%s::text[]) w order by w", (words,))]
    assert ordered == sorted(words)  # Python sorts str by code point
