"""``purge_job``: the retention of dz_assets.ops.retention, daily. A thin adapter: the domain
decides what goes and what stays, records it and alerts a failure (``purge_failed``); the run
itself does not fail for that, so one fault stays one alert (not a second ``run_failed``).

No ``from __future__ import annotations`` here: Dagster checks the op's ``context`` annotation
as a type, which a postponed (string) annotation is not."""

import dagster as dg

from dz_assets.defs.resources import WarehouseResource
from dz_assets.ops.retention import purge


@dg.op(description="保留期清理：删除超过保留天数的备份、隔离包、拒收文件、对象与发件箱文件，后续步骤仍需要的除外")
def purge_files(context: dg.OpExecutionContext, warehouse: WarehouseResource) -> dg.Output[None]:
    with warehouse.connect(autocommit=True) as conn:
        result = purge(conn)
    for k in result.kinds:
        (context.log.error if k.error else context.log.info)(
            f"{k.kind}: removed {k.files} file(s), {k.bytes} bytes; kept {len(k.kept)}"
            + (f"; failed: {k.error}" if k.error else ""))
    return dg.Output(None, metadata={
        "purge_id": result.purge_id,
        "files": sum(k.files for k in result.kinds),
        "bytes": sum(k.bytes for k in result.kinds),
        "kept": sum(len(k.kept) for k in result.kinds),
        "failed_kinds": ", ".join(k.kind for k in result.kinds if k.error) or "-",
    })


@dg.job(description="每日保留期清理（DZ_RETAIN_*_DAYS，默认 0 即全部保留）")
def purge_job() -> None:
    purge_files()


# 04:30 Beijing: after the night's deliveries and the weekly rebuild, before the 06:30 dbt build.
# Running by default is harmless: the default retention (0 days) keeps everything.
purge_schedule = dg.ScheduleDefinition(
    job=purge_job, cron_schedule="30 4 * * *", execution_timezone="Asia/Shanghai",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="每日 04:30（北京时间）按保留天数清理文件",
)
