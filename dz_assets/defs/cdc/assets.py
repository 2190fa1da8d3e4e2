"""The incremental stream in Dagster: change-log specs, the consumer as a sensor and a job, lag and
liveness checks, and reconciliation results (thin over ``dz_assets.cdc`` and ``province.recon``).

The sensor drains dz-hub's queue to a bound every 30 s (``DZ_CDC_SENSOR_SECONDS``-free: 20 s of
consuming per tick keeps a tick well under Dagster's 60 s sensor timeout) and reports an
``AssetMaterialization`` of every ODS table it changed, so downstream dbt assets can follow.
"""


import dataclasses
from typing import Any

import dagster as dg

from dz_assets.alerts import raise_alert
from dz_assets.catalog import load_catalogue
from dz_assets.defs.resources import BrokerResource, WarehouseResource
from dz_assets.settings import get_settings

STREAM_KEY = dg.AssetKey(["cdc", "cdc_stream"])
RECON_KEY = dg.AssetKey(["meta", "recon_run"])
TICK_SECONDS = 20.0  # consuming time per sensor tick: under the 60 s sensor timeout with room to commit


def changelog_specs() -> list[dg.AssetSpec]:
    return [dg.AssetSpec(
        ["raw", f"{t.ods_name}__changes"], group_name="cdc", kinds={"postgres"},
        description=f"{t.name}（{t.code}）变更日志：每条增量变更一行（消息号 msg_id 唯一、序号 seq、操作 I/U/D、"
                    "提交时间、原始行、来源为消息队列或增量包批次）",
    ) for t in load_catalogue().tables.values()]


def drain(warehouse: WarehouseResource, broker: BrokerResource, max_seconds: float) -> dict[str, Any]:
    from dz_assets.cdc.consumer import consume

    s = dataclasses.replace(get_settings(), amqp_url=broker.amqp_url)
    return consume(drain=True, max_seconds=max_seconds, dsn=warehouse.resolved_dsn(), settings=s)


def ods_events(summary: dict[str, Any], caught_up: dict[str, dict[str, int]]) -> list[dg.AssetMaterialization]:
    tables: dict[str, dict[str, int]] = {k: dict(v) for k, v in summary.get("tables", {}).items()}
    for code, v in caught_up.items():
        t = tables.setdefault(code, {})
        for k, n in v.items():
            t[k] = t.get(k, 0) + n
    return [dg.AssetMaterialization(
        asset_key=["ods", code.lower()], description="增量变更已应用",
        metadata={"changes": t.get("changes", 0), "applied": t.get("applied", 0), "deleted": t.get("deleted", 0),
                  "ignored": t.get("ignored", 0) + t.get("ignored_base", 0),
                  "max_lag_s": dg.MetadataValue.float(float(summary.get("max_lag_s", 0.0)))},
    ) for code, t in sorted(tables.items()) if t.get("applied", 0) or t.get("changes", 0)]


@dg.asset(key=STREAM_KEY, group_name="cdc", kinds={"rabbitmq", "postgres"},
          description="增量消息消费：每次运行一行汇总（消费消息数、变更数、新增、重复、应用、删除、忽略、毒消息、延迟），"
                      "把变更消息队列（DZ_CDC_QUEUE，默认 dzhub.cdc）消费到界限并应用到 ODS",
          check_specs=[dg.AssetCheckSpec("cdc_lag_within_bound", asset=STREAM_KEY,
                                         description="消费延迟（最早未应用变更的等待时长）不超过 DZ_CDC_MAX_LAG_S"),
                       dg.AssetCheckSpec("changelog_matches_ods", asset=STREAM_KEY,
                                         description="本地对账：每个主键最新的已应用变更即 ODS 当前行")])
def cdc_stream(context: dg.AssetExecutionContext, warehouse: WarehouseResource, broker: BrokerResource):
    from dz_assets.cdc.status import catch_up, local_recon_all, status

    summary = drain(warehouse, broker, TICK_SECONDS)
    with warehouse.connect() as conn:
        caught = catch_up(conn)
        for ev in ods_events(summary, caught):
            context.log_event(ev)
        st = status(conn, settings=dataclasses.replace(get_settings(), amqp_url=broker.amqp_url))
        recon = local_recon_all(conn)
        conn.commit()
    yield dg.MaterializeResult(metadata={
        "changes": summary["changes"], "stored": summary["stored"], "duplicates": summary["duplicates"],
        "applied": summary["applied"], "deleted": summary["deleted"],
        "ignored": summary["ignored"] + summary["ignored_base"], "poison": summary["poison"],
        "changes_per_s": summary["changes_per_s"] or 0, "queue_ready": st["broker"].get("ready"),
        "dead_lettered": st["broker"].get("dead_lettered"), "lag_s": st["lag_s"], "pending": st["pending"]})
    yield lag_check(st)
    bad = [r for r in recon if not r["ok"]]
    yield dg.AssetCheckResult(check_name="changelog_matches_ods", passed=not bad,
                              metadata={"tables": len(recon), "not_matching": ", ".join(r["table"] for r in bad)})


def lag_check(st: dict[str, Any]) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name="cdc_lag_within_bound", passed=bool(st["lag_ok"]), severity=dg.AssetCheckSeverity.WARN,
        metadata={"lag_s": st["lag_s"], "max_lag_s": st["max_lag_s"], "pending": st["pending"],
                  "queue_ready": st["broker"].get("ready")})


@dg.asset(key=RECON_KEY, group_name="cdc", kinds={"postgres"},
          description="对账结果：每个对账批次每张表一行（省厅行数、本地行数、差异桶、差异主键、在途主键），"
                      "差异主键写入发件箱的补齐请求",
          check_specs=[dg.AssetCheckSpec("recon_no_differences", asset=RECON_KEY,
                                         description="最近一次对账没有差异主键或差异桶（在途的除外）")])
def recon_run(warehouse: WarehouseResource):
    with warehouse.connect() as conn:
        rows = conn.execute(
            "select distinct on (table_code) table_code, batch_id, buckets_differing, keys_differing, "
            "keys_in_flight, repair_path from meta.recon_run order by table_code, recon_id desc").fetchall()
    differing = [r for r in rows if r[2] or r[3]]
    yield dg.MaterializeResult(metadata={"tables": len(rows), "tables_differing": len(differing),
                                         "keys_differing": sum(r[3] for r in rows),
                                         "keys_in_flight": sum(r[4] for r in rows)})
    yield dg.AssetCheckResult(check_name="recon_no_differences", passed=not differing,
                              severity=dg.AssetCheckSeverity.WARN,
                              metadata={"differing": ", ".join(f"{r[0]} ({r[1]}: {r[3]} keys)" for r in differing),
                                        "repair_requests": ", ".join(sorted({r[5] for r in differing if r[5]}))})


cdc_job = dg.define_asset_job("cdc_job", selection=dg.AssetSelection.assets(STREAM_KEY, RECON_KEY),
                              description="增量同步：消费变更消息到界限、应用、检查延迟与本地对账、汇总对账结果")


@dg.sensor(minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING,
           description="增量消息消费：每 30 秒把变更消息队列（DZ_CDC_QUEUE）消费到界限并应用，报告受影响 ODS 表的物化，延迟超限告警")
def cdc_sensor(context: dg.SensorEvaluationContext, warehouse: WarehouseResource,
               broker: BrokerResource) -> dg.SensorResult:
    from dz_assets.cdc.status import catch_up, status

    summary = drain(warehouse, broker, TICK_SECONDS)
    with warehouse.connect() as conn:
        caught = catch_up(conn)
        st = status(conn, settings=dataclasses.replace(get_settings(), amqp_url=broker.amqp_url))
        alerted = context.cursor == "lag_alerted"
        if not st["lag_ok"] and not alerted:  # once per excursion, not every tick
            raise_alert(conn, severity="warning", source="cdc", code="cdc_lag", subject="cdc",
                        message=f"change lag {st['lag_s']} s exceeds {st['max_lag_s']} s "
                                f"({st['pending']} pending, queue {st['broker'].get('ready')})",
                        details={"lag_s": st["lag_s"], "pending": st["pending"]})
        conn.commit()
    context.update_cursor("lag_alerted" if not st["lag_ok"] else "")
    events = ods_events(summary, caught)
    if summary["changes"]:
        events.append(dg.AssetMaterialization(asset_key=STREAM_KEY, description="增量消息消费（传感器）", metadata={
            "changes": summary["changes"], "applied": summary["applied"], "poison": summary["poison"],
            "lag_s": st["lag_s"]}))
    return dg.SensorResult(asset_events=events, skip_reason=None if events else "队列为空，无新变更")


changelogs = changelog_specs()
