"""What a FULL load found and did, per file, per table and for the batch: the typed figures the
loader fills, the pipeline reports and ``meta.batch_file`` records."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dz_assets.province.reader.reject_spool import RejectSpool


class LoadCheckFailed(RuntimeError):
    """A check made during the load failed: nothing was swapped in."""


@dataclass
class FileLoad:
    table: str
    file: str
    declared: int
    bytes: int
    loaded: int = 0
    rejected: int = 0
    duplicate: int = 0
    flagged: int = 0
    duration_s: float = 0.0


# The figures of a table that its report carries, in this order (``file_refs`` and ``files`` are
# the loader's own: the object store takes the first, meta.batch_file the second).
TABLE_REPORT = ("table", "declared", "loaded", "rejected", "duplicate", "flagged", "flagged_rows", "bytes",
                "duration_s")


@dataclass
class TableLoad:
    table: str
    declared: int = 0
    loaded: int = 0
    rejected: int = 0
    duplicate: int = 0
    flagged: dict[str, dict[str, int]] = field(default_factory=dict)  # field -> flag -> rows
    flagged_rows: int = 0
    bytes: int = 0
    duration_s: float = 0.0
    file_refs: list[tuple[str, str, str]] = field(default_factory=list)  # (row_key, field, member)
    files: list[FileLoad] = field(default_factory=list)

    @property
    def rows_per_s(self) -> int | None:
        return round(self.loaded / self.duration_s) if self.duration_s else None

    def as_json(self) -> dict[str, Any]:
        """The table's entry under a loaded verdict's ``loaded.tables``."""
        out: dict[str, Any] = {k: getattr(self, k) for k in TABLE_REPORT}
        out["flagged"] = {f: dict(v) for f, v in self.flagged.items()}
        out["rows_per_s"] = self.rows_per_s
        return out


@dataclass
class FullLoadResult:
    batch_id: str
    delivery_id: int | None
    tables: dict[str, TableLoad]
    duration_s: float = 0.0
    rejects: RejectSpool = field(default_factory=RejectSpool)

    @property
    def flagged_rows(self) -> int:
        return sum(t.flagged_rows for t in self.tables.values())

    def totals(self) -> dict[str, int]:
        return {k: sum(getattr(t, k) for t in self.tables.values())
                for k in ("declared", "loaded", "rejected", "duplicate", "flagged_rows", "bytes")}
