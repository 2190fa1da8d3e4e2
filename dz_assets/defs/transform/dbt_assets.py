"""The dbt project as Dagster assets: one ``DbtProject``, one translator, one ``@dbt_assets``.

Asset keys name the real relation, ``[schema, relation]`` (e.g. ``staging/stg_ods__ybss_bzdzmlxx``,
``serve/address_registry``), and the group is the model's layer folder. dbt sources resolve to
the ODS assets' keys (``ods/<table>``, from the sources' ``meta.dagster.asset_key``), so the graph
runs unbroken from the inbox to the topic libraries. dbt tests surface as asset checks.

The daily schedule (``schedules.py``) runs a plain ``dbt build``: the incremental models read only
what changed since their last run (person tracks and element anomalies by load time; core_person
and the person-grain topic/comparison tables by changed ID number, see
``dbt_project/macros/incremental.sql``); the weekly one passes ``full_refresh`` to rebuild them from
scratch (withdrawing track rows whose ODS rows were deleted).
"""


from collections.abc import Mapping
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
from dz_assets.transform import apply_dbt_env

LAYERS = ("staging", "core", "topic", "element", "model", "serve")


class LayeredTranslator(DagsterDbtTranslator):
    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        node = manifest["nodes"].get(unique_id) or manifest["sources"].get(unique_id)
        if node is None or node["resource_type"] not in ("model", "seed", "snapshot"):
            return spec
        layer = node["fqn"][1] if len(node["fqn"]) > 2 and node["fqn"][1] in LAYERS else "staging"
        relation = node.get("alias") or node["name"]
        return spec.replace_attributes(
            key=dg.AssetKey([node.get("schema") or layer, relation]),
            group_name=layer,
            kinds={"dbt", "postgres"},
        )


class DbtBuildConfig(dg.Config):
    full_refresh: bool = False
    """Rebuild incremental models from scratch (weekly, or after a re-based FULL load)."""


translator = LayeredTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=translator,
    retry_policy=dg.RetryPolicy(max_retries=2, delay=10),
)
def dz_dbt_models(context: dg.AssetExecutionContext, config: DbtBuildConfig, dbt: DbtCliResource,
                  warehouse: WarehouseResource) -> Any:
    """dbt build of the selected models (their tests run as asset checks), with row counts."""
    apply_dbt_env(warehouse.resolved_dsn())
    args = ["build", "--full-refresh"] if config.full_refresh else ["build"]
    yield from dbt.cli(args, context=context).stream().fetch_row_counts()
