"""The inbox sensor, the batch job and the failure alert of the province stage.

The sensor adds a ``province_batch`` partition per complete package (zip + marker) and requests
a run keyed by the package's SHA-256, so one delivery runs once however often the sensor ticks.
Batches of one source apply in order, so it requests one run per source at a time: the oldest
package of the source in the inbox (the next one follows once that one has left the inbox);
the same bytes delivered again after their delivery finished get ``<sha256>.<n>``. A package
whose load failed stays in the inbox and is not requested again each tick (its run already
retried; re-running the partition retries it). The sensor also registers the delivery
(``meta.batch``, status ``received``) so the wait is visible before the run starts, and alerts
INCR batches that wait too long for their prev.
"""


import json
from pathlib import Path

import dagster as dg

from dz_assets.defs.province.ods import BATCH_KEY
from dz_assets.defs.province.partitions import province_batch
from dz_assets.defs.resources import PathsResource, WarehouseResource
from dz_assets.ops.alerts import raise_alert
from dz_assets.province.delivery.inbox import scan_inbox, sha256_file
from dz_assets.province.delivery.registry import BatchName, BatchRegistry
from dz_assets.settings import get_settings

province_batch_job = dg.define_asset_job(
    "province_batch_job", selection=dg.AssetSelection.assets(BATCH_KEY),
    description="省级数据包批次加载：登记、校验、全量入库、备份（每个批次一个分区）",
)


@dg.sensor(job=province_batch_job, minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING,
           description="收件目录监测：发现完整的数据包（压缩包与 .ok 标记文件均已到达）即登记批次、新增分区并发起加载")
def province_inbox_sensor(context: dg.SensorEvaluationContext, paths: PathsResource,
                          warehouse: WarehouseResource) -> dg.SensorResult:
    # cursor: {file name: [size, mtime_ns, sha256]}, so a package is hashed once, not every tick
    seen = json.loads(context.cursor) if context.cursor else {}
    cache = {}
    runs, new_keys = [], []
    existing = set(context.instance.get_dynamic_partitions(province_batch.name))
    started: dict[str, str] = {}  # source -> the batch its runs wait on (one at a time, in order)
    with warehouse.connect(autocommit=True) as conn:
        reg = BatchRegistry(conn)
        for p in scan_inbox(Path(paths.inbox)):  # per source in BATCH_ID order
            name = BatchName.parse(p.batch_id)
            source = name.source if name else p.batch_id
            st = p.zip_path.stat()
            known = seen.get(p.zip_path.name)
            if known and known[:2] == [st.st_size, st.st_mtime_ns]:
                sha = known[2]
            else:
                sha, _ = sha256_file(p.zip_path)
            cache[p.zip_path.name] = [st.st_size, st.st_mtime_ns, sha]
            before = [r[0] for r in conn.execute(
                "select status from meta.batch where sha256 = %s and batch_id = %s order by delivery_id desc",
                (sha, p.batch_id))]
            if before and before[0] == "failed":
                # RetryPolicy already retried it: no new run every tick, and the source's later
                # batches wait behind it; re-running its partition retries it
                context.log.info("%s failed to load and stays in the inbox: re-run its partition", p.batch_id)
                started.setdefault(source, p.batch_id)
                continue
            if name is not None and not (before and before[0] in ("received", "loading")):
                # registered once; a long load is 'loading' across many ticks and needs no new row
                reg.register(name, file_name=p.zip_path.name, size=st.st_size, sha256=sha)
            if p.batch_id not in existing and p.batch_id not in new_keys:
                new_keys.append(p.batch_id)
            if source in started:
                context.log.info("%s waits for %s of its source", p.batch_id, started[source])
                continue
            started[source] = p.batch_id
            earlier = sum(1 for status in before if status not in ("received", "loading"))
            runs.append(dg.RunRequest(run_key=f"{sha}.{earlier}" if earlier else sha,
                                      partition_key=p.batch_id,
                                      tags={"dz/package": str(p.zip_path), "dz/sha256": sha,
                                            "dz/stat": f"{st.st_size}:{st.st_mtime_ns}"}))
        waited = reg.alert_overdue_waits(get_settings().incr_wait_alert_s)
    if waited:
        context.log.warning("INCR batches waiting too long: %s", ", ".join(waited))
    return dg.SensorResult(run_requests=runs, cursor=json.dumps(cache),
                           dynamic_partitions_requests=[province_batch.build_add_request(new_keys)] if new_keys else [])


@dg.run_failure_sensor(monitored_jobs=[province_batch_job], default_status=dg.DefaultSensorStatus.RUNNING,
                       description="批次加载失败告警：运行失败（重试用尽）时写入告警表并推送 Webhook")
def province_batch_failure_alert(context: dg.RunFailureSensorContext, warehouse: WarehouseResource) -> None:
    run = context.dagster_run
    batch_id = run.tags.get("dagster/partition")
    with warehouse.connect() as conn:
        raise_alert(conn, severity="error", source="province", code="run_failed", subject=batch_id,
                    message=f"province batch run {run.run_id} failed: {context.failure_event.message}",
                    details={"run_id": run.run_id, "package": run.tags.get("dz/package")})
        conn.commit()
