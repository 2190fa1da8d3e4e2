"""dbt layers on a small synthetic city loaded through the real province loader, with planted
linking cases inserted as extra ODS rows: each case must come out of core/element as planted,
and the daily (incremental) run must pick up changes and close what they resolve."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from dz_assets.catalog.idcard import check_digit
from dz_assets.synth import write_package
from dz_assets.transform import run_dbt

PERSONS = 3000  # the brief's test city; the whole module (write, load, two dbt builds) ~1 minute on 2 cores
SEED = 7  # a city spread over three counties (smaller cities may sit in one)
PLANTED = "SCGA-INCR-20261121-0001"  # named like a real batch: watermarks take the max batch id
HUKOU_COLS = "rybh, gmsfhm, xm, xbdm, csrq, ryztdm, hjdz_dzbm, hjdz_xzqhdm, hjdz_dzmc"
SYRK_COLS = "syrkbh, gmsfhm, xm, rylbdm, jzdz_dzbm, jzdz_xzqhdm, djrq, zxbs"
HOUSE_COLS = "fwbh, dzbm, dzmc, fwlbdm, fwytdm, fzgmsfhm, fzxm, czbs, xzqhdm, zxbs"
# Order codes 99x: the synthetic city draws its order codes well below them.
P1_15 = "511702800101991"  # a pre-1999 15-digit number (no century, no check digit)
P1 = "51170219800101991" + check_digit("51170219800101991")
BAD_CHECK = "51170219650526991" + ("0" if check_digit("51170219650526991") != "0" else "1")


def _id(first17: str) -> str:
    return first17 + check_digit(first17)


def _insert(conn, table: str, cols: str, rows: list[tuple], first_line: int) -> None:
    n = len(cols.split(","))
    marks = ", ".join(["%s"] * n)
    for i, row in enumerate(rows):
        conn.execute(
            f"insert into ods.{table} ({cols}, _batch_id, _file, _line) values ({marks}, %s, %s, %s)",
            (*row, PLANTED, f"{table.upper()}_planted.bcp", first_line + i),
        )


def _spelled_differently(dzmc: str) -> str:
    """The same address as a clerk might type it: no province, full-width digits, blanks."""
    full = str.maketrans("0123456789", "０１２３４５６７８９")
    return dzmc.removeprefix("四川省").translate(full).replace("区", "区 ", 1)


def _build(dsn: str, *args: str) -> None:
    result = run_dbt(["build", "--quiet", *args], dsn, check=False)
    assert result.returncode == 0, "dbt build failed (see the log above)"


@pytest.fixture(scope="module")
def city(pg_dsn, tmp_path_factory):
    out = tmp_path_factory.mktemp("dbt_city")
    info = write_package(out, persons=PERSONS, seed=SEED)
    dzhub = str(Path(sys.executable).with_name("dzhub"))
    loaded = subprocess.run([dzhub, "package", "load", str(info.zip_path), "--json"],
                            capture_output=True, text=True, check=True)
    assert json.loads(loaded.stdout)["status"] == "loaded"

    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        # two 层户 addresses in different counties for the cross-division case
        a1, m1, x1 = conn.execute("select dzbm, dzmc, xzqhdm from ods.ybss_bzdzchxx order by dzbm limit 1").fetchone()
        a2, _, x2 = conn.execute("select dzbm, dzmc, xzqhdm from ods.ybss_bzdzchxx where xzqhdm <> %s "
                                 "order by dzbm limit 1", (x1,)).fetchone()
        p1, p2, o1, o2 = P1, _id("51170219900307991"), _id("51172419750202991"), _id("51172519881111992")
        for pid in (p1, p2, o1, o2, BAD_CHECK[:17] + check_digit(BAD_CHECK[:17])):
            assert conn.execute("select count(*) from ods.hz_hjrkjbxx where gmsfhm = %s", (pid,)).fetchone()[0] == 0
        _insert(conn, "hz_hjrkjbxx", HUKOU_COLS, [
            # P1: hukou address without a code, its name spelled differently from the register
            ("PL-R1", p1, "测甲", "1", "1980-01-01", "1", None, x1, _spelled_differently(m1)),
            # P2: hukou in one county …
            ("PL-R2", p2, "测乙", "1", "1990-03-07", "1", a1, x1, m1),
            # P3: hukou with a check digit typed wrong
            ("PL-R3", BAD_CHECK, "测丙", "1", "1965-05-26", "1", a1, x1, m1),
        ], 1)
        _insert(conn, "ybss_syrkxx", SYRK_COLS, [
            # P1 lives at the same address; the actual-population clerk typed the ID in 15 digits
            ("PL-S1", P1_15, "测甲", "1", a1.lower(), x1, "2026-11-20", "0"),
            # … and P2 lives in another county
            ("PL-S2", p2.lower(), "测乙", "1", a2, x2, "2026-11-20", "0"),
        ], 1)
        _insert(conn, "ybss_syfwxx", HOUSE_COLS, [
            # one flat, two owners
            ("PL-H1", a2, None, "1", "1", o1, "房主一", "0", x2, "0"),
            ("PL-H2", a2, None, "1", "1", o2, "房主二", "0", x2, "0"),
        ], 1)
    _build(pg_dsn)
    return {"a1": a1, "a2": a2, "x1": x1, "x2": x2, "p1": p1, "p2": p2, "o1": o1, "o2": o2, "dsn": pg_dsn}


def _one(dsn: str, sql: str, *params):
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql, params).fetchone()


def test_same_person_two_address_spellings_one_address(city):
    row = _one(city["dsn"], "select hj_dzbm, hj_link, jz_dzbm, jz_link, _file, _line, sy_file, sy_line "
               "from core.core_person where gmsfhm = %s", city["p1"])
    assert row == (city["a1"], "name", city["a1"], "code", "HZ_HJRKJBXX_planted.bcp", 1, "YBSS_SYRKXX_planted.bcp", 1)
    # the 15-digit actual-population ID joined the 18-digit hukou person: one row, no conflict
    assert _one(city["dsn"], "select count(*) from core.core_person where gmsfhm like '51170219800101991_'")[0] == 1
    assert _one(city["dsn"], "select count(*) from core.core_cmp__hukou_vs_residence where gmsfhm = %s",
                city["p1"])[0] == 0


def test_hukou_and_residence_in_different_divisions(city):
    row = _one(city["dsn"], "select cmp_type, hj_xzqhdm, jz_xzqhdm, hj_dzbm, jz_dzbm "
               "from core.core_cmp__hukou_vs_residence where gmsfhm = %s", city["p2"])
    assert row == ("cross_division", city["x1"], city["x2"], city["a1"], city["a2"])


def test_house_with_two_owners(city):
    row = _one(city["dsn"], "select owner_count, owner_ids, fwbh_list from core.core_cmp__house_owners where dzbm = %s",
               city["a2"])
    assert row == (2, sorted([city["o1"], city["o2"]]), ["PL-H1", "PL-H2"])
    opened = _one(city["dsn"], "select count(*) from element.elem_anomaly "
                  "where rule_code = 'FW01' and subject_key in ('PL-H1', 'PL-H2') and is_open")[0]
    assert opened == 2


def test_invalid_id_is_an_anomaly_with_its_rule_and_lineage(city):
    row = _one(city["dsn"], "select rule_name, detail, _batch_id, _file, _line from element.elem_anomaly "
               "where anomaly_id = %s", "RK01:" + BAD_CHECK)
    assert row is not None and "GB 11643" in row[0] and "check" in row[1]
    assert row[2:] == (PLANTED, "HZ_HJRKJBXX_planted.bcp", 3)


def test_topics_have_watermarks_and_names(city):
    row = _one(city["dsn"], "select count(*), bool_and(as_of is not null), max(wm_batch_id), bool_and(xzqhmc is not null) "
               "from topic.topic_syrk__by_division where xzqhdm like '5117%%'")
    assert row[0] > 0 and row[1] and row[3]
    assert row[2] == PLANTED  # the newest batch among the rows counted
    for rel in ("topic_hjgl__by_division", "topic_ldrk__by_division", "topic_syfw__by_division",
                "topic_sydw__by_division", "topic_bzdz__by_division", "topic_gabf__by_division",
                "topic_mdjf__by_division"):
        assert _one(city["dsn"], f"select count(*) from topic.{rel}")[0] > 0, rel


def test_incremental_bookkeeping_tables_say_what_they_are(city):
    """The key logs the incremental models keep in the analysts' schemas are marked as such in
    the catalogue (an analyst browsing `core` sees why core_person__changes is there)."""
    for rel in ("core.core_person__changes", "core.core_address__changes", "core.core_person__places",
                "element.elem_person_track__replaced"):
        comment = _one(city["dsn"], "select obj_description(%s::regclass)", rel)[0]
        assert comment and comment.startswith("增量簿记，非分析用表"), (rel, comment)


def test_daily_incremental_run_adds_tracks_and_closes_resolved_anomalies(city):
    dsn = city["dsn"]
    tracks_before = _one(dsn, "select count(*) from element.elem_person_track")[0]
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("insert into ods.zhxq_zhxqryjcjlxx (jlbh, xqbm, gmsfhm, crsj, crfxdm, _batch_id, _file, _line) "
                     "values ('PL-J1', 'Q1', %s, now(), '1', %s, 'ZHXQ_planted.bcp', 1)", (city["p1"], PLANTED))
        # one of the two owners' houses is deleted by a change: the conflict is resolved
        conn.execute("update ods.ybss_syfwxx set _deleted = true, _deleted_at = now(), _loaded_at = now() "
                     "where fwbh = 'PL-H2'")
    _build(dsn, "--select", "staging", "core", "element")
    assert _one(dsn, "select count(*) from element.elem_person_track")[0] == tracks_before + 1
    assert _one(dsn, "select _file, _line from element.elem_person_track where trk_id = 'ZHXQ:PL-J1'") == (
        "ZHXQ_planted.bcp", 1)
    states = dict(psycopg.connect(dsn).execute(
        "select subject_key, is_open from element.elem_anomaly where rule_code = 'FW01' "
        "and subject_key in ('PL-H1', 'PL-H2')").fetchall())
    assert states == {"PL-H1": False, "PL-H2": False}
    assert _one(dsn, "select count(*) from core.core_cmp__house_owners where dzbm = %s", city["a2"])[0] == 0
    # the other anomalies survive the incremental run untouched
    assert _one(dsn, "select is_open from element.elem_anomaly where anomaly_id = %s", "RK01:" + BAD_CHECK) == (True,)


def test_a_second_owner_arriving_later_flags_the_first_house_too(city):
    dsn = city["dsn"]
    other = _id("51172219700101993")
    with psycopg.connect(dsn, autocommit=True) as conn:
        _insert(conn, "ybss_syfwxx", HOUSE_COLS, [("PL-H3", city["a2"], None, "1", "1", other, "房主三", "0", city["x2"], "0")], 3)
    _build(dsn, "--select", "staging", "core", "element")
    states = dict(psycopg.connect(dsn).execute(
        "select subject_key, is_open from element.elem_anomaly where rule_code = 'FW01' "
        "and subject_key in ('PL-H1', 'PL-H3')").fetchall())
    assert states == {"PL-H1": True, "PL-H3": True}


def test_dbt_models_materialize_through_dagster(city):
    import dagster as dg

    from dz_assets.defs.resources import WarehouseResource
    from dz_assets.defs.transform.dbt_assets import dz_dbt_models
    from dz_assets.defs.transform.project import dbt_resource

    result = dg.materialize(
        [dz_dbt_models],
        selection=dg.AssetSelection.assets(dg.AssetKey(["core", "core_address"])),
        resources={"dbt": dbt_resource, "warehouse": WarehouseResource(dsn=city["dsn"])},
        raise_on_error=False,
    )
    assert result.success
    mats = {m.asset_key.to_user_string(): m for m in result.get_asset_materialization_events()}
    assert list(mats) == ["core/core_address"]
    meta = mats["core/core_address"].materialization.metadata
    count = _one(city["dsn"], "select count(*) from core.core_address")[0]
    assert meta["dagster/row_count"].value == count
    checks = result.get_asset_check_evaluations()
    assert checks and all(c.passed for c in checks)


# Materializes dbt assets in a fresh interpreter (the definitions read the manifest when they are
# imported) and prints their row counts and every error the run logged.
MATERIALIZE = """
import json, logging, sys
import dagster as dg
from dz_assets.defs.resources import WarehouseResource
from dz_assets.defs.transform.dbt_assets import dz_dbt_models
from dz_assets.defs.transform.project import dbt_resource

keys = [dg.AssetKey(k.split("/")) for k in sys.argv[2:]]
with dg.DagsterInstance.ephemeral() as instance:
    result = dg.materialize([dz_dbt_models], instance=instance, selection=dg.AssetSelection.assets(*keys),
                            resources={"dbt": dbt_resource, "warehouse": WarehouseResource(dsn=sys.argv[1])},
                            raise_on_error=False)
    counts = {m.asset_key.to_user_string(): getattr(m.materialization.metadata.get("dagster/row_count"), "value", None)
              for m in result.get_asset_materialization_events()}
    errors = [e.user_message for e in instance.all_logs(result.run_id) if e.level >= logging.ERROR]
print(json.dumps({"success": result.success, "counts": counts, "errors": errors}))
"""


def test_row_counts_on_a_warehouse_other_than_the_parsed_one(city):
    """The manifest is parsed against `dzhub` (as `dzhub dbt parse` does by default) and the run
    builds in this session's database: the row counts must come from the database built in."""
    from dz_assets.db import database_name, with_database
    from dz_assets.defs.transform.project import dbt_project

    dsn = city["dsn"]
    assert database_name(dsn) != "dzhub"
    run_dbt(["parse", "--quiet"], with_database(dsn, "dzhub"))
    manifest = json.loads(dbt_project.manifest_path.read_text(encoding="utf-8"))
    assert manifest["nodes"]["model.dz_hub.core_address"]["database"] == "dzhub"

    keys = ["core/core_address", "topic/topic_bzdz__by_division", "core/core_house"]
    run = subprocess.run([sys.executable, "-c", MATERIALIZE, dsn, *keys], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["success"]
    for key in keys:
        schema, rel = key.split("/")
        assert out["counts"][key] == _one(dsn, f"select count(*) from {schema}.{rel}")[0] > 0, key
    assert not out["errors"], out["errors"]
    assert "cross-database" not in run.stderr


def test_a_row_count_that_fails_is_an_error_not_a_silent_gap(pg_dsn):
    """A table the warehouse cannot count (here: not there) is logged as an error and handed back
    for the step to fail on, its event passed on unchanged."""
    import dagster as dg

    from dz_assets.defs.transform.dbt_assets import with_row_counts

    manifest = {"nodes": {"model.dz_hub.gone": {"schema": "core", "alias": "no_such_table", "name": "gone",
                                                 "config": {"materialized": "table"}}}}
    event = dg.Output(None, output_name="core_gone", metadata={"unique_id": "model.dz_hub.gone"})
    failed: list[str] = []
    out = list(with_row_counts(dg.build_asset_context(), [event], manifest, pg_dsn, failed))
    assert out == [event] and failed == ["core.no_such_table"]


def test_redirect_registry_before_and_after_dbt_is_one_definition(city):
    """The redirect API answers alike from the ODS tables (before dbt built the served view) and
    from serve.address_registry, with the contract's rules: codes and division codes exactly as
    delivered; a code delivered both as a 门楼 and as a 层户 is one address, served as its 门楼."""
    from redirect_api.registry import lookup_sql

    dsn = city["dsn"]
    planted = [("ybss_bzdzmlxx", "PL-BOTH-01", "四川省达州市通川区两级路1号", "511702001"),
               ("ybss_bzdzchxx", "PL-BOTH-01", "四川省达州市通川区两级路1号1单元101室", "511702001"),
               ("ybss_bzdzchxx", "pl-room-02", "四川省达州市通川区小写路2号3单元301室", "511702")]
    with psycopg.connect(dsn, autocommit=True) as conn:
        for table, dzbm, dzmc, xzqh in planted:
            conn.execute(f"insert into ods.{table} (dzbm, dzmc, xzqhdm, dzztdm, _batch_id, _file, _line) "
                         "values (%s, %s, %s, '1', %s, 'planted.bcp', 1)", (dzbm, dzmc, xzqh, PLANTED))

    def lookup(source: str) -> list[tuple]:
        with psycopg.connect(dsn) as conn:
            return sorted(conn.execute(lookup_sql(source), {"codes": ["PL-BOTH-01", "pl-room-02", "PL-ROOM-02"]}))

    before_dbt = lookup("registry_ods")
    _build(dsn, "--select", "serve_address_registry")
    served = lookup("registry_serve")
    assert served == before_dbt
    assert [r[:3] for r in served] == [("PL-BOTH-01", "四川省达州市通川区两级路1号", "511702001"),
                                       ("pl-room-02", "四川省达州市通川区小写路2号3单元301室", "511702")]


def test_events_already_built_are_passed_on_when_dbt_fails_later(pg_dsn):
    """dbt's stream raises at its end when a model failed; the materializations it emitted before
    (each waiting for its row count) still reach Dagster, then the failure."""
    import dagster as dg

    from dz_assets.defs.transform.dbt_assets import with_row_counts

    manifest = {"nodes": {"model.dz_hub.batch": {"schema": "meta", "alias": "batch", "name": "batch",
                                                  "config": {"materialized": "table"}}}}
    built = dg.Output(None, output_name="meta_batch", metadata={"unique_id": "model.dz_hub.batch"})

    def stream():
        yield built
        raise RuntimeError("dbt build failed")

    out = []
    with pytest.raises(RuntimeError, match="dbt build failed"):
        for event in with_row_counts(dg.build_asset_context(), stream(), manifest, pg_dsn, []):
            out.append(event)
    assert len(out) == 1 and out[0].metadata["dagster/row_count"].value >= 0
