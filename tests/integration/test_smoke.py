"""Smoke: the main job (`dzhub demo`'s code path) materializes every asset that exists, on a tiny
synthetic city, through a PostgreSQL-backed Dagster instance, with every check passing."""

from __future__ import annotations

import os
import secrets

import psycopg
import pytest


@pytest.fixture
def own_warehouse(pg_server_dsn, tmp_path, monkeypatch):
    """A database and state folder of this test's own: the main job must pass on a fresh
    warehouse, whatever other tests of the session planted in theirs (RECON differences …)."""
    from dz_assets.db import database_name, with_database
    from dz_assets.instance import dagster_database_url

    dsn = with_database(pg_server_dsn, f"dzhub_smoke_{os.getpid()}_{secrets.token_hex(3)}")
    monkeypatch.setenv("DZ_PG_DSN", dsn)
    monkeypatch.setenv("DZ_STATE_DIR", str(tmp_path / "state"))
    for var in ("DAGSTER_HOME", "DZ_DAGSTER_PG_URL", "DZ_DAGSTER_COMPUTE_LOGS"):
        monkeypatch.delenv(var, raising=False)
    yield dsn
    for var in ("DAGSTER_HOME", "DZ_DAGSTER_PG_URL", "DZ_DAGSTER_COMPUTE_LOGS"):
        monkeypatch.delenv(var, raising=False)
    with psycopg.connect(pg_server_dsn, autocommit=True) as conn:
        for name in (database_name(dsn), database_name(dagster_database_url(dsn))):
            conn.execute(f'drop database if exists "{name}" with (force)')


def test_demo_materializes_every_asset_on_a_tiny_city(own_warehouse):
    from dz_assets.cli.demo import run_demo
    from dz_assets.definitions import defs

    report = run_demo(persons=1200, seed=7)
    assert report.ok, report.runs
    assert report.checks_failed == []
    assert report.checks_passed > 0
    assert report.rows_per_layer["ods"] > 1200
    assert report.rows_per_layer["serve"] > 0

    graph = defs().resolve_asset_graph()
    import dagster as dg

    with dg.DagsterInstance.get() as instance:
        unmaterialized = [
            k.to_user_string() for k in graph.get_all_asset_keys()
            if graph.get(k).is_materializable and graph.get(k).partitions_def is None
            and instance.get_latest_materialization_event(k) is None
        ]
    assert unmaterialized == []

    # Running the main job again delivers the next batch (a re-base), and everything still passes.
    again = run_demo(persons=1200, seed=7)
    assert again.ok, (again.runs, again.ecode)
    assert again.checks_failed == []
    assert again.packages == ["SCGA-FULL-20261120-0002"]
    # The same city again: every layer holds the same rows (the dbt layers count models only, not
    # the incremental models' bookkeeping tables, which a re-base fills with every key).
    assert again.rows_per_layer == report.rows_per_layer
