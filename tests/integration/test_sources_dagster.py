"""The declarative sources as Dagster assets: one per file, a bad file reported without breaking the
location, a materialization through Dagster, independent assets for parallel runs."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
import psycopg
import pytest
from support.sources_fixtures import write_source

from dz_assets.catalog.idcard import make_id

pytestmark = pytest.mark.integration


def csv_doc(sid: str, path: str, **over) -> dict:
    doc = {"id": sid, "name": "县级人口登记表", "category": "政务", "owner": "宣汉县民政局", "kind": "file",
           "connection": {"path": path}, "format": "csv", "key": ["bh"], "schedule": "0 2 * * *",
           "freshness_hours": 26,
           "fields": {"BH": {"from": "bh"}, "GMSFHM": {"from": "sfzh", "rules": ["idcard"], "pii": "idcard"}}}
    doc.update(over)
    return doc


def test_assets_per_file_and_a_bad_file_does_not_break_loading(pg_dsn, tmp_path, monkeypatch, caplog):
    folder = tmp_path / "sources"
    folder.mkdir()
    monkeypatch.setenv("DZ_SOURCES_DIR", str(folder))
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.csv").write_text(f"bh,sfzh\n1,{make_id('511702', '19900101', 1)}\n2,bad\n", encoding="utf-8")
    write_source(folder, csv_doc("dag_a", str(data / "*.csv")))
    write_source(folder, csv_doc("dag_b", str(data / "*.csv"), schedule="99 * * * *"))
    write_source(folder, csv_doc("dag_c", str(data / "none*.csv"), schedule=None))

    from dz_assets.defs.resources import build_resources
    from dz_assets.defs.sources.assets import defs as source_defs
    from dz_assets.defs.sources.assets import source_config

    d = dg.Definitions.merge(source_defs(), dg.Definitions(resources=build_resources()))
    keys = {k.to_user_string() for k in d.resolve_asset_graph().get_all_asset_keys()}
    assert {"raw_src/dag_a", "raw_src/dag_c", "meta/source_config"} <= keys and "raw_src/dag_b" not in keys
    assert any("dag_b.yaml: schedule" in r.getMessage() for r in caplog.records)
    graph = d.resolve_asset_graph()
    assert not graph.get(dg.AssetKey(["raw_src", "dag_a"])).parent_keys  # independent: run in parallel
    job = d.resolve_job_def("sources_job")
    assert isinstance(job.executor_def, dg.ExecutorDefinition) and "multi" in job.executor_def.name
    assert {s.name for s in d.schedules} == {"source_dag_a_job_schedule"}
    assert d.sensors and len(list(d.asset_checks or [])) >= 2  # freshness of dag_a and dag_c

    (asset_a,) = [a for a in d.assets if isinstance(a, dg.AssetsDefinition)
                  and dg.AssetKey(["raw_src", "dag_a"]) in a.keys]
    res = dg.materialize([asset_a], resources=build_resources())
    assert res.success
    mat = res.asset_materializations_for_node(asset_a.op.name)[0]
    assert mat.metadata["read"].value == 2 and mat.metadata["rejected"].value == 1
    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute("select bh from raw_src.dag_a").fetchall() == [("1",)]

    check = dg.materialize([source_config], raise_on_error=False)
    evals = check.get_asset_check_evaluations()
    assert evals and evals[0].passed is False
    assert "dag_b.yaml: schedule" in str(evals[0].metadata["errors"].value)


def test_independent_sources_run_at_the_same_time(pg_dsn, tmp_path, monkeypatch):
    """Two HTTP sources whose first pages answer only once both have been asked for: run one
    after another, the first would wait out the barrier and fail."""
    import threading

    from support import sources_fixtures
    from support.sources_fixtures import Api, as_json

    folder = tmp_path / "sources"
    folder.mkdir()
    monkeypatch.setenv("DZ_SOURCES_DIR", str(folder))
    monkeypatch.setenv("DZ_SOURCES_RETRIES", "1")
    # each step's process imports the job from the tests' support package
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(Path(sources_fixtures.__file__).parents[1]), *filter(None, [os.environ.get("PYTHONPATH")])]))
    both = threading.Barrier(2, timeout=90)
    api = Api()

    def page(sid):
        def route(q, n):
            try:
                both.wait()
            except threading.BrokenBarrierError:
                return 500, b'{"error": "the other source never asked"}'
            return 200, as_json({"data": [{"bh": f"{sid}-1", "sfzh": make_id("511702", "19900101", 7)}]})
        return route

    try:
        for sid in ("par_a", "par_b"):
            api.routes[f"/{sid}"] = page(sid)
            write_source(folder, {"id": sid, "name": "并行测试接口", "category": "政务", "owner": "测试",
                                  "kind": "http", "connection": {"url": f"{api.base}/{sid}"}, "records": "data",
                                  "key": ["bh"],
                                  "fields": {"BH": {"from": "bh"},
                                             "GMSFHM": {"from": "sfzh", "rules": ["idcard"], "pii": "idcard"}}})
        with dg.instance_for_test() as instance:
            result = dg.execute_job(dg.reconstructable(sources_fixtures.sources_job), instance=instance, raise_on_error=False)
            assert result.success, [e.message for e in result.all_events if e.is_failure]
        assert api.calls == {"/par_a": 1, "/par_b": 1}
        with psycopg.connect(pg_dsn) as conn:
            assert conn.execute("select bh from raw_src.par_a union all select bh from raw_src.par_b "
                                "order by 1").fetchall() == [("par_a-1",), ("par_b-1",)]
    finally:
        api.close()
