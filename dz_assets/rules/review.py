"""A police station's verdict on a finding (confirmed 属实, false_positive 不属实, fixed 已整改),
kept with the rule version and evidence it was given on, and precision per model and version.

A false positive suppresses its subject (model + person/address) for the same rule version while
the evidence stays the same: the finding is still computed and stored, only not listed. A
confirmed subject stays open until a ``fixed`` verdict."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from dz_assets.db import connect
from dz_assets.db.named_sql import NamedSql

query = NamedSql(__file__)

VERDICTS = {"confirmed": "属实", "false_positive": "不属实", "fixed": "已整改"}


class UnknownFinding(LookupError):
    pass


@dataclass(frozen=True)
class Review:
    review_id: int
    finding_id: str
    model_code: str
    rule_version: str
    as_of: date
    verdict: str
    reviewer: str
    reviewed_at: datetime


@dataclass(frozen=True)
class Precision:
    model_code: str
    rule_version: str
    reviewed: int
    confirmed: int
    false_positive: int
    precision: float | None


def record_review(dsn: str, finding_id: str, verdict: str, reviewer: str, note: str | None = None) -> Review:
    """Record ``verdict`` on the finding ``finding_id`` (any evaluated day's)."""
    if verdict not in VERDICTS:
        raise ValueError(f"verdict must be one of {', '.join(VERDICTS)}, not {verdict!r}")
    with connect(dsn) as conn:
        row = conn.execute(query("review", "insert"), {"finding_id": finding_id, "verdict": verdict,
                                                       "reviewer": reviewer, "note": note}).fetchone()
        if row is None:
            raise UnknownFinding(f"no finding {finding_id!r} in model.mdl_findings")
        conn.commit()
    return Review(*row)


def precision(dsn: str) -> list[Precision]:
    """Precision per model and rule version from the reviews (each subject's latest verdict)."""
    with connect(dsn) as conn:
        return [Precision(c, v, int(n), int(ok), int(fp), float(p) if p is not None else None)
                for c, v, n, ok, fp, p in conn.execute(query("review", "precision")).fetchall()]
