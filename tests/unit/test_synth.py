"""The synthetic city: deterministic bytes, valid ID numbers, Dazhou addresses, consistent
people, and packages that pass an independent strict reading of spec/package-format.md."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from support.synth_reader import read_package

from dz_assets.catalog import load_catalogue
from dz_assets.catalog.idcard import is_valid_id
from dz_assets.synth import iter_rows, write_package, write_packages
from dz_assets.synth.geography import COUNTIES

PERSONS, SEED = 2500, 11
DZHUB = str(Path(sys.executable).parent / "dzhub")
MODEL_TABLES = ("HZ_HJRKJBXX", "HZ_SWZXHKXX", "HZ_CGJDJZXHKXX", "HZ_QHCXX", "HZ_XSJJLHXX", "YBSS_SYRKXX",
                "YBSS_BZDZJLXXX", "YBSS_BZDZMLXX", "YBSS_BZDZCHXX", "ZHXQ_ZHXQJCXX", "ZHXQ_ZHXQRYZCXX",
                "ZHXQ_ZHXQRYJCJLXX", "ZDR_TDDXSXXX", "ZDR_GARYJHRXX", "ZDR_GARYFXPDXX", "ZDR_TDDXRYJZGJXX",
                "EZC_MDJFFXYHJBXX", "EZC_MDJFFXYHDSRXX", "EZC_RHZFJBXX", "EZC_RHZFRYXX", "YBSS_AJXX")


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    infos = write_packages(out, persons=PERSONS, seed=SEED, days=2, records_per_file=700, progress=None)
    recon = write_package(out, persons=PERSONS, seed=SEED, kind="RECON", nnnn=2, progress=None)
    return infos, recon


@pytest.fixture(scope="module")
def full(series):
    return read_package(series[0][0].zip_path, keep_rows=True)


def test_same_seed_same_bytes_even_under_another_hash_seed(tmp_path, series):
    first = series[0][0]
    again = write_package(tmp_path / "a", persons=PERSONS, seed=SEED, records_per_file=700, progress=None)
    assert again.zip_path.read_bytes() == first.zip_path.read_bytes()
    assert again.marker_path.read_bytes() == first.marker_path.read_bytes()
    env = dict(os.environ, PYTHONHASHSEED="4242")
    subprocess.run([DZHUB, "synth", "packages", "--out", str(tmp_path / "b"),
                    "--persons", "600", "--seed", "5"], check=True, env=env, capture_output=True)
    env["PYTHONHASHSEED"] = "7"
    subprocess.run([DZHUB, "synth", "packages", "--out", str(tmp_path / "c"),
                    "--persons", "600", "--seed", "5"], check=True, env=env, capture_output=True)
    name = "SCGA-FULL-20261120-0001.zip"
    assert (tmp_path / "b" / name).read_bytes() == (tmp_path / "c" / name).read_bytes()
    other = write_package(tmp_path / "d", persons=600, seed=6, progress=None)
    assert other.sha256 != hashlib.sha256((tmp_path / "b" / name).read_bytes()).hexdigest()


def test_full_passes_strict_reading(series, full):
    info = series[0][0]
    assert full.problems == []
    assert full.batch["kind"] == "FULL" and full.batch["seq"].isdigit()
    assert info.marker_path.read_text() == info.sha256 + "\n"
    cat = load_catalogue()
    assert {ds["table"] for ds in full.datasets} == set(cat.tables)  # all 143 tables
    hz = [ds for ds in full.datasets if ds["table"] == "HZ_HJRKJBXX"][0]
    assert len(hz["files"]) >= 2  # split at records_per_file
    assert {ds["table"]: sum(int(r) for _, r, _ in ds["files"]) for ds in full.datasets} == info.tables
    assert full.objects and all(p.startswith("files/XP/") for p in full.objects)
    for code in MODEL_TABLES:
        assert info.tables[code] > 0, code
    rows = sum(info.tables.values())
    assert 5 * PERSONS < rows < 15 * PERSONS


def test_ids_pass_gb11643_and_are_unique(full):
    cat = load_catalogue()
    regions = set(cat.code_tables["GB/T 2260"].codes)
    seen = 0
    for table, rows in full.rows.items():
        idfields = [f.code for f in cat.tables[table].fields if f.type == "idcard"]
        for values, _, _ in rows:
            for f in idfields:
                if values.get(f):
                    assert is_valid_id(values[f], regions=regions), (table, f, values[f])
                    seen += 1
    assert seen > PERSONS
    for table in ("HZ_HJRKJBXX", "YBSS_SYRKXX"):
        ids = Counter(v["GMSFHM"] for v, _, _ in full.rows[table])
        assert max(ids.values()) == 1, ids.most_common(3)


def test_addresses_are_in_dazhou_and_linked(full):
    names = {c: n for c, (n, _) in COUNTIES.items()}
    levels = {}
    for table in ("YBSS_BZDZJLXXX", "YBSS_BZDZMLXX", "YBSS_BZDZCHXX"):
        rows = [v for v, _, _ in full.rows[table]]
        codes = [v["DZBM"] for v in rows]
        assert len(codes) == len(set(codes))
        levels[table] = set(codes)
        for v in rows:
            assert v["XZQHDM"] in names
            assert v["DZMC"].startswith("四川省达州市" + names[v["XZQHDM"]])
            # jurisdiction is a 派出所 of the address's own county, never a county bureau
            assert v["GAJGJGDM"] in load_catalogue().police_stations(v["XZQHDM"])
        assert Counter(v["DZZTDM"] for v in rows).most_common(1)[0][0] == "1"
    assert all(v["SJDZBM"] in levels["YBSS_BZDZJLXXX"] for v, _, _ in full.rows["YBSS_BZDZMLXX"])
    assert all(v["SJDZBM"] in levels["YBSS_BZDZMLXX"] for v, _, _ in full.rows["YBSS_BZDZCHXX"])
    rooms = levels["YBSS_BZDZCHXX"]
    assert all(v["HJDZ_DZBM"] in rooms for v, _, _ in full.rows["HZ_HJRKJBXX"])
    assert all(v["JZDZ_DZBM"] in rooms for v, _, _ in full.rows["YBSS_SYRKXX"])
    assert {v["RYLBDM"] for v, _, _ in full.rows["YBSS_SYRKXX"]} >= {"1", "2"}  # 户籍 and 流动人口


def test_people_and_their_cancellations_agree(full):
    status = {v["GMSFHM"]: v["RYZTDM"] for v, _, _ in full.rows["HZ_HJRKJBXX"]}
    for table, code in (("HZ_SWZXHKXX", "2"), ("HZ_QHCXX", "3"), ("HZ_CGJDJZXHKXX", "4")):
        ids = {v["GMSFHM"] for v, _, _ in full.rows[table]}
        assert ids and all(status[i] == code for i in ids)
        assert ids == {i for i, s in status.items() if s == code}
    assert Counter(status.values()).most_common(1)[0][0] == "1"
    access = [v for v, _, _ in full.rows["ZHXQ_ZHXQRYJCJLXX"]]
    days = {v["CRSJ"][:8] for v in access}
    assert len(days) >= 30 and max(days) < "20261120"


def test_incr_series_chains_and_passes(series):
    _, d1, d2 = series[0]
    r1, r2 = read_package(d1.zip_path, keep_rows=True), read_package(d2.zip_path, keep_rows=True)
    assert r1.problems == [] and r2.problems == []
    assert r1.batch["prev"] == "" and r2.batch["prev"] == d1.batch_id
    ops = Counter(op for rows in r1.rows.values() for _, op, _ in rows)
    assert set(ops) == {"I", "U", "D"}
    assert all(ts.startswith("20261121") for rows in r1.rows.values() for _, _, ts in rows)


def test_recon_matches_figures_computed_from_the_full(series, full):
    r = read_package(series[1].zip_path, keep_rows=True)
    assert r.problems == []
    cat = load_catalogue()
    for table in ("HZ_HJRKJBXX", "YBSS_BZDZCHXX", "ZHXQ_ZHXQRYJCJLXX"):
        t = cat.tables[table]
        buckets: dict[int, list[int]] = {}
        for values, _, _ in full.rows[table]:
            pk = "|".join(values.get(k) or "" for k in t.key)
            b = int(hashlib.sha256(pk.encode()).hexdigest()[:4], 16) % 1024
            row = "\t".join(values.get(f.code) or "" for f in t.fields)
            h = int.from_bytes(hashlib.sha256(row.encode()).digest()[:8], "big")
            cur = buckets.setdefault(b, [0, 0])
            cur[0] += 1
            cur[1] ^= h
        assert sorted(r.rows[table]) == [(b, n, f"{x:016x}") for b, (n, x) in sorted(buckets.items())]


def test_gb18030_and_crlf_read_back_the_same(tmp_path):
    tables = ["HZ_HJRKJBXX", "YBSS_BZDZCHXX"]
    base = read_package(write_package(tmp_path / "u", persons=400, seed=2, tables=tables, progress=None).zip_path,
                        keep_rows=True)
    for kw in ({"encoding": "GB18030"}, {"crlf": True}, {"encoding": "GB18030", "crlf": True}):
        info = write_package(tmp_path / str(sorted(kw.items())), persons=400, seed=2, tables=tables,
                             progress=None, **kw)
        r = read_package(info.zip_path, keep_rows=True)
        assert r.problems == [] and r.rows == base.rows
        if kw.get("encoding"):
            assert [ds["encoding"] for ds in r.datasets] == ["GB18030", "GB18030"]


@pytest.mark.parametrize("table", ["YBSS_BZDZCHXX", "HZ_HJRKJBXX", "ZHXQ_ZHXQRYJCJLXX", "ZHXQ_ZHXQRYZCXX",
                                   "EZC_MDJFFXYHDSRXX", "HZ_HXX"])
def test_one_table_alone_has_the_rows_of_the_whole_city(full, table):
    rows = [{k: v for k, v in r.items()} for r in iter_rows(table, PERSONS, SEED)]
    assert rows and rows == [v for v, _, _ in full.rows[table]]


def test_messages_describe_the_same_day_as_the_incr(series):
    import json

    from dz_assets.synth import iter_messages

    d1 = read_package(series[0][1].zip_path, keep_rows=True)
    incr = sorted((t, op, ts, tuple(sorted((k, v) for k, v in values.items() if v is not None)))
                  for t, rows in d1.rows.items() for values, op, ts in rows)
    msgs = []
    for m in iter_messages(persons=PERSONS, seed=SEED, batch_size=5):
        for e in json.loads(m.body):
            data = e.get("data") or e["pk"]
            ts = e["ts"][:19].replace("-", "").replace("T", "").replace(":", "")
            msgs.append((e["table"], e["op"], ts, tuple(sorted((k, v) for k, v in data.items() if v is not None))))
    assert sorted(msgs) == incr


def test_changes_name_the_persons_of_the_full(series, full):
    ids = {v["RYBH"]: v["GMSFHM"] for v, _, _ in full.rows["HZ_HJRKJBXX"]}
    d1 = read_package(series[0][1].zip_path, keep_rows=True)
    updated = [(v["RYBH"], v["GMSFHM"]) for v, op, _ in d1.rows["HZ_HJRKJBXX"] if op == "U"]
    assert updated and all(ids[r] == g for r, g in updated)
    born = [v for v, op, _ in d1.rows["HZ_HJRKJBXX"] if op == "I"]
    assert all(v["RYBH"] not in ids and v["GMSFHM"] not in ids.values() for v in born)


def test_cli_json_is_one_object_on_stdout(tmp_path):
    import json

    proc = subprocess.run([DZHUB, "synth", "packages", "--out", str(tmp_path), "--persons", "400", "--seed", "1",
                           "--kind", "INCR", "--defect", "flag_code_unknown", "--json"],
                          check=True, capture_output=True, text=True)
    out = json.loads(proc.stdout)
    assert out["batch_id"] == "SCGA-INCR-20261121-0001" and out["prev"] == ""
    assert Path(out["zip"]).exists() and Path(out["marker"]).read_text().strip() == out["sha256"]
    assert out["planted"][0]["defect"] == "flag_code_unknown" and Path(out["planted_file"]).exists()
    assert "SCGA-INCR-20261121-0001" in proc.stderr
    bad = subprocess.run([DZHUB, "synth", "packages", "--out", str(tmp_path), "--persons", "10", "--seed", "1",
                          "--defect", "nonsense"], capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown defect" in bad.stderr


def test_change_seqs_grow_past_the_full_and_across_days(series):
    import json

    from dz_assets.synth import iter_messages

    full_seq = int(series[0][0].seq)
    days = []
    for date in ("20261121", "20261122"):
        seqs = [json.loads(m.body)["seq"] for m in iter_messages(persons=PERSONS, seed=SEED, date=date)]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
        days.append(seqs)
    assert full_seq < days[0][0] and days[0][-1] < days[1][0] < 2**63


def test_list_defects_works_alone():
    """--list-defects needs no --out, --persons or --seed: it only lists."""
    from dz_assets.synth import ALL_DEFECTS

    out = subprocess.run([DZHUB, "synth", "packages", "--list-defects"], capture_output=True, text=True, check=True)
    assert out.stdout.split() == list(ALL_DEFECTS)
