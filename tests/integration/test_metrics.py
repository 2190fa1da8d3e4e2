"""Pipeline metrics against the real warehouse: a real load moves the counters, the output parses
as Prometheus text, ``dzhub metrics serve`` answers without signing in, and a warehouse that does
not answer is ``dzhub_up 0``, not an error page."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from support.province_builder import Dataset, build_package, person_rows

from dz_assets.ops.metrics import pipeline_registry


def _samples(text: str) -> dict[tuple, float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _scrape(dsn: str) -> dict[tuple, float]:
    return _samples(generate_latest(pipeline_registry(dsn)).decode())


def _value(samples, name, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_a_load_moves_the_counters_and_the_text_parses(pg_dsn, dirs, tmp_path):
    from dz_assets.province.delivery.pipeline import process_package

    before = _scrape(pg_dsn)
    assert _value(before, "dzhub_up") == 1
    good = build_package(tmp_path / "a", "MTRX-FULL-20261120-0001",
                         [Dataset("HZ_HJRKJBXX", person_rows(40, photo=True) + [["bad"] * 14])],
                         objects={"files/p0.jpg": b"\xff\xd8metrics-photo"})
    bad = build_package(tmp_path / "b", "MTRX-FULL-20261121-0001", [Dataset("HZ_HJRKJBXX", person_rows(3))],
                        defect="file_checksum")
    assert process_package(good.zip_path).status == "loaded"
    assert process_package(bad.zip_path).status == "quarantined"
    after = _scrape(pg_dsn)

    src = {"source": "MTRX", "kind": "FULL"}
    assert _value(after, "dzhub_province_rows_total", **src, outcome="loaded") - \
        _value(before, "dzhub_province_rows_total", **src, outcome="loaded") == 40
    assert _value(after, "dzhub_province_rows_total", **src, outcome="rejected") == 1
    assert _value(after, "dzhub_province_batches", **src, status="loaded") == 1
    assert _value(after, "dzhub_province_batches", **src, status="quarantined") == 1
    assert _value(after, "dzhub_objects") == _value(before, "dzhub_objects") + 1
    assert _value(after, "dzhub_province_last_loaded_timestamp_seconds", source="MTRX") > time.time() - 600
    assert _value(after, "dzhub_alerts_open", kind="file_checksum", severity="error") >= 1
    names = {n for n, _ in after}
    assert {"dzhub_cdc_lag_seconds", "dzhub_scrape_duration_seconds"} <= names
    # No subject, key or value of a row in any label: batch ids and ID numbers stay out.
    text = generate_latest(pipeline_registry(pg_dsn)).decode()
    assert "MTRX-FULL" not in text and "R00000000" not in text


def test_a_warehouse_that_does_not_answer_is_up_zero(pg_dsn):
    samples = _scrape("postgresql://postgres@127.0.0.1:1/nothing")
    assert _value(samples, "dzhub_up") == 0
    assert not any(n.startswith("dzhub_province") for n, _ in samples)


def test_metrics_serve_answers_without_sign_in(pg_dsn):
    dzhub = Path(sys.executable).with_name("dzhub")
    proc = subprocess.Popen([str(dzhub), "metrics", "serve", "--port", "0"], stderr=subprocess.PIPE, text=True,
                            env={**os.environ})
    try:
        line = proc.stderr.readline()
        assert "/metrics" in line, line
        url = line.split()[-1]
        with urllib.request.urlopen(url, timeout=10) as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith("text/plain")
            samples = _samples(resp.read().decode())
        assert _value(samples, "dzhub_up") == 1
    finally:
        proc.terminate()
        assert proc.wait(10) == 0
