"""The inbox sensor and the batch job of the province stage (a failed run alerts through
``defs/ops``'s run-failure sensor, as every job does).

The sensor adds a ``province_batch`` partition per complete package (zip + marker) and asks for
the loads that ``province.delivery.inbox_plan`` says are due (one per source at a time, keyed by
the package's SHA-256), and alerts INCR batches that wait too long for their prev.
"""


import json
from pathlib import Path

import dagster as dg

from dz_assets.defs.keys import BATCH_KEY
from dz_assets.defs.province.partitions import province_batch
from dz_assets.defs.resources import PathsResource, WarehouseResource
from dz_assets.province.delivery.inbox_plan import plan_inbox
from dz_assets.province.delivery.registry import BatchRegistry
from dz_assets.settings import get_settings

province_batch_job = dg.define_asset_job(
    "province_batch_job", selection=dg.AssetSelection.assets(BATCH_KEY),
    description="省级数据包批次加载：登记、校验、全量入库、备份（每个批次一个分区）",
)


@dg.sensor(job=province_batch_job, minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING,
           description="收件目录监测：发现完整的数据包（压缩包与 .ok 标记文件均已到达）即登记批次、新增分区并发起加载")
def province_inbox_sensor(context: dg.SensorEvaluationContext, paths: PathsResource,
                          warehouse: WarehouseResource) -> dg.SensorResult:
    known = json.loads(context.cursor) if context.cursor else {}
    existing = set(context.instance.get_dynamic_partitions(province_batch.name))
    with warehouse.connect(autocommit=True) as conn:
        plan = plan_inbox(conn, Path(paths.inbox), known)
        waited = BatchRegistry(conn).alert_overdue_waits(get_settings().incr_wait_alert_s)
    for batch_id in plan.failed:
        context.log.info("%s failed to load and stays in the inbox: re-run its partition", batch_id)
    for batch_id, behind in plan.waiting.items():
        context.log.info("%s waits for %s of its source", batch_id, behind)
    if waited:
        context.log.warning("INCR batches waiting too long: %s", ", ".join(waited))
    new_keys = [b for b in plan.batch_ids if b not in existing]
    runs = [dg.RunRequest(run_key=load.run_key, partition_key=load.batch_id,
                          tags={"dz/package": str(load.zip_path), "dz/sha256": load.sha256, "dz/stat": load.stat})
            for load in plan.loads]
    return dg.SensorResult(run_requests=runs, cursor=json.dumps(plan.hashes),
                           dynamic_partitions_requests=[province_batch.build_add_request(new_keys)] if new_keys else [])
