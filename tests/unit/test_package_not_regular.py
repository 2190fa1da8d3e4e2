"""A package path that is no regular file (a FIFO, a directory, a symlink to one, a /proc file
that cannot be read) is refused at once, naming it, instead of hanging or failing nameless."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.province_builder import Dataset, build_package, person_rows

DZHUB = str(Path(sys.executable).with_name("dzhub"))


def _check(path: Path | str) -> dict:
    out = subprocess.run([DZHUB, "package", "check", str(path), "--json"], capture_output=True, text=True,
                         timeout=60)  # a FIFO opened for reading would block forever
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_a_fifo_named_like_a_package_is_refused(tmp_path):
    fifo = tmp_path / "SCGA-FULL-20261120-0001.zip"
    os.mkfifo(fifo)
    v = _check(fifo)
    assert v["valid"] is False
    assert [e["code"] for e in v["errors"]] == ["not_zip"]
    assert str(fifo) in v["errors"][0]["message"] and "FIFO" in v["errors"][0]["message"]


def test_a_symlink_to_a_fifo_is_refused(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    link = tmp_path / "SCGA-FULL-20261120-0002.zip"
    link.symlink_to(fifo)
    v = _check(link)
    assert [e["code"] for e in v["errors"]] == ["not_zip"] and "FIFO" in v["errors"][0]["message"]


def test_a_fifo_marker_is_refused(tmp_path):
    b = build_package(tmp_path, "SCGA-FULL-20261120-0003", [Dataset("HZ_HJRKJBXX", person_rows(3))])
    marker = b.zip_path.with_name(b.zip_path.name + ".ok")
    marker.unlink()
    os.mkfifo(marker)
    v = _check(b.zip_path)
    assert [e["code"] for e in v["errors"]] == ["marker_mismatch"] and "FIFO" in v["errors"][0]["message"]


@pytest.mark.skipif(not Path("/proc/self/mem").exists(), reason="needs Linux /proc")
def test_an_unreadable_proc_file_is_named():
    v = _check("/proc/self/mem")
    assert [e["code"] for e in v["errors"]] == ["not_zip"]
    assert "/proc/self/mem" in v["errors"][0]["message"]
