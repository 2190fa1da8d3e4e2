"""INCR packages on the real PostgreSQL: a synthetic day of changes applied on top of its FULL
gives, per key, the last change of the day; re-applying is a no-op; a table fed by both
channels alerts."""

from __future__ import annotations

import pytest

from dz_assets.catalog import load_catalogue
from dz_assets.catalog.values import BEIJING
from dz_assets.ods.apply import apply_changes
from dz_assets.ods.changelog import Change, store_changes
from dz_assets.ods.rebase import rebase_after_full
from dz_assets.province.delivery.full_load import load_full
from dz_assets.province.delivery.incr_load import apply_incr_batch
from dz_assets.province.reader.package import open_package
from dz_assets.synth import write_package
from dz_assets.synth.changes import day_changes

PERSONS, SEED = 400, 11
TABLES = ["HZ_HJRKJBXX", "YBSS_SYRKXX", "ZHXQ_ZHXQRYJCJLXX"]


@pytest.fixture(scope="module")
def day(pg_dsn, tmp_path_factory):
    out = tmp_path_factory.mktemp("incr")
    full = write_package(out, persons=PERSONS, seed=SEED, kind="FULL", tables=TABLES, progress=None)
    pkg = open_package(full.zip_path)
    load_full(pg_dsn, pkg, delivery_id=None, batch_id=full.batch_id)
    import psycopg

    with psycopg.connect(pg_dsn) as conn:
        for t in TABLES:
            rebase_after_full(conn, t, pkg.index.seq, full.batch_id)
    incr = write_package(out, persons=PERSONS, seed=SEED, kind="INCR", tables=TABLES, nnnn=2,
                         prev="", progress=None)
    return full, incr


def test_incr_day_applies_last_change_per_key(pg_dsn, db, day):
    _, incr = day
    res = apply_incr_batch(pg_dsn, open_package(incr.zip_path), delivery_id=None, batch_id=incr.batch_id).as_json()
    changes = [c for c in day_changes(PERSONS, SEED, incr.batch_id.split("-")[2], "20261120") if c.table in TABLES]
    assert res["rows"]["total"] == len(changes) and res["rows"]["rejected"] == 0
    assert res["stored"] == len(changes)
    cat = load_catalogue()
    last: dict[tuple, object] = {}
    for c in changes:  # seq order
        last[(c.table, tuple(c.row[k] for k in cat.tables[c.table].key))] = c
    for (table, key), c in last.items():
        t = cat.tables[table]
        where = " and ".join(f"{k.lower()} = %s" for k in t.key)
        row = db.execute(f"select _deleted, _batch_id, _deleted_at from ods.{t.ods_name} where {where}", key).fetchone()
        assert row is not None, (table, key)
        assert row[0] is (c.op == "D") and row[1] == incr.batch_id
        if table == "HZ_HJRKJBXX" and c.op != "D":
            xm = db.execute(f"select xm from ods.{t.ods_name} where {where}", key).fetchone()[0]
            assert xm == c.row["XM"]  # a record corrected twice the same day: the later correction
    again = apply_incr_batch(pg_dsn, open_package(incr.zip_path), delivery_id=None, batch_id=incr.batch_id).as_json()
    assert again["stored"] == 0 and again["applied"] == 0


def test_table_fed_by_both_channels_alerts(pg_dsn, db, day):
    table = load_catalogue().tables["HZ_HJRKJBXX"]  # fed by the INCR above
    from datetime import datetime

    c = Change("both-1", table.code, "U", 2**62, datetime(2026, 11, 22, tzinfo=BEIJING), ("RBOTH",),
               {"RYBH": "RBOTH"})
    with db.transaction():
        store_changes(db, table, [c])
        apply_changes(db, table)
    n = db.execute("select count(*) from meta.alert where code = 'both_channels' and subject = %s",
                   (table.code,)).fetchone()[0]
    assert n == 1


def test_inbox_pipeline_applies_incr_in_order_and_reconciles(pg_dsn, db, tmp_path, monkeypatch):
    """FULL, then INCR day 2 delivered before INCR day 1 (it waits), then RECON: the inbox path
    loads, applies both INCRs in order and reconciles."""
    from dz_assets.province.delivery.pipeline import process_inbox
    from dz_assets.settings import get_settings

    inbox = get_settings().inbox
    kw = dict(persons=200, seed=41, source="CDCT", tables=["YBSS_SYRKXX"], progress=None)
    write_package(inbox, kind="FULL", **kw)
    [o.as_json() for o in process_inbox(dsn=pg_dsn)]
    first = write_package(tmp_path, kind="INCR", nnnn=2, prev="CDCT-FULL-20261120-0001", **kw)
    second = write_package(inbox, kind="INCR", date="20261122", nnnn=1, prev=first.batch_id, **kw)
    out = {r["batch_id"]: r["status"] for r in [o.as_json() for o in process_inbox(dsn=pg_dsn)]}
    assert out[second.batch_id] == "waiting"
    for p in (first.zip_path, first.marker_path):
        p.rename(inbox / p.name)
    out = {r["batch_id"]: r for r in [o.as_json() for o in process_inbox(dsn=pg_dsn)]}
    assert out[first.batch_id]["status"] == "applied" and out[first.batch_id]["released"] == [second.batch_id]
    status = dict(db.execute("select batch_id, status from meta.batch where source = 'CDCT'").fetchall())
    assert status[second.batch_id] == "applied"
    recon = write_package(inbox, kind="RECON", nnnn=3, **kw)
    res = {r["batch_id"]: r for r in [o.as_json() for o in process_inbox(dsn=pg_dsn)]}[recon.batch_id]
    assert res["status"] == "applied"
    # everything that differs from the FULL day's figures was changed after as_of: in flight
    assert res["recon"]["differing_keys"] == 0 and res["recon"]["in_flight_keys"] > 0


def test_an_applied_incr_reports_no_stale_reason(pg_dsn, dirs, tmp_path):
    """An INCR applied in the same pass says so; the parking step's reason is not its outcome."""
    from dz_assets.province.delivery.pipeline import process_package
    from dz_assets.synth import write_package

    full = write_package(tmp_path, persons=200, seed=77, kind="FULL", source="RSN", date="20261120", nnnn=1)
    incr = write_package(tmp_path, persons=200, seed=77, kind="INCR", source="RSN", date="20261121", nnnn=1)
    assert process_package(full.zip_path, dsn=pg_dsn).as_json()["status"] == "loaded"
    out = process_package(incr.zip_path, dsn=pg_dsn).as_json()
    assert out["status"] == "applied"
    assert out.get("reason") is None
