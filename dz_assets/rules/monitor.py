"""Whether a model's count of findings jumped on its latest evaluated day against the seven
evaluated days before it: a new data feed or a broken one shows as a jump long before anyone
reads the lists."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import NamedTuple

from dz_assets.db import connect
from dz_assets.db.named_sql import NamedSql

query = NamedSql(__file__)

# A jump: more than twice the 7-day mean and at least 20 more findings (small models move by a
# few findings a day; a doubling of 3 is no signal). Needs 3 earlier days to compare with.
JUMP_FACTOR = 2.0
JUMP_MIN_EXCESS = 20
MIN_HISTORY_DAYS = 3


class Jump(NamedTuple):
    model_code: str
    findings: int
    mean_7d: float
    days: int


@dataclass(frozen=True)
class Jumps:
    as_of: date | None
    jumps: list[Jump]


def count_jumps(dsn: str, as_of: date | None = None) -> Jumps:
    """Jumps of the day ``as_of`` (default: the day evaluated most recently)."""
    with connect(dsn) as conn:
        if as_of is None:
            row = conn.execute(query("monitor", "latest_day")).fetchone()
            as_of = row[0] if row else None
        if as_of is None:
            return Jumps(None, [])
        rows = conn.execute(query("monitor", "against_7d"), (as_of,)).fetchall()
    out = [Jump(code, int(n), float(mean), int(days)) for code, n, mean, days in rows
           if days >= MIN_HISTORY_DAYS and n > JUMP_FACTOR * float(mean) and n - float(mean) >= JUMP_MIN_EXCESS]
    return Jumps(as_of, out)
