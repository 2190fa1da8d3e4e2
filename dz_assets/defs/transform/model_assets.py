"""The rule models (dbt_project/models/model/) as Dagster assets of group ``model``, partitioned
by evaluation day: a partition's run is ``dbt run`` of the model layer with ``as_of`` = the
partition key, i.e. what ``dzhub models run --as-of`` does, so a back-fill from the UI gives the
same findings. Runs of the layer never overlap (pool ``dz_rule_models``, limit 1 in
dagster.yaml): each run rebuilds the rule tables for its own day before reading them.
"""

import dataclasses
from collections.abc import Iterator
from typing import Any

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets

from dz_assets.defs.resources import WarehouseResource
from dz_assets.defs.transform.dbt_assets import translator
from dz_assets.defs.transform.project import dbt_project
from dz_assets.rules.findings import day_breakdown
from dz_assets.rules.monitor import count_jumps
from dz_assets.rules.review import precision
from dz_assets.rules.run import dbt_vars
from dz_assets.transform import apply_dbt_env

MODEL_LAYER = "path:models/model"
FINDINGS_KEY = dg.AssetKey(["model", "mdl_findings"])
FINDINGS_NODE = "model.dz_hub.mdl_findings"
PRECISION_NODE = "model.dz_hub.mdl_rule_precision"

# Written by `dzhub findings review` (not by a run): declared so the precision model's lineage
# starts somewhere with a description.
finding_reviews = dg.AssetSpec(
    key=dg.AssetKey(["meta", "finding_review"]), group_name="model", kinds={"postgres"},
    description="每条复核结论一行：派出所对模型发现的复核（属实、不属实、已整改），由 dzhub findings review 写入。",
)

# Evaluation days from the start of 2026 (the platform's first deliveries); Beijing days.
model_days = dg.DailyPartitionsDefinition(start_date="2026-01-01", timezone="Asia/Shanghai")


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    select=MODEL_LAYER,
    name="dz_rule_models",
    partitions_def=model_days,
    dagster_dbt_translator=translator,
    pool="dz_rule_models",
)
def dz_rule_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource) -> Any:
    """十四个业务实战模型按评估日运行（dbt run，as_of = 分区日），并报告各模型、各派出所的发现数。"""
    dsn = warehouse.resolved_dsn()
    apply_dbt_env(dsn)
    as_of = model_days.time_window_for_partition_key(context.partition_key).start.date()
    invocation = dbt.cli(["run", "--vars", dbt_vars(as_of)], context=context)
    yield from _with_counts(invocation.stream(), dsn, as_of)


def _with_counts(events, dsn: str, as_of) -> Iterator[Any]:
    """The dbt events in their order; the findings table's materialization carries the day's
    counts per model and per division / police station (read from the table just built)."""
    for event in events:
        if isinstance(event, dg.Output | dg.AssetMaterialization) and _unique_id(event) == FINDINGS_NODE:
            counts = day_breakdown(dsn, as_of)
            event = event.with_metadata({
                **event.metadata,
                "as_of": dg.MetadataValue.text(as_of.isoformat()),
                "dagster/row_count": dg.MetadataValue.int(sum(counts.per_model.values())),
                "findings_per_model": dg.MetadataValue.json(counts.per_model),
                "findings_per_station": dg.MetadataValue.json(counts.per_station),
            })
        elif isinstance(event, dg.Output | dg.AssetMaterialization) and _unique_id(event) == PRECISION_NODE:
            event = event.with_metadata({**event.metadata, "precision": dg.MetadataValue.json(
                [dataclasses.asdict(p) for p in precision(dsn)])})
        yield event


def _unique_id(event) -> str | None:
    uid = event.metadata.get("unique_id")
    return uid.value if uid is not None else None


@dg.asset_check(asset=FINDINGS_KEY, name="findings_count_jump", blocking=False,
                description="某模型当日发现数较前 7 日突增时告警（不阻断）。")
def findings_count_jump(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    jumps = count_jumps(warehouse.resolved_dsn())
    return dg.AssetCheckResult(
        passed=not jumps.jumps,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"as_of": dg.MetadataValue.text(str(jumps.as_of) if jumps.as_of else "—"),
                  "jumps": dg.MetadataValue.json([j._asdict() for j in jumps.jumps])},
        description="；".join(f"{j.model_code} 当日 {j.findings} 条，前 7 日平均 {j.mean_7d:.1f}" for j in jumps.jumps)
        or None,
    )
