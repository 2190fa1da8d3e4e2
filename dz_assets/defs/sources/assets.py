"""Declarative sources in Dagster (thin over ``dz_assets.sources``): one asset per YAML file of
``DZ_SOURCES_DIR``, key ``raw_src/<id>``, group ``sources``.

Each asset has a RetryPolicy (a run that still fails commits nothing, so retrying is safe), its
own job and cron schedule (Beijing time) where the file gives one, and a freshness check where it
gives ``freshness_hours`` (evaluated each minute by the freshness sensor; a failed check alerts
through the check-failure sensor of ``defs/ops``). A failed run raises a ``source_failed`` alert.

A bad file does not stop the code location: it is logged at load with its file and key, and the
``meta/source_config`` asset's blocking check fails naming every error. The source assets are
independent (no deps, no shared pool), so ``sources_job``'s multiprocess executor runs them in
parallel; dagster-dlt's ``@dlt_assets`` is not used, as it would tie the sources to one dlt
pipeline and run them one after another.
"""


import logging
from datetime import timedelta

import dagster as dg

from dz_assets.defs.resources import WarehouseResource
from dz_assets.ops.alerts import raise_alert, resolve_alerts
from dz_assets.sources.config import SourceConfig, load_sources
from dz_assets.sources.run import SourceRunFailed, run_source

log = logging.getLogger(__name__)
CONFIG_KEY = dg.AssetKey(["meta", "source_config"])


def source_key(source_id: str) -> dg.AssetKey:
    return dg.AssetKey(["raw_src", source_id])


def _source_asset(cfg: SourceConfig) -> dg.AssetsDefinition:
    pii = [f.target for f in cfg.fields if f.pii]

    @dg.asset(
        key=source_key(cfg.id), group_name="sources", kinds={cfg.kind if cfg.kind != "file" else "file", "postgres"},
        description=(f"{cfg.name}（{cfg.owner}，{cfg.category}）：每个键（{', '.join(cfg.key)}）一行，"
                     f"字段 {', '.join(f.target for f in cfg.fields)}"
                     + (f"，个人信息字段 {', '.join(pii)} 对分析人员脱敏" if pii else "")
                     + f"；配置文件 {cfg.file.name}"),
        retry_policy=dg.RetryPolicy(max_retries=2, delay=30, backoff=dg.Backoff.EXPONENTIAL),
        metadata={"config_file": str(cfg.file), "kind": cfg.kind, "sync": cfg.sync,
                  "schedule": cfg.schedule or "按需"},
    )
    def _asset(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        # the file again at run time: the run does what the file says now
        current = load_sources(cfg.file.parent).by_id(cfg.id) or cfg
        try:
            result = run_source(current, run_id=context.run.run_id, log=context.log.warning)
        except SourceRunFailed as exc:
            with warehouse.connect() as conn:
                raise_alert(conn, severity="error", source="sources", code="source_failed", subject=cfg.id,
                            message=f"数据源 {cfg.name}（{cfg.id}）运行失败：{exc}",
                            details={"run_id": context.run.run_id, "file": str(cfg.file)})
                conn.commit()
            raise
        with warehouse.connect() as conn:
            resolve_alerts(conn, "source_failed", cfg.id)
            conn.commit()
        return dg.MaterializeResult(metadata={
            "dagster/row_count": dg.MetadataValue.int(result.loaded),
            "read": result.read, "loaded": result.loaded, "rejected": result.rejected,
            "changed": result.changed, "deleted": result.deleted, "files_read": result.files_read,
            "duration_s": round(result.duration_s, 3),
            "rows_per_s": round(result.read / result.duration_s) if result.duration_s else 0,
            "attempts": result.attempts,
            "rejects": f"dzhub sources rejects {cfg.id} --run {context.run.run_id}",
        })

    return _asset


@dg.asset(key=CONFIG_KEY, group_name="sources", kinds={"yaml"},
          description="数据源配置检查：每次物化校验 DZ_SOURCES_DIR 下全部 YAML 配置，列出每个错误的文件与键",
          check_specs=[dg.AssetCheckSpec("config_valid", asset=CONFIG_KEY, blocking=True,
                                         description="每个数据源配置文件都有效（错误列出文件与键）")])
def source_config(context: dg.AssetExecutionContext):
    loaded = load_sources()
    errors = [str(e) for e in loaded.errors]
    yield dg.MaterializeResult(metadata={"files": loaded.files, "valid": len(loaded.sources),
                                         "errors": dg.MetadataValue.json(errors)})
    yield dg.AssetCheckResult(check_name="config_valid", passed=not errors,
                              severity=dg.AssetCheckSeverity.ERROR,
                              metadata={"errors": dg.MetadataValue.md("\n".join(f"- {e}" for e in errors) or "无")})


@dg.definitions
def defs() -> dg.Definitions:
    loaded = load_sources(check_env=False)  # variables are the run's business: they may be set only there
    for e in loaded.errors:
        log.warning("dz-hub source config error (source left out): %s", e)
    assets = [_source_asset(cfg) for cfg in loaded.sources]
    jobs, schedules = [], []
    if assets:
        jobs.append(dg.define_asset_job("sources_job", selection=dg.AssetSelection.groups("sources"),
                                        description="运行全部汇聚数据源（相互独立，并行执行）"))
    for cfg, asset in zip(loaded.sources, assets, strict=True):
        if not cfg.schedule:
            continue
        job = dg.define_asset_job(f"source_{cfg.id}_job", selection=dg.AssetSelection.assets(asset),
                                  description=f"数据源 {cfg.name}（{cfg.id}）")
        jobs.append(job)
        schedules.append(dg.ScheduleDefinition(
            job=job, cron_schedule=cfg.schedule, execution_timezone="Asia/Shanghai",
            default_status=(dg.DefaultScheduleStatus.RUNNING if cfg.enabled else dg.DefaultScheduleStatus.STOPPED),
            description=f"按配置 {cfg.schedule}（北京时间）运行数据源 {cfg.name}"))
    checks = []
    for cfg in loaded.sources:
        if cfg.freshness_hours:
            checks += dg.build_last_update_freshness_checks(
                assets=[source_key(cfg.id)], lower_bound_delta=timedelta(hours=cfg.freshness_hours))
    sensors = [dg.build_sensor_for_freshness_checks(freshness_checks=checks, name="source_freshness_sensor",
                                                   minimum_interval_seconds=60,
                                                   default_status=dg.DefaultSensorStatus.RUNNING)] if checks else []
    return dg.Definitions(assets=[source_config, *assets], asset_checks=checks, jobs=jobs, schedules=schedules,
                          sensors=sensors)
