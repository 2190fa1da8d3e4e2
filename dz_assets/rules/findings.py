"""Reading the findings of an evaluated day, in the columns of the spec's "Output"."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from dz_assets.db import connect
from dz_assets.db.named_sql import NamedSql

query = NamedSql(__file__)

OUTPUT_COLUMNS = ("finding_id", "model_code", "model_name", "rule_version", "as_of", "subject_gmsfhm",
                  "subject_xm", "subject_dzbm", "xzqhdm", "gajgjgdm", "evidence", "first_seen", "last_seen",
                  "review_status")


def read_findings(dsn: str, as_of: date, model: str | None = None, *,
                  include_suppressed: bool = False) -> list[dict[str, Any]]:
    """Day ``as_of``'s findings (of one model code when given), ordered by model and subject;
    subjects suppressed by a false-positive review only with ``include_suppressed``."""
    with connect(dsn) as conn:
        cur = conn.execute(query("findings", "day"), {"as_of": as_of, "model": model.upper() if model else None,
                                                      "suppressed": include_suppressed})
        cols = [c.name for c in cur.description]
        return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]


@dataclass(frozen=True)
class DayCounts:
    per_model: dict[str, int]
    per_station: dict[str, dict[str, int]]  # model code -> "xzqhdm/gajgjgdm" -> findings


def day_breakdown(dsn: str, as_of: date) -> DayCounts:
    """Findings of the day per model and per division and police station (for run metadata)."""
    per_model: dict[str, int] = {}
    per_station: dict[str, dict[str, int]] = {}
    with connect(dsn) as conn:
        for code, xzqh, gajg, n in conn.execute(query("findings", "per_station"), (as_of,)).fetchall():
            per_model[code] = per_model.get(code, 0) + int(n)
            per_station.setdefault(code, {})[f"{xzqh or '-'}/{gajg or '-'}"] = int(n)
    return DayCounts(per_model, per_station)
