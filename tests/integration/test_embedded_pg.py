"""Where no PostgreSQL answers, dz-hub starts an embedded one (pgserver's binaries, as root too),
listening on 127.0.0.1, and the whole schema initialises on it."""

from __future__ import annotations

import warnings

import psycopg


def test_embedded_postgres_starts_initialises_and_stops(tmp_path):
    warnings.simplefilter("ignore")
    from dz_assets.db.embedded import start_embedded, status_running, stop_embedded
    from dz_assets.db.init import init_database

    pgdata = tmp_path / "pgdata"
    url = start_embedded(pgdata)
    try:
        assert url.startswith("postgresql://postgres@127.0.0.1:")
        assert start_embedded(pgdata) == url  # found running, not started twice
        report = init_database(url)
        assert report.database_created and report.migrations_applied
        with psycopg.connect(url) as conn:
            assert conn.execute("show server_version").fetchone()[0].startswith("16")
            assert conn.execute("select count(*) from meta.catalogue_table").fetchone()[0] == 143
    finally:
        assert stop_embedded(pgdata)
    assert not status_running(pgdata)
