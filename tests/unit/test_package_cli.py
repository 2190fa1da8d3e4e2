"""``dzhub package check PATH --json``: one JSON object on stdout, exit 0 whenever a verdict is printed."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from support.province_builder import Dataset, build_package, person_rows

from dz_assets.cli import main  # noqa: E402


def _check(path: Path) -> tuple[int, dict]:
    result = CliRunner().invoke(main, ["package", "check", str(path), "--json"])
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, result.output
    return result.exit_code, json.loads(lines[0])


def test_check_prints_the_verdict(tmp_path):
    rows = person_rows(5)
    rows[2][5] = "19991332"
    b = build_package(tmp_path, "SCGA-FULL-20261120-0001", [Dataset("HZ_HJRKJBXX", rows)])
    code, v = _check(b.zip_path)
    assert code == 0 and v["batch_id"] == "SCGA-FULL-20261120-0001" and v["valid"] is True and v["errors"] == []
    assert v["rows"] == {"total": 5, "rejected": 1, "flagged": 0}
    assert v["rejects"] == [{"table": "HZ_HJRKJBXX", "file": "HZ_HJRKJBXX_0001.bcp", "line": 3, "field": "CSRQ",
                             "reason": "'19991332' is not a date YYYYMMDD"}]


def test_check_of_a_broken_package_still_exits_0(tmp_path):
    b = build_package(tmp_path, "SCGA-FULL-20261120-0002", [Dataset("HZ_HJRKJBXX", person_rows(5))],
                      defect="marker_mismatch")
    code, v = _check(b.zip_path)
    assert code == 0 and v["valid"] is False and [e["code"] for e in v["errors"]] == ["marker_mismatch"]
