"""What a run of the consumer did: the typed result the CLI prints and the Dagster run reports."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Summary:
    queue: str
    messages: int = 0
    changes: int = 0
    stored: int = 0
    duplicates: int = 0
    applied: int = 0
    deleted: int = 0
    ignored: int = 0
    ignored_base: int = 0
    poison: Counter = field(default_factory=Counter)
    batches: int = 0
    tables: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(Counter))
    seconds: float = 0.0
    max_lag_s: float = 0.0  # source commit ts → applied, over the changes applied
    received: int = 0  # changes received so far, counted before parsing (``changes``: the committed ones)
    stopped_by: str = ""

    @property
    def poison_total(self) -> int:
        return sum(self.poison.values())

    @property
    def changes_per_s(self) -> int | None:
        return round(self.changes / self.seconds) if self.seconds else None

    def as_dict(self) -> dict[str, Any]:
        return {"queue": self.queue, "messages": self.messages, "changes": self.changes,
                "stored": self.stored, "duplicates": self.duplicates, "applied": self.applied,
                "deleted": self.deleted, "ignored": self.ignored, "ignored_base": self.ignored_base,
                "poison": self.poison_total, "poison_by_reason": dict(self.poison),
                "batches": self.batches, "tables": {k: dict(v) for k, v in self.tables.items()},
                "seconds": round(self.seconds, 3), "max_lag_s": round(self.max_lag_s, 3),
                "changes_per_s": self.changes_per_s,
                "stopped_by": self.stopped_by}

    _ADDED = ("changes", "stored", "duplicates", "applied", "deleted", "ignored", "ignored_base", "batches")

    def delta(self) -> dict[str, Any]:
        """What a committed micro-batch adds (picklable: it crosses from the writer process)."""
        return {**{k: getattr(self, k) for k in self._ADDED}, "poison": dict(self.poison),
                "tables": {k: dict(v) for k, v in self.tables.items()}, "max_lag_s": self.max_lag_s}

    def add(self, d: dict[str, Any]) -> None:
        for k in self._ADDED:
            setattr(self, k, getattr(self, k) + d[k])
        self.poison.update(d["poison"])
        for code, t in d["tables"].items():
            self.tables[code].update(t)
        self.max_lag_s = max(self.max_lag_s, d["max_lag_s"])
