"""The project's Dagster instance keeps runs in PostgreSQL (dagster-postgres), and an asset
materializes through it against the real warehouse."""

from __future__ import annotations

import psycopg
import pytest


@pytest.fixture
def dagster_home(pg_dsn, pg_server_dsn, monkeypatch):
    from dz_assets.db import database_name
    from dz_assets.instance import dagster_database_url, prepare_dagster_home

    for var in ("DAGSTER_HOME", "DZ_DAGSTER_PG_URL", "DZ_DAGSTER_COMPUTE_LOGS"):
        monkeypatch.delenv(var, raising=False)
    home = prepare_dagster_home(pg_dsn)
    yield home
    for var in ("DAGSTER_HOME", "DZ_DAGSTER_PG_URL", "DZ_DAGSTER_COMPUTE_LOGS"):
        monkeypatch.delenv(var, raising=False)
    with psycopg.connect(pg_server_dsn, autocommit=True) as conn:
        conn.execute(f'drop database if exists "{database_name(dagster_database_url(pg_dsn))}" with (force)')


def test_catalogue_asset_materializes_into_postgres_run_storage(dagster_home, pg_dsn):
    import dagster as dg

    from dz_assets.defs.catalog.assets import code_table
    from dz_assets.defs.resources import WarehouseResource

    with dg.DagsterInstance.get() as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        result = dg.materialize([code_table], instance=instance,
                                resources={"warehouse": WarehouseResource(dsn=pg_dsn)})
        assert result.success
        runs = instance.get_runs()
        assert runs and runs[0].run_id == result.run_id
        mat = instance.get_latest_materialization_event(dg.AssetKey(["meta", "code_table"]))
        assert mat.asset_materialization.metadata["tables"].value == 143
