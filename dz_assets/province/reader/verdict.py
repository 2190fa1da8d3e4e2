"""The verdict object of package-format.md ("Verdicts"): a package judged alone, no database.

``check_verdict`` proves every line of every data file that is present (also when the package
has package-level problems, so that one report shows everything wrong with it).
"""

from __future__ import annotations

from pathlib import Path

from dz_assets.catalog import load_catalogue
from dz_assets.province.reader.bcp import prove_stream
from dz_assets.province.reader.package import Package, open_package
from dz_assets.province.reader.quality import count_flags, flag_rules
from dz_assets.province.reader.reject_spool import RejectDicts, RejectSpool


def prove_package_rows(pkg: Package) -> dict:
    """rows {total, rejected, flagged} and the rejects of every present data file."""
    rows = {"total": 0, "rejected": 0, "flagged": 0}
    rejects = RejectSpool()  # bounded in memory: a package may reject millions of lines
    if pkg.index is None:
        return {"rows": rows, "rejects": rejects.dicts()}
    cat = load_catalogue()
    # Absent, or an entry refused unread (a size that lies, a damaged entry): nothing to prove.
    problem_files = {p.file for p in pkg.problems if p.code in ("file_missing", "not_zip")}
    objects = frozenset(pkg.objects)
    for ds in pkg.index.datasets:
        rules = flag_rules(ds, cat, pkg.index.created) if ds.table in cat else []
        for f in ds.files:
            if f.name in problem_files:
                continue
            with pkg.open_member(f.name) as fh:
                for chunk in prove_stream(fh, ds, f.name, kind=pkg.kind, objects=objects):
                    rows["total"] += chunk.total
                    rows["rejected"] += len(chunk.rejects)
                    rows["flagged"] += count_flags(chunk.frame, rules, f.name).rows_flagged
                    rejects.extend(chunk.rejects)
    return {"rows": rows, "rejects": rejects.dicts()}


def verdict_of(pkg: Package, *, prove_rows: bool = True) -> dict:
    out = {
        "batch_id": pkg.batch_id,
        "valid": pkg.valid,
        "kind": pkg.kind,
        "source": pkg.source,
        "sha256": pkg.sha256,
        "errors": [p.as_dict() for p in pkg.problems],
        "drift": pkg.drift,
    }
    out.update(prove_package_rows(pkg) if prove_rows else
               {"rows": {"total": 0, "rejected": 0, "flagged": 0}, "rejects": RejectDicts()})
    return out


def check_verdict(zip_path: str | Path, marker_path: str | Path | None = None) -> dict:
    """``dzhub package check PATH --json``: every package- and row-level finding, nothing loaded."""
    return verdict_of(open_package(zip_path, marker_path))
