"""The verdict object of package-format.md ("Verdicts"): a package judged alone, no database.

``check_verdict`` proves every line of every data file that is present (also when the package
has package-level problems, so that one report shows everything wrong with it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from dz_assets.catalog import load_catalogue
from dz_assets.province.reader.bcp import prove_stream
from dz_assets.province.reader.package import Package, open_package
from dz_assets.province.reader.quality import count_flags, flag_rules
from dz_assets.province.reader.reject_spool import RejectDicts, RejectSpool


class RowCounts(NamedTuple):
    """A verdict's ``rows``: lines over all data files, rejected lines, flagged rows."""

    total: int = 0
    rejected: int = 0
    flagged: int = 0

    def as_json(self) -> dict[str, int]:
        return self._asdict()


class ProvenRows(NamedTuple):
    rows: RowCounts
    rejects: RejectDicts


@dataclass
class Verdict:
    """A package judged alone (package-format.md "Verdicts"); ``as_json`` is the object printed."""

    batch_id: str
    valid: bool
    kind: str | None
    source: str | None
    sha256: str | None
    errors: list[dict[str, Any]]
    drift: Any
    rows: RowCounts = RowCounts()
    rejects: RejectDicts | list = field(default_factory=RejectDicts)

    def as_json(self) -> dict[str, Any]:
        return {"batch_id": self.batch_id, "valid": self.valid, "kind": self.kind, "source": self.source,
                "sha256": self.sha256, "errors": self.errors, "drift": self.drift,
                "rows": self.rows.as_json(), "rejects": self.rejects}


def prove_package_rows(pkg: Package) -> ProvenRows:
    """rows {total, rejected, flagged} and the rejects of every present data file."""
    total = rejected = flagged = 0
    rejects = RejectSpool()  # bounded in memory: a package may reject millions of lines
    if pkg.index is None:
        return ProvenRows(RowCounts(), rejects.dicts())
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
                    total += chunk.total
                    rejected += len(chunk.rejects)
                    flagged += count_flags(chunk.frame, rules, f.name).rows_flagged
                    rejects.extend(chunk.rejects)
    return ProvenRows(RowCounts(total, rejected, flagged), rejects.dicts())


def verdict_of(pkg: Package, *, prove_rows: bool = True) -> Verdict:
    rows, rejects = prove_package_rows(pkg) if prove_rows else (RowCounts(), RejectDicts())
    return Verdict(batch_id=pkg.batch_id, valid=pkg.valid, kind=pkg.kind, source=pkg.source, sha256=pkg.sha256,
                   errors=[p.as_dict() for p in pkg.problems], drift=pkg.drift, rows=rows, rejects=rejects)


def check_verdict(zip_path: str | Path, marker_path: str | Path | None = None) -> Verdict:
    """``dzhub package check PATH --json``: every package- and row-level finding, nothing loaded."""
    return verdict_of(open_package(zip_path, marker_path))
