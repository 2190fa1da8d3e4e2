"""What became of one package: the typed result of the delivery pipeline (``process_package``,
``process_inbox``, ``load_package_copy``) that the asset and the CLI read, and ``as_json``, the
verdict object ``dzhub package load --json`` prints (package-format.md "Verdicts")."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dz_assets.province.delivery.full_load_figures import TableLoad
from dz_assets.province.delivery.incr_load import IncrResult
from dz_assets.province.delivery.recon_package import ReconResult
from dz_assets.province.reader.verdict import RowCounts, Verdict


@dataclass
class LoadSummary:
    """A loaded FULL's figures (the verdict's ``loaded``)."""

    declared: int
    loaded: int
    rejected: int
    duplicate: int
    flagged: int
    objects: int
    tables: dict[str, TableLoad]
    duration_s: float

    @property
    def bytes(self) -> int:
        return sum(t.bytes for t in self.tables.values())

    @property
    def rows_per_s(self) -> int | None:
        return round(self.declared / self.duration_s) if self.duration_s else None

    def as_json(self) -> dict[str, Any]:
        return {"declared": self.declared, "loaded": self.loaded, "rejected": self.rejected,
                "duplicate": self.duplicate, "flagged": self.flagged, "objects": self.objects,
                "tables": {code: t.as_json() for code, t in self.tables.items()}, "bytes": self.bytes,
                "duration_s": round(self.duration_s, 3), "rows_per_s": self.rows_per_s}


@dataclass
class Outcome:
    """One package's verdict and what happened to it.

    ``verdict`` is the package's own (kind, source, SHA-256, drift) when it was opened; an outcome
    decided before (a bad name, a duplicate, a busy batch) carries only the batch id and errors.
    ``error`` is set alone when the package's run raised (``process_inbox`` goes on)."""

    batch_id: str
    valid: bool = True
    errors: list[dict[str, Any]] = field(default_factory=list)
    verdict: Verdict | None = None
    rows: RowCounts = RowCounts()
    rejects: Any = field(default_factory=list)  # RejectDicts or a list of reject objects
    delivery_id: int | None = None
    status: str | None = None
    reason: str | None = None
    quarantine_path: str | None = None
    backup_path: str | None = None
    superseded: list[int] | None = None
    rejects_file: str | None = None
    loaded: LoadSummary | None = None
    recon: ReconResult | None = None
    applied: IncrResult | None = None
    released: list[str] | None = None
    error: str | None = None
    rerun: bool = False  # the asset's re-run of a batch no longer in the inbox (never printed)

    @property
    def drift(self) -> Any:
        return self.verdict.drift if self.verdict is not None else None

    @classmethod
    def judged(cls, verdict: Verdict, **what: Any) -> Outcome:
        """An outcome carrying the package's verdict (``rows`` and ``rejects`` may be the load's)."""
        return cls(**{"batch_id": verdict.batch_id, "valid": verdict.valid, "errors": verdict.errors,
                      "verdict": verdict, "rows": verdict.rows, "rejects": verdict.rejects, **what})

    @classmethod
    def refused(cls, batch_id: str, errors: list[dict[str, Any]], **what: Any) -> Outcome:
        """An outcome decided without the package's verdict; valid when nothing is wrong with it."""
        return cls(batch_id=batch_id, valid=not errors, errors=errors, **what)

    def as_json(self) -> dict[str, Any]:
        """Exactly the verdict object of the spec with what happened to the package: a key is
        there when its step happened (``reason`` of an applied batch is null: the parking's
        reason is history; ``rejects_file`` of a loaded FULL is null without rejects)."""
        if self.error is not None:
            return {"batch_id": self.batch_id, "status": self.status, "error": self.error}
        v = self.verdict
        out: dict[str, Any] = {"batch_id": self.batch_id, "valid": self.valid}
        if v is not None:
            out.update(kind=v.kind, source=v.source, sha256=v.sha256)
        out["errors"] = self.errors
        if v is not None:
            out["drift"] = v.drift
        out.update(rows=self.rows.as_json(), rejects=self.rejects)
        for k in ("delivery_id", "status"):
            if getattr(self, k) is not None:
                out[k] = getattr(self, k)
        if self.reason is not None or self.status == "applied":
            out["reason"] = self.reason
        for k in ("quarantine_path", "backup_path", "superseded"):
            if getattr(self, k) is not None:
                out[k] = getattr(self, k)
        if self.loaded is not None:
            out["rejects_file"] = self.rejects_file
            out["loaded"] = self.loaded.as_json()
        if self.recon is not None:
            out["recon"] = self.recon.as_json()
        if self.applied is not None:
            out["applied"] = self.applied.as_json()
        if self.released is not None:
            out["released"] = self.released
        return out
