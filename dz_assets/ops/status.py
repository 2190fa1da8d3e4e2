"""The platform's health in one object, for outside monitors (``dzhub status``).

Down, by one documented rule (:func:`down_reasons`): PostgreSQL or RabbitMQ does not answer, or
an alert of severity ``error`` or ``critical`` is open (not resolved; acknowledging does not
close it, resolving does). Everything else (the last batch per source, the change stream's lag
and pending changes, open alerts by severity, the last successful run of each job, the disks
of the inbox and state folder) is reported for the reader to judge: a warning is not down.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import pika
import psycopg

from dz_assets.cdc.status import status as cdc_status
from dz_assets.db import CONNECT_TIMEOUT_S, connect, redact, resolve_dsn
from dz_assets.db.named_sql import NamedSql
from dz_assets.ops.health import DiskUse, disk_use
from dz_assets.ops.job_runs import JobRun, last_successes
from dz_assets.settings import Settings, get_settings

query = NamedSql(__file__)

DOWN_SEVERITIES = ("error", "critical")


@dataclass(frozen=True)
class Service:
    name: str
    ok: bool
    where: str
    error: str | None = None


@dataclass(frozen=True)
class SourceBatch:
    source: str
    batch_id: str
    kind: str
    status: str
    received_at: datetime
    finished_at: datetime | None
    last_loaded_at: datetime | None


@dataclass(frozen=True)
class ChangeStream:
    pending: int
    lag_s: float | None
    max_lag_s: float
    lag_ok: bool


@dataclass(frozen=True)
class PlatformStatus:
    ok: bool
    down: list[str]  # why not ok (empty when ok)
    checked_at: datetime
    services: list[Service]
    batches: list[SourceBatch] = field(default_factory=list)
    change_stream: ChangeStream | None = None
    alerts_open: dict[str, int] = field(default_factory=dict)  # by severity
    job_runs: list[JobRun] = field(default_factory=list)
    disks: list[DiskUse] = field(default_factory=list)


def check_postgres(settings: Settings) -> tuple[Service, str | None]:
    """(the service, its DSN when it answered). Never starts an embedded server."""
    try:
        dsn = resolve_dsn(settings).dsn
    except RuntimeError as exc:
        return Service("postgresql", False, "", str(exc)), None
    try:
        with connect(dsn) as conn:
            conn.execute("select 1")
    except psycopg.Error as exc:
        return Service("postgresql", False, redact(dsn), f"{type(exc).__name__}: {exc}".strip()), None
    return Service("postgresql", True, redact(dsn)), dsn


def check_rabbitmq(settings: Settings) -> Service:
    """An AMQP handshake (a port that accepts is not a broker that answers)."""
    params = pika.URLParameters(settings.amqp_url)
    params.connection_attempts = 1
    params.socket_timeout = CONNECT_TIMEOUT_S
    params.stack_timeout = CONNECT_TIMEOUT_S * 2
    where = f"{params.host}:{params.port}"
    try:
        conn = pika.BlockingConnection(params)
    except Exception as exc:  # pika raises its own family, and socket errors beneath it
        return Service("rabbitmq", False, where, f"{type(exc).__name__}: {exc}".strip())
    conn.close()
    return Service("rabbitmq", True, where)


def down_reasons(services: list[Service], alerts_open: dict[str, int]) -> list[str]:
    """The rule for "down": a service unreachable, or an open error/critical alert."""
    out = [f"{s.name} unreachable: {s.error}" for s in services if not s.ok]
    out += [f"{alerts_open[sev]} open {sev} alert(s)" for sev in DOWN_SEVERITIES if alerts_open.get(sev)]
    return out


def platform_status(settings: Settings | None = None) -> PlatformStatus:
    s = settings or get_settings()
    pg, dsn = check_postgres(s)
    mq = check_rabbitmq(s)
    services = [pg, mq]
    batches: list[SourceBatch] = []
    stream = None
    alerts: dict[str, int] = {}
    runs: list[JobRun] = []
    if dsn is not None:
        with connect(dsn, autocommit=True) as conn:
            batches = [SourceBatch(*r) for r in conn.execute(query("status", "last_batches"))]
            cdc = cdc_status(conn, settings=s, broker=mq.ok)
            stream = ChangeStream(cdc.pending, cdc.lag_s, cdc.max_lag_s, cdc.lag_ok)
            alerts = dict(conn.execute(query("status", "open_alerts")).fetchall())
            runs = last_successes(conn)
    down = down_reasons(services, alerts)
    return PlatformStatus(ok=not down, down=down, checked_at=datetime.now(UTC), services=services,
                          batches=batches, change_stream=stream, alerts_open=alerts, job_runs=runs,
                          disks=disk_use([s.inbox, s.state_dir]))
