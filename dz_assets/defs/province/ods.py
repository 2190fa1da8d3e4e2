"""The 143 ODS tables as asset specs (``ods/<table>``, group ``ods``) and their re-base check.

ODS tables are unpartitioned: a FULL batch re-bases them (the batch asset reports their
materializations, see ``assets.py``) and the CDC apply updates them, so re-running an old batch
never rolls a table back. They depend on the batch asset for lineage; dbt sources resolve to
exactly these keys.
"""

import dagster as dg

from dz_assets.catalog import Table, load_catalogue
from dz_assets.defs.resources import WarehouseResource
from dz_assets.province.delivery.batch_balance import last_rebase

BATCH_KEY = dg.AssetKey(["meta", "province_batch"])
REBASE_CHECK = "rebase_reconciles"


def ods_key(table_code: str) -> dg.AssetKey:
    return dg.AssetKey(["ods", table_code.lower()])


def describe(t: Table) -> str:
    names = {f.code: f.name for f in t.fields}
    grain = "、".join(names.get(k, k) for k in t.key) or "记录"
    return (f"每个{grain}一行：{t.name}（{t.code}）的当前状态。省级全量批次整表重建（先入新表、校验通过后"
            f"一次事务切换），增量批次与变更消息按主键更新；删除的记录保留并标记 _deleted。"
            f"血缘列 _batch_id/_file/_line（包文）与 _msg_id/_seq（消息）指向来源。所属业务域：{t.domain}。")


def _spec(t: Table) -> dg.AssetSpec:
    return dg.AssetSpec(
        key=ods_key(t.code), group_name="ods", description=describe(t), deps=[BATCH_KEY],
        kinds={"postgres"},
        metadata={"table_code": t.code, "relation": f"ods.{t.ods_name}", "key": ",".join(t.key),
                  "dagster/column_schema": dg.TableSchema(columns=[
                      dg.TableColumn(f.column, f.pg_type, description=f.name) for f in t.fields])},
    )


ods_tables = [_spec(t) for t in load_catalogue().tables.values()]


def rebase_check_result(key: dg.AssetKey, figures: dict | None) -> dg.AssetCheckResult:
    if figures is None:
        return dg.AssetCheckResult(asset_key=key, check_name=REBASE_CHECK, passed=True,
                                   metadata={"note": "not re-based by a FULL batch yet"})
    ok = figures["reconciles"] and figures["ods_rows_from_batch"] <= figures["loaded"]
    return dg.AssetCheckResult(asset_key=key, check_name=REBASE_CHECK, passed=ok, metadata=figures)


@dg.multi_asset_check(
    specs=[dg.AssetCheckSpec(REBASE_CHECK, asset=ods_key(t.code), blocking=True,
                             description="最近一次全量重建对账：声明记录数 = 入库 + 拒收 + 重复，"
                                         "且表中来自该批次的在用记录数不超过入库的不同主键数")
           for t in load_catalogue().tables.values()],
    can_subset=True,
    name="ods_rebase_reconciles",
)
def ods_rebase_reconciles(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource):
    """Re-reads the latest re-base of each selected table (the batch run reports it as it loads)."""
    with warehouse.connect() as conn:
        for ck in context.selected_asset_check_keys:
            yield rebase_check_result(ck.asset_key, last_rebase(conn, ck.asset_key.path[1].upper()))
