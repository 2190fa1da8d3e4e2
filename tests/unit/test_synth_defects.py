"""Every defect the synthetic city can plant produces its intended problem, and only that, as
judged by the independent strict reader; the planted record says exactly where it is."""

from __future__ import annotations

import json

import pytest
from support.synth_reader import read_package

from dz_assets.synth import write_package
from dz_assets.synth.defects import DRIFT_DEFECTS, FLAG_DEFECTS, PACKAGE_DEFECTS, ROW_DEFECTS

PERSONS, SEED = 600, 3
TABLES = ["HZ_HJRKJBXX", "YBSS_BZDZMLXX", "YBSS_BZDZCHXX", "YBSS_SYRKXX"]


def _write(tmp_path, defect, **kw):
    kw.setdefault("tables", TABLES)
    return write_package(tmp_path, persons=PERSONS, seed=SEED, defects=[defect], records_per_file=400,
                         progress=None, **kw)


@pytest.mark.parametrize("defect", PACKAGE_DEFECTS)
def test_package_defect_gives_exactly_its_code(tmp_path, defect):
    info = _write(tmp_path, defect)
    r = read_package(info.zip_path)
    code = defect.split(":")[0]
    assert r.codes("package") == {code}, r.problems
    assert [p for p in r.problems if p.level in ("row", "flag")] == []
    assert info.planted == [p for p in info.planted if p["defect"] == defect]
    assert info.planted[0]["code"] == code
    recorded = json.loads(info.planted_path.read_text())
    assert recorded["planted"] == info.planted and recorded["batch_id"] == info.batch_id
    files = {p.file for p in r.problems if p.level == "package" and p.file}
    if info.planted[0]["file"] and code.startswith(("file_", "object_")):
        assert info.planted[0]["file"] in files


@pytest.mark.parametrize("defect", list(ROW_DEFECTS) + list(FLAG_DEFECTS))
def test_row_defect_hits_exactly_the_planted_row(tmp_path, defect):
    info = _write(tmp_path, defect)
    r = read_package(info.zip_path)
    (planted,) = info.planted
    level = "row" if defect in ROW_DEFECTS else "flag"
    assert r.codes("package") == set() and r.codes("drift") == set()
    found = [(p.level, p.code, p.table, p.file, p.line, p.field) for p in r.problems]
    assert found == [(level, planted["reason"], planted["table"], planted["file"], planted["line"],
                      planted["field"])]


@pytest.mark.parametrize("defect", DRIFT_DEFECTS)
def test_drift_is_recorded_and_nothing_else(tmp_path, defect):
    info = _write(tmp_path, defect)
    r = read_package(info.zip_path, keep_rows=True)
    assert [(p.level, p.code, p.table) for p in r.problems] == [("drift", defect, info.planted[0]["table"])]


def test_row_defects_in_gb18030_crlf_and_incr(tmp_path):
    info = _write(tmp_path / "g", "row_bad_encoding", encoding="GB18030", crlf=True)
    r = read_package(info.zip_path)
    assert [(p.code, p.line) for p in r.problems] == [("bad_encoding", info.planted[0]["line"])]
    info = write_package(tmp_path / "i", persons=3000, seed=SEED, kind="INCR", defects=["row_bad_date",
                         "flag_id_checkdigit"], progress=None)
    r = read_package(info.zip_path)
    assert sorted((p.code, p.file, p.line) for p in r.problems) == sorted(
        (p["reason"], p["file"], p["line"]) for p in info.planted)


def test_unknown_defect_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown defect"):
        _write(tmp_path, "row_bad_mood")
