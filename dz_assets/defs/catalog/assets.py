"""The catalogue as an asset: the mirror of tables, fields and code tables in ``meta``."""

import dagster as dg

from dz_assets.catalog import load_catalogue
from dz_assets.defs.resources import WarehouseResource
from dz_assets.ods.ddl import catalogue_digest, ensure_ods_tables, sync_catalogue


@dg.asset(
    key=["meta", "code_table"],
    group_name="meta",
    kinds={"python", "postgres"},
    description="每个代码值一行：平台目录的代码表（性别、民族、行政区划、派出所等），"
    "连同省级数据目录（143 张表及其字段）同步到 meta 模式，并按目录补建缺失的 ODS 表。",
)
def code_table(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    cat = load_catalogue()
    with warehouse.connect() as conn:
        synced = sync_catalogue(conn, cat)
        created = ensure_ods_tables(conn, cat)
        conn.commit()
        codes = conn.execute("select count(*) from meta.code_table").fetchone()[0]
    context.log.info("catalogue %s; ODS tables created: %d", "synced" if synced else "unchanged", len(created))
    return dg.MaterializeResult(metadata={
        "dagster/row_count": codes,
        "tables": len(cat.tables),
        "fields": sum(len(t.fields) for t in cat.tables.values()),
        "dicts": len(cat.code_tables),
        "digest": catalogue_digest(cat)[:12],
        "ods_tables_created": len(created),
    })


catalogue_job = dg.define_asset_job(
    "catalogue_sync_job", selection=dg.AssetSelection.assets(code_table),
    description="目录同步：代码表与省级数据目录写入 meta 模式，按目录补建缺失的 ODS 表")
