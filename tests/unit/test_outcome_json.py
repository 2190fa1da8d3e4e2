"""The verdict objects the CLI prints keep exactly their keys: ``as_json`` of each typed result
gives the object ``dzhub package check/load --json`` printed when the results were dicts."""

from __future__ import annotations

from dz_assets.province.delivery.full_load_figures import TableLoad
from dz_assets.province.delivery.incr_load import IncrResult
from dz_assets.province.delivery.outcome import LoadSummary, Outcome
from dz_assets.province.delivery.recon_package import ReconResult, ReconTable
from dz_assets.province.reader.verdict import RowCounts, Verdict

VERDICT = Verdict(batch_id="SCGA-FULL-20261120-0001", valid=True, kind="FULL", source="SCGA", sha256="ab",
                  errors=[], drift=[], rows=RowCounts(3, 1, 0), rejects=[])
HEAD = ["batch_id", "valid", "errors", "rows", "rejects"]
JUDGED = ["batch_id", "valid", "kind", "source", "sha256", "errors", "drift", "rows", "rejects"]


def test_a_verdict_prints_the_spec_object():
    assert VERDICT.as_json() == {"batch_id": "SCGA-FULL-20261120-0001", "valid": True, "kind": "FULL",
                                 "source": "SCGA", "sha256": "ab", "errors": [], "drift": [],
                                 "rows": {"total": 3, "rejected": 1, "flagged": 0}, "rejects": []}


def test_each_outcome_has_the_keys_it_had():
    err = [{"code": "duplicate_batch", "file": "x.zip", "message": "m"}]
    cases = [
        (Outcome.refused("b", err, status="quarantined", quarantine_path="q"), HEAD + ["status", "quarantine_path"]),
        (Outcome.refused("b", [], delivery_id=1, status="loaded", reason="r", backup_path="p"),
         HEAD + ["delivery_id", "status", "reason", "backup_path"]),
        (Outcome.refused("b", err, delivery_id=2, status="duplicate"), HEAD + ["delivery_id", "status"]),
        (Outcome.refused("b", err), HEAD),
        (Outcome.refused("b", err, status="busy", reason="r"), HEAD + ["status", "reason"]),
        (Outcome.judged(VERDICT, delivery_id=3, status="waiting", reason="r", backup_path="p"),
         JUDGED + ["delivery_id", "status", "reason", "backup_path"]),
        (Outcome.judged(VERDICT, delivery_id=3, status="applied", reason=None, backup_path="p",
                        applied=IncrResult("b", {}, RowCounts(), 0, 0, [], 0.1), released=["c"]),
         JUDGED + ["delivery_id", "status", "reason", "backup_path", "applied", "released"]),
        (Outcome.judged(VERDICT, delivery_id=3, status="loaded", backup_path="p", superseded=[],
                        loaded=LoadSummary(3, 2, 1, 0, 0, 0, {}, 1.0)),
         JUDGED + ["delivery_id", "status", "backup_path", "superseded", "rejects_file", "loaded"]),
        (Outcome("b", status="failed", error="E: x"), ["batch_id", "status", "error"]),
    ]
    for outcome, keys in cases:
        assert list(outcome.as_json()) == keys, outcome.status
    assert cases[0][0].as_json()["valid"] is False and cases[1][0].as_json()["valid"] is True


def test_a_loaded_outcome_reports_the_figures_it_did():
    t = TableLoad("HZ_HJRKJBXX", declared=3, loaded=2, rejected=1, flagged={"GMSFHM": {"id_checkdigit": 1}},
                  flagged_rows=1, bytes=100, duration_s=0.5, file_refs=[("k", "XP", "m")])
    loaded = LoadSummary(3, 2, 1, 0, 1, 4, {"HZ_HJRKJBXX": t}, 2.0004).as_json()
    assert loaded == {"declared": 3, "loaded": 2, "rejected": 1, "duplicate": 0, "flagged": 1, "objects": 4,
                      "tables": {"HZ_HJRKJBXX": {"table": "HZ_HJRKJBXX", "declared": 3, "loaded": 2, "rejected": 1,
                                                 "duplicate": 0, "flagged": {"GMSFHM": {"id_checkdigit": 1}},
                                                 "flagged_rows": 1, "bytes": 100, "duration_s": 0.5,
                                                 "rows_per_s": 4}},
                      "bytes": 100, "duration_s": 2.0, "rows_per_s": 1}


def test_a_recon_prints_its_totals():
    r = ReconResult("b", {"T": ReconTable(7, 10, 9, [1, 2], [3], ["k1"], ["k2", "k3"])}, None, 0.2)
    assert r.as_json() == {"batch_id": "b", "tables": {"T": {
        "recon_id": 7, "rows_province": 10, "rows_local": 9, "differing_buckets": [1, 2], "in_flight_buckets": [3],
        "differing_keys": ["k1"], "in_flight_keys": ["k2", "k3"]}}, "differing_buckets": 2, "differing_keys": 1,
        "in_flight_keys": 2, "repair_request": None, "duration_s": 0.2}


def test_a_loaded_outcome_carries_the_loads_rows_not_the_unproven_verdicts():
    o = Outcome.judged(VERDICT, rows=RowCounts(9, 2, 1), rejects=[{"line": 1}], status="loaded")
    assert o.as_json()["rows"] == {"total": 9, "rejected": 2, "flagged": 1} and o.as_json()["rejects"] == [{"line": 1}]
