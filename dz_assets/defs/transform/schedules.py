"""When the dbt layers run: daily after the night's province delivery, weekly from scratch."""

import dagster as dg

from dz_assets.defs.transform.dbt_assets import dz_dbt_models
from dz_assets.defs.transform.model_assets import dz_rule_models, model_days

dbt_daily_job = dg.define_asset_job(
    "dbt_daily_build",
    selection=dg.AssetSelection.assets(dz_dbt_models),
    description="每日构建：staging → core → topic → element（增量模型只处理新入库的数据）。",
)

dbt_weekly_full_refresh_job = dg.define_asset_job(
    "dbt_weekly_full_refresh",
    selection=dg.AssetSelection.assets(dz_dbt_models),
    config={"ops": {"dz_dbt_models": {"config": {"full_refresh": True}}}},
    description="每周全量重建：增量模型（人员轨迹、要素异常）从头重建，撤回已删除的来源行。",
)

# 06:30 Beijing: after the night's deliveries of the previous day's changes, before the working
# day; a delivery arriving later is picked up by the next day's run (or a manual materialize).
# On by default: a fresh deployment runs T+1 without anyone switching it on in the UI.
dbt_daily_schedule = dg.ScheduleDefinition(
    job=dbt_daily_job, cron_schedule="30 6 * * *", execution_timezone="Asia/Shanghai",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="每日 06:30（北京时间）构建 staging → core → topic → element → serve",
)

# Sunday 03:00 Beijing, the quietest hour of the week.
dbt_weekly_schedule = dg.ScheduleDefinition(
    job=dbt_weekly_full_refresh_job, cron_schedule="0 3 * * 0", execution_timezone="Asia/Shanghai",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="每周日 03:00（北京时间）全量重建增量模型",
)

rule_models_job = dg.define_asset_job(
    "rule_models_daily",
    selection=dg.AssetSelection.assets(dz_rule_models),
    partitions_def=model_days,
    description="每日运行十四个业务实战模型（评估日 = 分区日，默认前一日）。",
)

# 07:30 Beijing, an hour after the daily dbt build starts (it takes minutes at city scale), for
# the previous day's partition (the last complete Beijing day). On by default like the build.
rule_models_schedule = dg.build_schedule_from_partitioned_job(
    rule_models_job, hour_of_day=7, minute_of_hour=30, default_status=dg.DefaultScheduleStatus.RUNNING,
    description="每日 07:30（北京时间）在每日 dbt 构建之后，按前一日运行业务实战模型",
)
