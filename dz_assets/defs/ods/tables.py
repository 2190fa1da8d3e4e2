"""The 143 ODS tables as asset specs (``ods/<table>``, group ``ods``) and their re-base check.

ODS tables are unpartitioned: a FULL batch re-bases them (the batch asset reports their
materializations, see ``defs/province/assets.py``) and the change stream applies its change
logs to them (``defs/cdc/assets.py``), so re-running an old batch never rolls a table back. Their
lineage names both feeds, the batch and the table's change log; dbt sources resolve to exactly
these keys.
"""

import dagster as dg

from dz_assets.catalog import Table, load_catalogue
from dz_assets.defs.keys import BATCH_KEY, changelog_key, ods_key
from dz_assets.defs.resources import WarehouseResource
from dz_assets.province.delivery.batch_balance import RebaseFigures, last_rebase

REBASE_CHECK = "rebase_reconciles"


def describe(t: Table) -> str:
    names = {f.code: f.name for f in t.fields}
    grain = "、".join(names.get(k, k) for k in t.key) or "记录"
    return (f"每个{grain}一行：{t.name}（{t.code}）的当前状态。省级全量批次整表重建（先入新表、校验通过后"
            f"一次事务切换），增量批次与变更消息按主键更新；删除的记录保留并标记 _deleted。"
            f"血缘列 _batch_id/_file/_line（包文）与 _msg_id/_seq（消息）指向来源。所属业务域：{t.domain}。")


def _spec(t: Table) -> dg.AssetSpec:
    return dg.AssetSpec(
        key=ods_key(t.code), group_name="ods", description=describe(t), deps=[BATCH_KEY, changelog_key(t.code)],
        kinds={"postgres"},
        metadata={"table_code": t.code, "relation": f"ods.{t.ods_name}", "key": ",".join(t.key),
                  "dagster/column_schema": dg.TableSchema(columns=[
                      dg.TableColumn(f.column, f.pg_type, description=f.name) for f in t.fields])},
    )


ods_tables = [_spec(t) for t in load_catalogue().tables.values()]


def rebase_check_result(key: dg.AssetKey, figures: RebaseFigures | None) -> dg.AssetCheckResult:
    """The table's re-base check from its last re-base's figures (None: never re-based)."""
    if figures is None:
        return dg.AssetCheckResult(asset_key=key, check_name=REBASE_CHECK, passed=True,
                                   metadata={"note": "not re-based by a FULL batch yet"})
    return dg.AssetCheckResult(asset_key=key, check_name=REBASE_CHECK, passed=figures.ok,
                               metadata=figures.as_dict())


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


def rebase_check_evaluation(conn, table_code: str) -> dg.AssetCheckEvaluation:
    """The same check evaluated again, for a run that changed the table after its re-base (a
    later batch, the change stream): the UI then shows it evaluated on the table's latest state."""
    r = rebase_check_result(ods_key(table_code), last_rebase(conn, table_code))
    return dg.AssetCheckEvaluation(asset_key=r.asset_key, check_name=r.check_name, passed=r.passed,
                                   metadata=r.metadata)
