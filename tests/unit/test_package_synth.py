"""The synthetic city's packages judged by dz-hub: exactly what it planted is found, nothing else."""

from __future__ import annotations

import pytest

from dz_assets.province.reader.verdict import check_verdict
from dz_assets.synth.defects import FLAG_DEFECTS, PACKAGE_DEFECTS, ROW_DEFECTS
from dz_assets.synth.package_writer import write_package


def test_every_planted_row_defect_is_the_only_reject(tmp_path):
    info = write_package(tmp_path, persons=2000, seed=11, defects=tuple(ROW_DEFECTS) + tuple(FLAG_DEFECTS),
                         progress=None)
    v = check_verdict(info.zip_path).as_json()
    assert v["valid"] is True and v["errors"] == [] and v["rows"]["total"] == sum(info.tables.values())
    planted = {(p["table"], p["file"], p["line"], p["field"]) for p in info.planted if p["level"] == "row"}
    assert {(r["table"], r["file"], r["line"], r["field"]) for r in v["rejects"]} == planted
    assert v["rows"]["rejected"] == len(ROW_DEFECTS)
    assert v["rows"]["flagged"] == len(FLAG_DEFECTS)  # one planted row per quality flag


@pytest.mark.parametrize("defect", [d for d in PACKAGE_DEFECTS])
def test_every_planted_package_defect_is_found(tmp_path, defect):
    info = write_package(tmp_path, persons=200, seed=3, tables=["HZ_HJRKJBXX", "YBSS_BZDZMLXX"],
                         defects=(defect,), progress=None)
    v = check_verdict(info.zip_path).as_json()
    assert v["valid"] is False and defect.split(":")[0] in {e["code"] for e in v["errors"]}


def test_gb18030_and_crlf_packages_load_clean(tmp_path):
    info = write_package(tmp_path, persons=300, seed=5, encoding="GB18030", crlf=True, progress=None,
                         tables=["HZ_HJRKJBXX", "YBSS_BZDZMLXX", "YBSS_SYRKXX"])
    v = check_verdict(info.zip_path).as_json()
    assert v["valid"] and v["rejects"] == [] and v["rows"]["total"] == sum(info.tables.values())


@pytest.mark.parametrize("kind", ["INCR", "RECON"])
def test_incr_and_recon_packages_are_judged_valid(tmp_path, kind):
    info = write_package(tmp_path, persons=300, seed=5, kind=kind, progress=None,
                         tables=["HZ_HJRKJBXX", "YBSS_BZDZMLXX"])
    v = check_verdict(info.zip_path).as_json()
    assert v["valid"] and v["errors"] == [] and v["rejects"] == [] and v["kind"] == kind
    if kind == "INCR":  # _OP and _TS lead every line and are proven with it
        assert v["rows"]["total"] == sum(info.tables.values())
