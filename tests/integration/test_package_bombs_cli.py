"""``dzhub package check`` and ``package load`` on hostile packages, through real subprocesses:
a 200 MB line in a 200 KB zip and an entry that lies about its size are refused quickly, each
with its error naming the member, and the process's peak RSS stays near its usual ~100-200 MB."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from support.measured import Measured, run_measured
from support.zip_bombs import MEMBER, long_line_package, lying_size_package

DZHUB = str(Path(sys.executable).with_name("dzhub"))
LINE_BYTES = 200 << 20
MAX_RSS_MIB = 300
MAX_SECONDS = 30  # before the bounds: check 21 s / 2.7 GB, load 39 s / 5.6 GB on this line


def dzhub(*args: str, env: dict | None = None) -> tuple[dict, Measured]:
    m = run_measured([DZHUB, *args, "--json"], env=env, timeout=300)
    lines = [x for x in m.stdout.splitlines() if x.strip()]
    assert m.returncode == 0 and len(lines) == 1, (m.returncode, m.stdout[-2000:], m.stderr[-2000:])
    return json.loads(lines[0]), m


@pytest.fixture(scope="module")
def line_bomb(tmp_path_factory) -> Path:
    """One package, used read-only by check (load works on a copy)."""
    return long_line_package(tmp_path_factory.mktemp("bomb"), "ZBLINE-FULL-20261120-0001", LINE_BYTES)


def _bounded(m: Measured) -> None:
    assert m.peak_rss_mib < MAX_RSS_MIB and m.seconds < MAX_SECONDS, (m.peak_rss_mib, m.seconds)


def test_check_refuses_the_line_bomb_by_its_ratio(line_bomb):
    v, m = dzhub("package", "check", str(line_bomb))
    _bounded(m)
    assert v["valid"] is False and [(e["code"], e["file"]) for e in v["errors"]] == [("not_zip", MEMBER)]
    assert "decompression bomb" in v["errors"][0]["message"]


@pytest.mark.parametrize("command", ["check", "load"])
def test_a_line_longer_than_any_row_is_one_reject(command, line_bomb, pg_dsn, dirs, tmp_path):
    """With the ratio limit lifted, the line itself is met: rejected where it passes its bound,
    the rest of the file proven (and, by load, loaded)."""
    path = line_bomb
    if command == "load":  # a batch of its own (the check's package stays where it is)
        path = long_line_package(tmp_path, "ZBLINE-FULL-20261121-0001", LINE_BYTES)
    v, m = dzhub("package", command, str(path), env={"DZ_PKG_MAX_RATIO": "100000"})
    _bounded(m)
    assert v["valid"] is True and v["errors"] == [], v["errors"]
    assert v["rows"] == {"total": 6, "rejected": 1, "flagged": 0}
    [r] = v["rejects"]
    assert (r["file"], r["line"], r["field"]) == (MEMBER, 3, "XM")
    assert r["reason"].startswith("line longer than ") and "the rest of the line was not read" in r["reason"]
    if command == "load":
        assert v["status"] == "loaded" and v["loaded"]["loaded"] == 5


@pytest.mark.parametrize("command", ["check", "load"])
def test_an_entry_that_lies_about_its_size_is_named(command, pg_dsn, dirs, tmp_path):
    path = lying_size_package(tmp_path, f"ZBLIE{command.upper()}-FULL-20261120-0001", actual=8 << 20,
                              declared=4096)
    v, m = dzhub("package", command, str(path))
    _bounded(m)
    assert v["valid"] is False and [(e["code"], e["file"]) for e in v["errors"]] == [("not_zip", MEMBER)]
    assert "goes on past the 4096 bytes the zip declares" in v["errors"][0]["message"]
    if command == "load":
        assert v["status"] == "quarantined"
