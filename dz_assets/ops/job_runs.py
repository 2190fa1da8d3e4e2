"""The last successful run of each Dagster job, recorded in the warehouse by the run sensor so
that the metrics and ``dzhub status`` can say when the daily batches last ran without reading
Dagster's own storage (whose schema is Dagster's, not ours)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg

from dz_assets.db.named_sql import NamedSql

query = NamedSql(__file__)


@dataclass(frozen=True)
class JobRun:
    job: str
    run_id: str
    succeeded_at: datetime


def record_success(conn: psycopg.Connection, job: str, run_id: str, at: datetime) -> None:
    conn.execute(query("job_runs", "record_success"), {"job": job, "run_id": run_id, "at": at})


def last_successes(conn: psycopg.Connection) -> list[JobRun]:
    return [JobRun(*r) for r in conn.execute(query("job_runs", "last_successes"))]
