"""Alert sensors: every failed run and every failed asset check becomes an alert, and the faults
over time (disk, freshness, INCR waits, a daily batch missing at its hour) are judged each minute.
A later success, a passing check or a cleared fault resolves the alert. The delivery sensor posts
what the raising processes could not (a CLI that exited, a webhook that was down).

The domain (``dz_assets.ops``) knows nothing of Dagster; these are thin adapters over it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg
from dagster._core.events import DagsterEventType

from dz_assets.defs.resources import WarehouseResource
from dz_assets.ops.alerts import (
    deliver_pending,
    open_alert_since,
    raise_alert,
    resolve_alerts,
    resolve_cleared,
)
from dz_assets.ops.health import check_disks, check_freshness, resolve_delivered_batches
from dz_assets.ops.job_runs import record_success
from dz_assets.settings import get_settings

HEALTH_SECONDS = 60  # disks, freshness and daily batches move in minutes, not seconds


def run_subject(run: dg.DagsterRun) -> str:
    """A failed run's fault is its job (and partition): a retry that succeeds clears it."""
    partition = run.tags.get("dagster/partition")
    return f"{run.job_name}/{partition}" if partition else run.job_name


@dg.run_failure_sensor(name="run_failure_alert", default_status=dg.DefaultSensorStatus.RUNNING,
                       description="运行失败告警：任何任务的运行失败（重试用尽）时写入告警表并推送 Webhook；"
                                   "同一任务（分区）再次成功即自动恢复")
def run_failure_alert(context: dg.RunFailureSensorContext, warehouse: WarehouseResource) -> None:
    run = context.dagster_run
    message = context.failure_event.message or ""
    partition = run.tags.get("dagster/partition")
    record = context.instance.get_run_record_by_id(run.run_id)
    started = datetime.fromtimestamp(record.start_time or record.create_timestamp.timestamp(), UTC) \
        if record else None
    with warehouse.connect() as conn:
        # The run's own process already alerted this fault (a province load alerts its batch):
        # one fault, one alert, so the run's failure is not a second one.
        if partition and started and (own := open_alert_since(conn, partition, started)):
            context.log.info("run %s failed on a fault already alerted as %s", run.run_id, own)
            return
        raise_alert(conn, severity="error", source="dagster", code="run_failed", subject=run_subject(run),
                    message=f"任务 {run.job_name} 运行失败（运行 {run.run_id[:8]}）：{message}"[:2000],
                    details={"run_id": run.run_id, "job": run.job_name,
                             "partition": run.tags.get("dagster/partition"),
                             "package": run.tags.get("dz/package")})
        conn.commit()


@dg.run_status_sensor(name="run_success_resolve", run_status=dg.DagsterRunStatus.SUCCESS,
                      default_status=dg.DefaultSensorStatus.RUNNING,
                      description="运行恢复：任务（分区）运行成功后，自动恢复它此前的运行失败告警，"
                                  "并记录该任务最近一次成功运行（供指标与平台状态读取）")
def run_success_resolve(context: dg.RunStatusSensorContext, warehouse: WarehouseResource) -> None:
    run = context.dagster_run
    record = context.instance.get_run_record_by_id(run.run_id)
    ended = record.end_time if record else None
    with warehouse.connect() as conn:
        resolve_alerts(conn, "run_failed", run_subject(run))
        record_success(conn, run.job_name, run.run_id,
                       datetime.fromtimestamp(ended, UTC) if ended else datetime.now(UTC))
        conn.commit()


def check_subject(evaluation) -> str:
    return f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"


@dg.sensor(name="asset_check_alert", minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING,
           description="资产检查告警：任何资产检查（阻断或非阻断）未通过即告警（非阻断检查失败时运行仍显示成功）；"
                       "同一检查再次通过即自动恢复")
def asset_check_alert(context: dg.SensorEvaluationContext, warehouse: WarehouseResource) -> dg.SkipReason:
    failed, passed, last = alert_check_evaluations(context.instance, warehouse,
                                                   int(context.cursor) if context.cursor else None)
    if last is not None:
        context.update_cursor(str(last))
    return dg.SkipReason(f"{failed} 项检查未通过，{passed} 项通过")


def alert_check_evaluations(instance: dg.DagsterInstance, warehouse: WarehouseResource,
                            after: int | None, limit: int = 1000) -> tuple[int, int, int | None]:
    """Alert the failed check evaluations in the event log after storage id ``after`` (None: the
    newest ``limit`` only, so a first start does not replay history); resolve the passing ones.
    Returns (failed, passed, the last storage id read)."""
    flt = dg.EventRecordsFilter(event_type=DagsterEventType.ASSET_CHECK_EVALUATION,
                                after_cursor=after)
    records = instance.event_log_storage.get_event_records(flt, limit=limit, ascending=after is not None)
    records = sorted(records, key=lambda r: r.storage_id)
    failed = passed = 0
    with warehouse.connect() as conn:
        for rec in records:
            ev = rec.event_log_entry.dagster_event.event_specific_data
            subject = check_subject(ev)
            if ev.passed:
                passed += 1
                resolve_alerts(conn, "check_failed", subject)
                continue
            failed += 1
            blocking = "阻断" if ev.blocking else "非阻断"
            desc = ev.description or ""
            raise_alert(conn, severity="error" if ev.blocking or ev.severity == dg.AssetCheckSeverity.ERROR
                        else "warning", source="dagster", code="check_failed", subject=subject,
                        message=f"资产检查未通过（{blocking}）：{ev.asset_key.to_user_string()} 的 {ev.check_name}"
                                + (f"：{desc}" if desc else ""),
                        details={"run_id": rec.event_log_entry.run_id, "blocking": bool(ev.blocking),
                                 "severity": ev.severity.value,
                                 "metadata": {k: str(v.value) for k, v in (ev.metadata or {}).items()}})
        conn.commit()
    return failed, passed, records[-1].storage_id if records else after


def last_daily_tick(cron: str, tz: str, now: datetime) -> datetime | None:
    """The latest time at or before ``now`` a daily cron (``M H * * *``) fired; None if not daily."""
    parts = cron.split()
    if len(parts) != 5 or parts[2:] != ["*", "*", "*"] or not (parts[0].isdigit() and parts[1].isdigit()):
        return None
    local = now.astimezone(ZoneInfo(tz))
    tick = local.replace(hour=int(parts[1]), minute=int(parts[0]), second=0, microsecond=0)
    return tick if tick <= local else tick - timedelta(days=1)


def check_daily_batches(instance: dg.DagsterInstance, conn, schedules, now: datetime, grace_s: float) -> list[str]:
    """Alert (``daily_batch_missing``) each daily job with no successful run since its last tick
    once ``grace_s`` has passed; resolve those that succeeded. Returns the missing jobs."""
    missing = []
    for sched in schedules:
        tick = last_daily_tick(sched.cron_schedule, sched.execution_timezone or "UTC", now)
        if tick is None or (now - tick).total_seconds() < grace_s:
            continue
        done = instance.get_run_records(
            dg.RunsFilter(job_name=sched.job_name, statuses=[dg.DagsterRunStatus.SUCCESS],
                          created_after=tick.astimezone(UTC)), limit=1)
        if done:
            continue
        missing.append(sched.job_name)
        raise_alert(conn, severity="error", source="dagster", code="daily_batch_missing", subject=sched.job_name,
                    message=f"每日任务 {sched.job_name} 在 {tick:%Y-%m-%d %H:%M} 之后 {grace_s / 3600:g} 小时内"
                            f"没有成功运行（调度 {sched.name}）",
                    details={"schedule": sched.name, "tick": tick, "grace_s": grace_s})
    resolve_cleared(conn, "daily_batch_missing", missing)
    return missing


@dg.sensor(name="health_alert", minimum_interval_seconds=HEALTH_SECONDS, default_status=dg.DefaultSensorStatus.RUNNING,
           description="运行状况告警：收件目录或状态目录所在磁盘超过阈值、ODS 表超过新鲜度、INCR 批次等待超限、"
                       "每日批处理（dbt、模型、二维码）到点未成功；故障消除即自动恢复")
def health_alert(context: dg.SensorEvaluationContext, warehouse: WarehouseResource) -> dg.SkipReason:
    s = get_settings()
    schedules = list(context.repository_def.schedule_defs) if context.repository_def else []
    with warehouse.connect() as conn:
        disks = check_disks(conn, s)
        stale = check_freshness(conn, s)
        resolve_incr_waits(conn)
        resolve_delivered_batches(conn)
        missing = check_daily_batches(context.instance, conn, schedules, datetime.now(UTC),
                                      s.daily_batch_grace_s)
        conn.commit()
    return dg.SkipReason(f"磁盘超限 {len(disks)}，表超时 {len(stale)}，每日任务缺失 {len(missing)}")


def resolve_incr_waits(conn) -> None:
    """An INCR wait clears when its batch leaves ``waiting`` (its prev arrived, or it was set aside)."""
    waiting = [r[0] for r in conn.execute("select batch_id from meta.batch where status = 'waiting'")]
    resolve_cleared(conn, "incr_waiting", waiting)


@dg.sensor(name="alert_delivery", minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING,
           description="告警推送：把尚未送达 Webhook 的告警按指数退避重试推送（不阻塞任何加载或消费）")
def alert_delivery(context: dg.SensorEvaluationContext, warehouse: WarehouseResource) -> dg.SkipReason:
    if not get_settings().alert_webhook:
        return dg.SkipReason("未配置 DZ_ALERT_WEBHOOK")
    with warehouse.connect(autocommit=True) as conn:
        ok, bad = deliver_pending(conn)
    return dg.SkipReason(f"送达 {ok}，失败 {bad}（稍后重试）")
