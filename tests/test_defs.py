"""The Dagster definitions load from the checkout; every asset is grouped and described in Chinese;
asset keys name real relations ``[schema, relation]`` and are snapshotted."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

SNAPSHOT = Path(__file__).parent / "snapshots" / "asset_keys.txt"
CJK = re.compile(r"[\u4e00-\u9fff]")
SCHEMAS = {"meta", "raw", "raw_src", "ods", "staging", "core", "topic", "element", "model", "serve", "ecode"}


@pytest.fixture(scope="module")
def asset_graph():
    from dz_assets.definitions import defs

    return defs().resolve_asset_graph()


def test_definitions_load(asset_graph):
    assert len(list(asset_graph.get_all_asset_keys())) > 0


def test_every_asset_grouped_and_described_in_chinese(asset_graph):
    missing = []
    for key in asset_graph.get_all_asset_keys():
        node = asset_graph.get(key)
        if not node.group_name or node.group_name == "default":
            missing.append(f"{key.to_user_string()}: no group")
        if not CJK.search(node.description or ""):
            missing.append(f"{key.to_user_string()}: no Chinese description")
    assert not missing, "\n".join(sorted(missing))


def test_keys_name_relations(asset_graph):
    bad = [k.to_user_string() for k in asset_graph.get_all_asset_keys()
           if len(k.path) != 2 or k.path[0] not in SCHEMAS]
    assert not bad


def test_every_catalogue_table_has_an_ods_asset(asset_graph):
    from dz_assets.catalog import load_catalogue

    keys = {k.to_user_string() for k in asset_graph.get_all_asset_keys()}
    missing = [t.ods_name for t in load_catalogue().tables.values() if f"ods/{t.ods_name}" not in keys]
    assert not missing


def test_asset_keys_snapshot(asset_graph):
    """Renaming or dropping an asset breaks lineage for users: do it on purpose (update the file)."""
    keys = sorted(k.to_user_string() for k in asset_graph.get_all_asset_keys() if k.path[0] != "ods")
    assert SNAPSHOT.read_text(encoding="utf-8").split() == keys


def test_code_location_name_matches_the_workspace():
    """dg takes [tool.dg.project] code_location_name (else the checkout folder's name) and warns on
    every component load when it differs from the name workspace.yaml registers."""
    import tomllib

    import yaml

    root = Path(__file__).parents[1]
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["dg"]["project"]
    workspace = yaml.safe_load((root / "workspace.yaml").read_text(encoding="utf-8"))
    assert {e["python_module"]["location_name"] for e in workspace["load_from"]} == {project["code_location_name"]}
