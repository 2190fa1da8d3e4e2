"""The dbt project as Dagster assets: one ``DbtProject``, one translator, one ``@dbt_assets``.

Asset keys name the real relation, ``[schema, relation]`` (e.g. ``staging/stg_ods__ybss_bzdzmlxx``,
``serve/address_registry``), and the group is the model's layer folder. dbt sources resolve to
the ODS assets' keys (``ods/<table>``, from the sources' ``meta.dagster.asset_key``), so the graph
runs unbroken from the inbox to the topic libraries. dbt tests surface as asset checks.

The daily schedule (``schedules.py``) runs a plain ``dbt build``: the incremental models read only
what changed since their last run (person tracks and element anomalies by load time; core_person
and the person-grain topic/comparison tables by changed ID number, see
``dbt_project/macros/incremental/incremental.sql``); the weekly one passes ``full_refresh`` to rebuild them from
scratch (withdrawing track rows whose ODS rows were deleted).
"""


from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    DbtProject,
    dbt_assets,
)

from dz_assets.defs.resources import WarehouseResource
from dz_assets.defs.transform.project import dbt_project
from dz_assets.transform import apply_dbt_env, row_count

LAYERS = ("staging", "core", "topic", "element", "model", "serve")


class LayeredTranslator(DagsterDbtTranslator):
    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        node = manifest["nodes"].get(unique_id) or manifest["sources"].get(unique_id)
        if node is None or node["resource_type"] not in ("model", "seed", "snapshot"):
            return spec
        layer = node["fqn"][1] if len(node["fqn"]) > 2 and node["fqn"][1] in LAYERS else "staging"
        relation = node.get("alias") or node["name"]
        schema = node.get("schema") or layer
        return spec.replace_attributes(
            key=dg.AssetKey([schema, relation]),
            group_name=layer,
            kinds={"dbt", "postgres"},
        ).merge_attributes(
            # schema.relation without the database: the manifest's database is the one it was
            # parsed against, not necessarily the warehouse the definitions run on.
            metadata={"dagster/table_name": dg.MetadataValue.text(f"{schema}.{relation}")},
        )


class DbtBuildConfig(dg.Config):
    full_refresh: bool = False
    """Rebuild incremental models from scratch (weekly, or after a re-based FULL load)."""


translator = LayeredTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    # the rule models run per evaluation day, as their own partitioned assets (model_assets.py)
    exclude="path:models/model",
    dagster_dbt_translator=translator,
    retry_policy=dg.RetryPolicy(max_retries=2, delay=10),
)
def dz_dbt_models(context: dg.AssetExecutionContext, config: DbtBuildConfig, dbt: DbtCliResource,
                  warehouse: WarehouseResource) -> Any:
    """dbt build of the selected models (their tests run as asset checks), with row counts."""
    dsn = warehouse.resolved_dsn()
    apply_dbt_env(dsn)
    args = ["build", "--full-refresh"] if config.full_refresh else ["build"]
    invocation = dbt.cli(args, context=context)
    failed: list[str] = []
    yield from with_row_counts(context, invocation.stream(), invocation.manifest, dsn, failed)
    if failed:
        # The models were built and recorded; a count that fails means the warehouse is not what
        # the run thinks it is. Loud, and not retried: a rebuild would not change it.
        raise dg.Failure(description=f"dbt 构建完成，但 {len(failed)} 个表的行数查询失败：{'、'.join(failed)}",
                         allow_retries=False)


# Tables (not views: counting one runs its whole query) get their row count; two at a time while
# dbt goes on building, as dagster-dbt's own fetch_row_counts does.
COUNTED = ("table", "incremental", "snapshot", "seed")
COUNT_THREADS = 2


def with_row_counts(context: dg.AssetExecutionContext, events: Iterable[Any], manifest: Mapping[str, Any],
                    dsn: str, failed: list[str]) -> Iterator[Any]:
    """The dbt events in their order, each table's materialization with ``dagster/row_count``.

    Counts name ``schema.relation`` on the run's own warehouse (``row_count``), never the
    manifest's database-qualified ``relation_name``. A count that fails is logged as an error and
    its relation appended to ``failed`` for the caller to fail the step on."""

    def counted(event: Any) -> Any:
        if not isinstance(event, dg.Output | dg.AssetMaterialization) or "unique_id" not in event.metadata:
            return event
        node = manifest["nodes"].get(event.metadata["unique_id"].value)
        if node is None or node["config"].get("materialized") not in COUNTED:
            return event
        schema, relation = node["schema"], node.get("alias") or node["name"]
        try:
            n = row_count(dsn, schema, relation)
        except Exception as exc:  # noqa: BLE001 - reported and failed on by the caller
            context.log.error(f"行数查询失败 {schema}.{relation}: {exc}")
            failed.append(f"{schema}.{relation}")
            return event
        return event.with_metadata({**event.metadata, "dagster/row_count": dg.MetadataValue.int(n)})

    with ThreadPoolExecutor(max_workers=COUNT_THREADS, thread_name_prefix="dbt_row_count") as pool:
        pending: deque[Future] = deque()
        try:
            for event in events:
                pending.append(pool.submit(counted, event))
                while pending and pending[0].done():
                    yield pending.popleft().result()
        except Exception:
            # dbt failed part-way (the stream raises at the end): the models it did build are
            # still recorded before the failure propagates.
            while pending:
                yield pending.popleft().result()
            raise
        while pending:
            yield pending.popleft().result()

