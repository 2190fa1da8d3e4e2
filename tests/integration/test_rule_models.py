"""The fourteen rule models on a small synthetic city loaded through the real province loader and
run through the commands of spec/rule-models.md ("Interfaces"): every planted positive found,
no near miss reported, re-runs and back-fills agree, versions follow the rules, evidence names
rows that exist."""

from __future__ import annotations

import csv
import io
import json
import os
import secrets
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import psycopg
import pytest

from dz_assets.catalog import load_catalogue
from dz_assets.catalog.idcard import make_id
from dz_assets.db import with_database
from dz_assets.db.init import init_database
from dz_assets.rules.findings import read_findings
from dz_assets.rules.run import run_models
from dz_assets.synth import write_package
from dz_assets.synth.planted_models import planted_as_of, planted_model_cases

PERSONS = 1500  # the planted cases do not depend on the city's size; the city is the background
SEED = 7
CITY_DATE = "20261120"
D = date.fromisoformat(planted_as_of(CITY_DATE))
DZHUB = str(Path(sys.executable).with_name("dzhub"))
VOLATILE = ("evaluated_at",)
STATUS_ONLY = make_id("511700", "19500505", 998, "2")  # region and order code no city person draws


def _dzhub(*args: str, dsn: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, DZ_PG_DSN=dsn or os.environ["DZ_PG_DSN"])
    done = subprocess.run([DZHUB, *args], capture_output=True, env=env)
    if done.returncode:
        pytest.fail(f"dzhub {' '.join(args)} exited {done.returncode}:\n"
                    f"{done.stdout.decode(errors='replace')[-3000:]}\n{done.stderr.decode(errors='replace')[-3000:]}")
    return done


def _subject(row: dict) -> tuple:
    return row["model_code"], row["subject_gmsfhm"], row["subject_dzbm"]


@pytest.fixture(scope="module")
def rule_dsn(pg_server_dsn, pg_dsn):
    """A warehouse of this module alone: its FULL package is the city, whatever other modules load."""
    name = f"dzhub_rules_{os.getpid()}_{secrets.token_hex(3)}"
    dsn = with_database(pg_server_dsn, name)
    init_database(dsn)
    yield dsn
    with psycopg.connect(pg_server_dsn, autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')


@pytest.fixture(scope="module")
def city(rule_dsn, tmp_path_factory):
    pg_dsn = rule_dsn
    out = tmp_path_factory.mktemp("rule_city")
    info = write_package(out, persons=PERSONS, seed=SEED, date=CITY_DATE, progress=None)
    loaded = _dzhub("package", "load", str(info.zip_path), "--json", dsn=pg_dsn)
    assert json.loads(loaded.stdout)["status"] == "loaded"
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        # ZX01's other branch, which the consistent city never has: status 死亡 without a death record
        room = conn.execute("select dzbm from ods.ybss_bzdzchxx order by dzbm limit 1").fetchone()[0]
        conn.execute("insert into ods.hz_hjrkjbxx (rybh, gmsfhm, xm, ryztdm, hjdz_dzbm, djsj, _batch_id, _file, _line) "
                     "values ('PL-ZX01', %s, '测死', '2', %s, '2020-01-01', 'PL', 'PL', 1)", (STATUS_ONLY, room))
        conn.execute("insert into ods.ybss_syrkxx (syrkbh, gmsfhm, xm, rylbdm, jzdz_dzbm, djrq, zxbs, _batch_id, _file, _line) "
                     "values ('PL-ZX01', %s, '测死', '1', %s, '2020-01-01', '0', 'PL', 'PL', 1)", (STATUS_ONLY, room))
    ran = json.loads(_dzhub("models", "run", "--as-of", D.isoformat(), "--json", dsn=pg_dsn).stdout)
    return {"dsn": pg_dsn, "run": ran}


def test_models_run_json_is_the_interface(city):
    ran = city["run"]
    assert set(ran) == {"as_of", "findings", "duration_s"}
    assert ran["as_of"] == D.isoformat()
    assert sorted(ran["findings"]) == sorted(["XZ01", "XZ02", "XZ03", "ZX01", "ZX02", "ZX03", "YJ01", "YJ02",
                                              "YJ03", "YJ04", "YJ05", "YJ06", "YJ07", "YJ08"])


def test_every_planted_positive_found_and_no_near_miss(city, capsys):
    rows = read_findings(city["dsn"], D)
    by_person = {(r["model_code"], r["subject_gmsfhm"]): r for r in rows if r["subject_gmsfhm"]}
    by_place = {(r["model_code"], r["subject_dzbm"]): r for r in rows if not r["subject_gmsfhm"]}
    table: dict[str, list[int]] = {}
    wrong = []
    for case in planted_model_cases(SEED, CITY_DATE):
        found = (by_person.get((case.model_code, case.subject_gmsfhm)) if case.subject_gmsfhm
                 else by_place.get((case.model_code, case.subject_dzbm)))
        counts = table.setdefault(case.model_code, [0, 0, 0, 0])
        if case.kind == "positive":
            counts[0] += 1
            counts[1] += found is not None
            if found is None or found["subject_dzbm"] != case.subject_dzbm:
                wrong.append(f"{case.model_code} positive missed or misplaced: {case.note}")
        else:
            counts[2] += 1
            counts[3] += found is not None
            if found is not None:
                wrong.append(f"{case.model_code} near miss reported: {case.note}")
    totals = {}
    for r in rows:
        totals[r["model_code"]] = totals.get(r["model_code"], 0) + 1
    with capsys.disabled():
        print(f"\nrule models on the synthetic city (seed {SEED}, {PERSONS} persons, as of {D}):")
        print("model  positives found  near misses reported  findings")
        for code in sorted(table):
            p, f, n, r = table[code]
            print(f"{code}   {f:>3}/{p:<3}            {r:>3}/{n:<3}                 {totals.get(code, 0)}")
    assert not wrong, wrong
    assert len(table) == 14
    assert ("ZX01", STATUS_ONLY) in by_person  # status 死亡 without a record: no activity at all


def test_rerun_gives_identical_findings(city):
    before = [{k: v for k, v in r.items() if k not in VOLATILE} for r in read_findings(city["dsn"], D)]
    run_models(city["dsn"], D)
    after = [{k: v for k, v in r.items() if k not in VOLATILE} for r in read_findings(city["dsn"], D)]
    assert after == before


def _history(dsn: str) -> dict[tuple, dict[date, date]]:
    """The findings history per subject: its days and the first_seen each carries."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("select model_code, subject_gmsfhm, subject_dzbm, as_of, first_seen "
                            "from model.mdl_findings").fetchall()
    out: dict[tuple, dict[date, date]] = {}
    for code, gm, dz, as_of, first_seen in rows:
        out.setdefault((code, gm, dz), {})[as_of] = first_seen
    return out


def test_backfill_out_of_order_gives_the_first_seen_of_in_order(city):
    earlier = D - timedelta(days=1)
    run_models(city["dsn"], earlier)  # D ran first: an out-of-order back-fill
    seen = _history(city["dsn"])
    for subject, days in seen.items():
        assert set(days.values()) == {min(days)}, subject  # every row: the subject's earliest day
    moved = sum(1 for days in seen.values() if D in days and days[D] == earlier)
    assert moved > 0  # subjects that fired on both days now date from the earlier one
    for f in read_findings(city["dsn"], earlier):  # and last_seen, read from the history, is the latest
        days = seen[(f["model_code"], f["subject_gmsfhm"], f["subject_dzbm"])]
        assert (f["first_seen"], f["last_seen"]) == (min(days), max(days))
    # first_seen survives a re-run of the later day
    run_models(city["dsn"], D)
    assert _history(city["dsn"]) == seen
    # a re-run of the earlier day that no longer fires for XZ01's subjects gives their first day back
    run_models(city["dsn"], earlier, {"xz01_min_days": 99})
    try:
        now = _history(city["dsn"])
        dropped = [s for s, days in seen.items() if earlier in days and earlier not in now.get(s, {})]
        assert any(D in seen[s] for s in dropped)
        for s in dropped:
            assert set(now.get(s, {}).values()) <= {D}, s
        for s, days in now.items():
            assert set(days.values()) == {min(days)}, s
    finally:
        run_models(city["dsn"], earlier)
    assert _history(city["dsn"]) == seen


def test_a_history_of_the_earlier_shape_is_brought_to_this_one(city):
    """A warehouse whose history kept last_seen on every row, and no subject_key: the next run
    drops the one, fills the other, and keeps every row's first_seen."""
    before = _history(city["dsn"])
    with psycopg.connect(city["dsn"]) as conn:
        conn.execute("alter table model.mdl_findings drop column subject_key cascade")
        conn.execute("alter table model.mdl_findings add column last_seen date")
        conn.execute("update model.mdl_findings set last_seen = as_of")
    run_models(city["dsn"], D, reuse=False)
    assert _history(city["dsn"]) == before
    with psycopg.connect(city["dsn"]) as conn:
        cols = {c for (c,) in conn.execute("select column_name from information_schema.columns "
                                           "where table_schema = 'model' and table_name = 'mdl_findings'")}
        wrong = conn.execute("select count(*) from model.mdl_findings where subject_key is distinct from "
                             "substr(md5(concat_ws('|', model_code, coalesce(subject_gmsfhm, ''), "
                             "coalesce(subject_dzbm, ''))), 1, 16)").fetchone()[0]
        masked = conn.execute("select to_regclass('masked_model.mdl_findings') is not null").fetchone()[0]
    assert "last_seen" not in cols and "subject_key" in cols and wrong == 0
    assert masked  # made again at the end of the run
    assert all(f["last_seen"] >= f["as_of"] for f in read_findings(city["dsn"], D))


def test_changing_a_var_changes_the_version_and_the_registry(city):
    def versions():
        with psycopg.connect(city["dsn"]) as conn:
            return dict(conn.execute("select model_code, rule_version from model.mdl_rule_runs where as_of = %s",
                                     (D,)).fetchall())

    base = versions()
    assert all(v.startswith("v1.") for v in base.values())
    run_models(city["dsn"], D, {"yj03_min_disputes": 2})
    changed = versions()
    assert changed["YJ03"] != base["YJ03"]
    assert {k: v for k, v in changed.items() if k != "YJ03"} == {k: v for k, v in base.items() if k != "YJ03"}
    with psycopg.connect(city["dsn"]) as conn:
        reg = conn.execute("select rule_version, vars ->> 'yj03_min_disputes', effective_from "
                           "from model.mdl_rule_registry where model_code = 'YJ03' order by 2").fetchall()
    assert {(v, n) for v, n, _ in reg} >= {(base["YJ03"], "3"), (changed["YJ03"], "2")}
    run_models(city["dsn"], D)  # back to the spec's thresholds: the same version as before
    assert versions() == base


def test_evidence_names_rows_that_exist(city):
    cat = load_catalogue()
    rows = read_findings(city["dsn"], D)
    checked = 0
    with psycopg.connect(city["dsn"]) as conn:
        for r in rows:
            assert r["evidence"], r
            for item in r["evidence"]:
                table = cat.tables.get(item["table"])
                if table is None:  # summaries (CHECKS, TRACK_ACTIVITY): no row to name
                    continue
                keys = [f.code for f in table.fields if f.key]
                if sorted(item["key"]) != sorted(keys):  # an aggregate over rows (access-day counts)
                    continue
                where = " and ".join(f"trim({k.lower()}) = %s" for k in keys)
                found = conn.execute(f"select count(*) from ods.{table.code.lower()} where not _deleted and {where}",
                                     [item["key"][k] for k in keys]).fetchone()[0]
                assert found == 1, (r["model_code"], item)
                checked += 1
    assert checked > 0


def test_evidence_satisfies_its_rule_for_disputes(city):
    """YJ03's evidence: at least yj03_min_disputes dispute rows, all inside the 365-day window."""
    for r in read_findings(city["dsn"], D, "YJ03"):
        items = [i for i in r["evidence"] if i["table"] == "EZC_MDJFFXYHDSRXX"]
        assert len({i["fields"]["JFBH"] for i in items}) >= 3
        assert all(D - timedelta(days=364) <= date.fromisoformat(i["fields"]["FSSJ"][:10]) <= D for i in items)


def test_findings_command_masks_unless_unmasked(city):
    masked = json.loads(_dzhub("findings", "--as-of", D.isoformat(), "--model", "YJ07", "--json", dsn=city["dsn"]).stdout)
    plain = json.loads(_dzhub("findings", "--as-of", D.isoformat(), "--model", "YJ07", "--json",
                              "--unmasked", dsn=city["dsn"]).stdout)
    assert masked["as_of"] == D.isoformat() and len(masked["findings"]) == len(plain["findings"]) > 0
    for m, p in zip(masked["findings"], plain["findings"], strict=True):
        assert m["subject_gmsfhm"] == p["subject_gmsfhm"][:4] + "*" * 10 + p["subject_gmsfhm"][-4:]
        assert p["subject_gmsfhm"] not in json.dumps(m, ensure_ascii=False)
        if p["subject_xm"]:
            assert m["subject_xm"] == p["subject_xm"][0] + "*" * (len(p["subject_xm"]) - 1)
    out = _dzhub("findings", "--as-of", D.isoformat(), "--csv", dsn=city["dsn"]).stdout
    assert out.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(out.decode("utf-8-sig"))))
    assert rows and {"model_code", "rule_version", "subject_gmsfhm", "evidence", "first_seen"} <= set(rows[0])


def test_dagster_partition_gives_what_the_command_gives(city):
    import dagster as dg

    from dz_assets.defs.resources import WarehouseResource
    from dz_assets.defs.transform.model_assets import dz_rule_models, findings_count_jump
    from dz_assets.defs.transform.project import dbt_resource

    def comparable():
        return [{k: v for k, v in r.items() if k not in VOLATILE} for r in read_findings(city["dsn"], D)]

    run_models(city["dsn"], D)
    by_command = comparable()
    result = dg.materialize(
        [dz_rule_models, findings_count_jump], partition_key=D.isoformat(),
        resources={"dbt": dbt_resource, "warehouse": WarehouseResource(dsn=city["dsn"])},
        raise_on_error=False,
    )
    assert result.success
    assert comparable() == by_command
    mats = {m.asset_key.to_user_string(): m.materialization for m in result.get_asset_materialization_events()}
    meta = mats["model/mdl_findings"].metadata
    per_model = meta["findings_per_model"].value
    assert sum(per_model.values()) == meta["dagster/row_count"].value == len(by_command)
    stations = meta["findings_per_station"].value
    assert {c: sum(v.values()) for c, v in stations.items()} == per_model
    assert "model/mdl_yj03_duoci_maodun" in mats
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert "findings_count_jump" in checks and checks["findings_count_jump"].passed  # one day: nothing to jump from


def test_review_suppresses_false_positives_and_gives_precision(city):
    rows = read_findings(city["dsn"], D, "YJ06")
    assert len(rows) >= 3
    fp, ok, fixed = rows[0], rows[1], rows[2]
    out = json.loads(_dzhub("findings", "review", fp["finding_id"], "--verdict", "false_positive",
                            "--note", "已核实无此情况", "--reviewer", "通川派出所", "--json", dsn=city["dsn"]).stdout)
    assert out["verdict"] == "false_positive" and out["rule_version"] == fp["rule_version"]
    _dzhub("findings", "review", ok["finding_id"], "--verdict", "confirmed", "--reviewer", "r", dsn=city["dsn"])
    _dzhub("findings", "review", fixed["finding_id"], "--verdict", "fixed", "--reviewer", "r", dsn=city["dsn"])
    listed = {r["finding_id"]: r["review_status"] for r in read_findings(city["dsn"], D, "YJ06")}
    assert fp["finding_id"] not in listed  # suppressed: not listed …
    assert listed[ok["finding_id"]] == "confirmed" and listed[fixed["finding_id"]] == "fixed"
    kept = {r["finding_id"]: r["review_status"] for r in read_findings(city["dsn"], D, "YJ06", include_suppressed=True)}
    assert kept[fp["finding_id"]] == "suppressed"  # … but kept
    run_models(city["dsn"], D)  # re-running the day keeps the finding ids and so the verdicts
    assert fp["finding_id"] not in {r["finding_id"] for r in read_findings(city["dsn"], D, "YJ06")}
    with psycopg.connect(city["dsn"]) as conn:
        # the evidence changes (a new risk assessment): the false positive is listed again
        conn.execute("update model.mdl_findings set evidence_hash = 'changed' where finding_id = %s",
                     (fp["finding_id"],))
        conn.commit()
    assert fp["finding_id"] in {r["finding_id"] for r in read_findings(city["dsn"], D, "YJ06")}
    prec = json.loads(_dzhub("models", "precision", "--json", dsn=city["dsn"]).stdout)["precision"]
    yj06 = [p for p in prec if p["model_code"] == "YJ06"]
    assert yj06 == [{"model_code": "YJ06", "rule_version": fp["rule_version"], "reviewed": 3, "confirmed": 2,
                     "false_positive": 1, "precision": round(2 / 3, 4)}]


def test_diff_shows_what_a_changed_threshold_adds_and_drops(city):
    before = {r["subject_gmsfhm"] for r in read_findings(city["dsn"], D, "YJ03")}
    out = json.loads(_dzhub("models", "diff", "--as-of", D.isoformat(), "--vars", '{"yj03_min_disputes": 2}',
                            "--json", "--unmasked", dsn=city["dsn"]).stdout)
    assert set(out["models"]) == {"YJ03"}  # no other model reads that var
    yj03 = out["models"]["YJ03"]
    assert yj03["before"] == len(before) and yj03["dropped"] == []
    assert yj03["after"] == yj03["before"] + len(yj03["added"]) > yj03["before"]
    # the planted near miss (two disputes in the window) is among those a threshold of 2 adds
    near = next(c for c in planted_model_cases(SEED, CITY_DATE) if c.model_code == "YJ03" and c.kind == "near_miss")
    assert near.subject_gmsfhm in {a["subject_gmsfhm"] for a in yj03["added"]}
    # nothing was written: the day's findings are as they were
    assert {r["subject_gmsfhm"] for r in read_findings(city["dsn"], D, "YJ03")} == before


def test_unmasked_findings_need_an_engineer_and_are_audited(city, pg_server_dsn):
    """Analysts and officers never list findings unmasked (an officer reveals one row at a time);
    an engineer's unmasked listing is an export of personal data and is audited."""
    import psycopg

    from dz_assets.db import database_name

    login = f"dz_t_unmask_{secrets.token_hex(3)}"
    with psycopg.connect(pg_server_dsn, autocommit=True) as conn:
        conn.execute(f'create role "{login}" login in role dz_analyst')
    try:
        dsn = city["dsn"].replace("postgres@", f"{login}@", 1)
        assert database_name(dsn) == database_name(city["dsn"])
        env = dict(os.environ, DZ_PG_DSN=dsn)
        out = subprocess.run([DZHUB, "findings", "--as-of", D.isoformat(), "--json", "--unmasked"],
                             capture_output=True, env=env)
        assert out.returncode != 0 and b"dz_engineer" in out.stderr and not out.stdout
    finally:
        with psycopg.connect(pg_server_dsn, autocommit=True) as conn:
            conn.execute(f'drop role "{login}"')
    _dzhub("findings", "--as-of", D.isoformat(), "--model", "YJ07", "--json", "--unmasked", dsn=city["dsn"])
    with psycopg.connect(city["dsn"]) as conn:
        action, obj, details = conn.execute("select action, object, details from meta.audit "
                                            "order by audit_id desc limit 1").fetchone()
    assert (action, obj, details["model"], details["form"]) == ("findings.unmasked", D.isoformat(), "YJ07", "json")


def test_rule_version_covers_the_shared_parts_a_model_calls(city):
    """rule_version hashes the model's SQL as written, the SQL of every shared rule part
    (mdl_part_* macro) it calls, and its threshold values: a change to a part ZX02 and ZX03 share
    moves both versions, and a model calling none keeps the hash of its own text."""
    import hashlib

    from dz_assets.transform import DBT_PROJECT_DIR

    manifest = json.loads((DBT_PROJECT_DIR / "target" / "manifest.json").read_text(encoding="utf-8"))
    with psycopg.connect(city["dsn"]) as conn:
        recorded = {code: (version, vars_) for code, version, vars_ in conn.execute(
            "select model_code, rule_version, vars from model.mdl_rule_runs where as_of = %s", (D,))}
    with_parts = set()
    for node in manifest["nodes"].values():
        rule = node.get("config", {}).get("meta", {}).get("rule") if node["resource_type"] == "model" else None
        if not rule:
            continue
        parts = sorted(m for m in node["depends_on"]["macros"] if m.startswith("macro.dz_hub.mdl_part_"))
        text = node["raw_code"] + "".join("\n--part " + manifest["macros"][m]["macro_sql"] for m in parts)
        version, values = recorded[rule["code"]]
        text = text.replace("\r\n", "\n") + "\n--vars " + ";".join(f"{v}={values[v]}" for v in rule["vars"])
        assert version == "v1." + hashlib.md5(text.encode()).hexdigest()[:10], rule["code"]
        if parts:
            with_parts.add(rule["code"])
    assert with_parts == {"ZX02", "ZX03"}


def test_rerun_of_an_unchanged_day_keeps_its_findings_until_an_input_changes(city):
    import time

    def comparable():
        return [{k: v for k, v in r.items() if k not in VOLATILE} for r in read_findings(city["dsn"], D)]

    computed = run_models(city["dsn"], D, reuse=False)
    before = comparable()
    kept = run_models(city["dsn"], D)
    assert kept.reused and not computed.reused
    assert kept.findings == computed.findings and comparable() == before
    with psycopg.connect(city["dsn"], autocommit=True) as conn:  # as crash recovery leaves unlogged tables
        conn.execute("truncate model.mdl_base__addresses")
    rebuilt = run_models(city["dsn"], D)
    assert not rebuilt.reused and comparable() == before
    with psycopg.connect(city["dsn"], autocommit=True) as conn:  # a hand-made change, no loader's watermark
        conn.execute("update ods.ybss_ajxx set fasj = fasj where ajbh = (select min(ajbh) from ods.ybss_ajxx)")
        seen = conn.execute("select n_tup_upd from pg_stat_user_tables where relid = 'ods.ybss_ajxx'::regclass")
        updates = seen.fetchone()[0]
    deadline = time.monotonic() + 15  # the closed session's counts reach the statistics shortly
    with psycopg.connect(city["dsn"], autocommit=True) as conn:
        while time.monotonic() < deadline and conn.execute(
                "select n_tup_upd from pg_stat_user_tables where relid = 'ods.ybss_ajxx'::regclass").fetchone()[0] <= updates:
            time.sleep(0.2)
    again = run_models(city["dsn"], D)
    assert not again.reused
    assert comparable() == before  # the same data: the same findings
    assert not run_models(city["dsn"], D - timedelta(days=1)).reused  # another day: never kept
    run_models(city["dsn"], D)  # the city's day last, as the other tests left it
