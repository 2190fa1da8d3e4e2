"""Reconciliation of a RECON package against a deliberately diverged city: dz-hub's own figures
agree bucket for bucket with the province's while nothing diverged, and afterwards name exactly
the planted differing keys (a changed value, a row deleted only here, a row only here), report a
key changed after ``as_of`` as in flight, store the result and write the repair request."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from pathlib import Path

import psycopg
import pytest

from dz_assets.catalog import load_catalogue
from dz_assets.catalog.bucket_figures import bucket_of
from dz_assets.catalog.values import BEIJING
from dz_assets.ods.apply import apply_changes
from dz_assets.ods.changelog import Change, store_changes
from dz_assets.ods.rebase import rebase_after_full
from dz_assets.province.delivery.full_load import load_full
from dz_assets.province.delivery.recon_package import reconcile_package
from dz_assets.province.reader.package import open_package
from dz_assets.synth import write_package

PERSONS, SEED, TABLE = 300, 23, "HZ_HJRKJBXX"


@pytest.fixture(scope="module")
def city(pg_dsn, tmp_path_factory):
    out = tmp_path_factory.mktemp("recon")
    full = write_package(out, persons=PERSONS, seed=SEED, kind="FULL", tables=[TABLE], progress=None)
    pkg = open_package(full.zip_path)
    with psycopg.connect(pg_dsn) as conn:  # changes other tests logged would be re-applied on top
        if conn.execute("select to_regclass('raw.hz_hjrkjbxx__changes')").fetchone()[0]:
            conn.execute("truncate raw.hz_hjrkjbxx__changes")
        conn.execute("delete from meta.cdc_table_state where table_code = %s", (TABLE,))
        conn.execute("delete from meta.cdc_kept where table_code = %s", (TABLE,))
    load_full(pg_dsn, pkg, delivery_id=None, batch_id=full.batch_id)
    with psycopg.connect(pg_dsn) as conn:
        rebase_after_full(conn, TABLE, pkg.index.seq, full.batch_id)
    recon = write_package(out, persons=PERSONS, seed=SEED, kind="RECON", tables=[TABLE], nnnn=2, progress=None)
    return pkg, open_package(recon.zip_path)


def test_recon_names_exactly_the_planted_keys(pg_dsn, db, city):
    full, recon = city
    clean = reconcile_package(pg_dsn, recon, delivery_id=None, batch_id=recon.batch_id).as_json()
    assert clean["differing_buckets"] == 0 and clean["differing_keys"] == 0 and clean["repair_request"] is None

    keys = [r[0] for r in db.execute("select rybh from ods.hz_hjrkjbxx order by rybh").fetchall()]
    per_bucket = Counter(bucket_of(k) for k in keys)
    alone = [k for k in keys if per_bucket[bucket_of(k)] == 1]  # a planted key must be alone in its bucket
    changed, deleted, flight = alone[0], alone[1], alone[2]
    extra = next(f"R9{i:018d}" for i in range(10**6) if per_bucket[bucket_of(f"R9{i:018d}")] == 0)
    db.execute("update ods.hz_hjrkjbxx set xm = xm || '改' where rybh = %s", (changed,))
    db.execute("update ods.hz_hjrkjbxx set _deleted = true, _deleted_at = now() where rybh = %s", (deleted,))
    db.execute("insert into ods.hz_hjrkjbxx (rybh, xm, _batch_id) values (%s, '多余', 'X')", (extra,))
    db.commit()
    table = load_catalogue().tables[TABLE]
    late = Change("recon-late", TABLE, "U", full.index.seq + 10, datetime(2026, 11, 20, 9, tzinfo=BEIJING),
                  (flight,), {"RYBH": flight, "XM": "在途"})
    with db.transaction():
        store_changes(db, table, [late])
        apply_changes(db, table)

    res = reconcile_package(pg_dsn, recon, delivery_id=None, batch_id=recon.batch_id).as_json()
    t = res["tables"][TABLE]
    assert sorted(t["differing_keys"]) == sorted([changed, deleted, extra])
    assert t["in_flight_keys"] == [flight]
    assert sorted(t["differing_buckets"]) == sorted(bucket_of(k) for k in (changed, deleted, extra))
    stored = db.execute("select state, pk_text, local from meta.recon_key where recon_id = %s order by 2",
                        (t["recon_id"],)).fetchall()
    assert {(s, k) for s, k, _ in stored} == {("differing", changed), ("differing", deleted),
                                             ("differing", extra), ("in_flight", flight)}
    run = db.execute("select keys_differing, keys_in_flight, rows_province, rows_local from meta.recon_run "
                     "where recon_id = %s", (t["recon_id"],)).fetchone()
    assert run[:2] == (3, 1) and run[2] == len(keys) and run[3] == len(keys)  # -1 deleted, +1 extra
    repair = json.loads(Path(res["repair_request"]).read_text(encoding="utf-8"))
    (rt,) = repair["tables"]
    assert sorted(k["RYBH"] for k in rt["keys"]) == sorted([changed, deleted, extra])
