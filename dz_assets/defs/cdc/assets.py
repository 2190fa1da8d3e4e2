"""The change stream in Dagster: a drain run per request, its change logs, and the ODS tables it
feeds (thin over ``dz_assets.cdc``).

The stream is a run, not a sensor tick: ``change_stream_sensor`` looks at the queue and the
unapplied changes without consuming anything, and asks for one bounded drain run of
``change_stream_job`` when there is work and no drain run is in flight. The run consumes the queue
to its bound (RabbitMQ → change log → ODS, acknowledged after commit), with a RetryPolicy, run
logs and compute logs like any run. It materializes the change logs it wrote
(``raw/<table>__changes``), the per-table apply state (``meta/cdc_table_state``), and reports the
ODS tables it changed with their checks evaluated again on their new state.
"""

import dataclasses

import dagster as dg

from dz_assets.catalog import load_catalogue
from dz_assets.cdc.consumer import consume
from dz_assets.cdc.status import CdcStatus, catch_up, local_recon_all, status
from dz_assets.cdc.summary import Summary
from dz_assets.defs.keys import CDC_STATE_KEY, RECON_KEY, changelog_key, ods_key
from dz_assets.defs.ods.tables import rebase_check_evaluation
from dz_assets.defs.resources import BrokerResource, WarehouseResource
from dz_assets.ops.alerts import raise_alert, resolve_alerts
from dz_assets.province.delivery.recon_package import latest_recon_runs
from dz_assets.settings import Settings, get_settings

# Consuming time per drain run: long enough that per-run start-up (~2 s) stays a small share,
# short enough that the run's figures and the ODS materializations reach the UI every few minutes.
DRAIN_SECONDS = 120.0
SENSOR_SECONDS = 30


# The change logs are external specs, like the ODS tables they feed: a drain run reports the logs
# it wrote (most runs touch a few of the 143), so none waits "never materialized" for a table the
# stream has not changed yet.
changelog_tables = [dg.AssetSpec(
    changelog_key(t.code), group_name="cdc", kinds={"postgres"},
    description=f"{t.name}（{t.code}）变更日志：每条增量变更一行（消息号 msg_id 唯一、序号 seq、操作 I/U/D、"
                "提交时间、原始行、来源为消息队列或增量包批次）；由增量同步运行写入并报告",
) for t in load_catalogue().tables.values()]


def _settings(broker: BrokerResource) -> Settings:
    return dataclasses.replace(get_settings(), amqp_url=broker.resolved_url())


def _per_table(summary: Summary, caught_up: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    tables: dict[str, dict[str, int]] = {k: dict(v) for k, v in summary.tables.items()}
    for code, v in caught_up.items():
        t = tables.setdefault(code, {})
        for k, n in v.items():
            t[k] = t.get(k, 0) + n
    return {code: t for code, t in sorted(tables.items()) if t.get("applied", 0) or t.get("changes", 0)}


@dg.multi_asset(
    name="change_stream",
    specs=[dg.AssetSpec(CDC_STATE_KEY, group_name="cdc", kinds={"rabbitmq", "postgres"},
                        description="每张增量表一行：应用位置（基线批次与序号、水位序号）、已应用/删除/忽略数、最近应用时间与来源通道。"
                                    "每次运行把变更消息队列（DZ_CDC_QUEUE，默认 dzhub.cdc）消费到界限（变更写入变更日志、按主键最高序号应用到 ODS、提交后确认）")],
    check_specs=[dg.AssetCheckSpec("cdc_lag_within_bound", asset=CDC_STATE_KEY,
                                   description="消费延迟（最早未应用变更的等待时长）不超过 DZ_CDC_MAX_LAG_S"),
                 dg.AssetCheckSpec("changelog_matches_ods", asset=CDC_STATE_KEY,
                                   description="本地对账：每个主键最新的已应用变更即 ODS 当前行")],
    retry_policy=dg.RetryPolicy(max_retries=3, delay=10, backoff=dg.Backoff.EXPONENTIAL),
)
def change_stream(context: dg.AssetExecutionContext, warehouse: WarehouseResource, broker: BrokerResource):
    """Drains dz-hub's queue to its bound, then reports what changed."""
    settings = _settings(broker)
    summary = consume(drain=True, max_seconds=DRAIN_SECONDS, dsn=warehouse.resolved_dsn(), settings=settings)
    context.log.info("drained: %d changes (%d applied, %d poison) at %s changes/s", summary.changes,
                     summary.applied, summary.poison_total, summary.changes_per_s)
    with warehouse.connect() as conn:
        tables = _per_table(summary, catch_up(conn))
        for code, t in tables.items():
            context.log_event(dg.AssetMaterialization(asset_key=changelog_key(code), metadata={
                "changes": t.get("changes", 0), "stored": t.get("stored", t.get("changes", 0))}))
            context.log_event(dg.AssetMaterialization(
                asset_key=ods_key(code), description="增量变更已应用",
                metadata={"changes": t.get("changes", 0), "applied": t.get("applied", 0),
                          "deleted": t.get("deleted", 0),
                          "ignored": t.get("ignored", 0) + t.get("ignored_base", 0),
                          "max_lag_s": dg.MetadataValue.float(float(summary.max_lag_s))}))
            context.log_event(rebase_check_evaluation(conn, code))
        st = status(conn, settings=settings)
        recon = local_recon_all(conn)
        conn.commit()
    yield dg.MaterializeResult(asset_key=CDC_STATE_KEY, metadata={
        "changes": summary.changes, "stored": summary.stored, "duplicates": summary.duplicates,
        "applied": summary.applied, "deleted": summary.deleted,
        "ignored": summary.ignored + summary.ignored_base, "poison": summary.poison_total,
        "tables_changed": len(tables), "changes_per_s": summary.changes_per_s or 0,
        "queue_ready": st.queue_ready, "dead_lettered": st.dead_lettered,
        "lag_s": st.lag_s, "pending": st.pending})
    yield lag_check(st)
    bad = [r for r in recon if not r.ok]
    yield dg.AssetCheckResult(asset_key=CDC_STATE_KEY, check_name="changelog_matches_ods", passed=not bad,
                              metadata={"tables": len(recon), "not_matching": ", ".join(r.table for r in bad)})


def lag_check(st: CdcStatus) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        asset_key=CDC_STATE_KEY, check_name="cdc_lag_within_bound", passed=bool(st.lag_ok),
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"lag_s": st.lag_s, "max_lag_s": st.max_lag_s, "pending": st.pending,
                  "queue_ready": st.queue_ready})


@dg.asset(key=RECON_KEY, group_name="cdc", kinds={"postgres"},
          description="对账结果：每个对账批次每张表一行（省厅行数、本地行数、差异桶、差异主键、在途主键），"
                      "差异主键写入发件箱的补齐请求",
          check_specs=[dg.AssetCheckSpec("recon_no_differences", asset=RECON_KEY,
                                         description="最近一次对账没有差异主键或差异桶（在途的除外）")])
def recon_run(warehouse: WarehouseResource):
    with warehouse.connect() as conn:
        latest = latest_recon_runs(conn)
    differing = [r for r in latest if r.differs]
    yield dg.MaterializeResult(metadata={"tables": len(latest), "tables_differing": len(differing),
                                         "keys_differing": sum(r.keys_differing for r in latest),
                                         "keys_in_flight": sum(r.keys_in_flight for r in latest)})
    yield dg.AssetCheckResult(
        check_name="recon_no_differences", passed=not differing, severity=dg.AssetCheckSeverity.WARN,
        metadata={"differing": ", ".join(f"{r.table_code} ({r.batch_id}: {r.keys_differing} keys)" for r in differing),
                  "repair_requests": ", ".join(sorted({r.repair_path for r in differing if r.repair_path}))})


change_stream_job = dg.define_asset_job(
    "change_stream_job", selection=dg.AssetSelection.assets(change_stream),
    description="增量同步：把变更消息消费到界限、写变更日志、应用到 ODS、检查延迟与本地对账")
recon_job = dg.define_asset_job(
    "recon_summary_job", selection=dg.AssetSelection.assets(RECON_KEY),
    description="对账汇总：各表最近一次对账的差异桶、差异主键与补齐请求")


@dg.sensor(job=change_stream_job, minimum_interval_seconds=SENSOR_SECONDS,
           default_status=dg.DefaultSensorStatus.RUNNING,
           description="增量消息监测：每 30 秒查看队列深度与未应用变更（不消费），有待处理变更且没有正在运行的消费任务时"
                       "发起一次有界消费运行；延迟超限告警")
def change_stream_sensor(context: dg.SensorEvaluationContext, warehouse: WarehouseResource,
                         broker: BrokerResource) -> dg.SensorResult:
    with warehouse.connect() as conn:
        st = status(conn, settings=_settings(broker))
        # Lag unknown (messages wait and nothing was ever applied): the run asked for below settles it.
        late = st.lag_s is not None and not st.lag_ok
        if late:  # one alert per excursion: a repeat only counts, and it resolves once back in bound
            raise_alert(conn, severity="warning", source="cdc", code="cdc_lag", subject="cdc",
                        message=f"change lag {st.lag_s} s exceeds {st.max_lag_s} s "
                                f"({st.pending} pending, queue {st.queue_ready})",
                        details={"lag_s": st.lag_s, "pending": st.pending})
        else:
            resolve_alerts(conn, "cdc_lag", "cdc")
        conn.commit()
    waiting = (st.queue_ready or 0) + st.pending
    if not waiting:
        return dg.SensorResult(skip_reason="队列为空，无未应用变更")
    in_flight = context.instance.get_run_records(
        dg.RunsFilter(job_name=change_stream_job.name,
                      statuses=[dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED,
                                dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]),
        limit=1)
    if in_flight:
        return dg.SensorResult(
            skip_reason=f"{waiting} 条待处理，消费运行 {in_flight[0].dagster_run.run_id[:8]} 正在进行")
    return dg.SensorResult(run_requests=[dg.RunRequest(tags={"dz/waiting": str(waiting)})])
