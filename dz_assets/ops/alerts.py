"""Alerts: every stage raises them the same way, and one fault is one alert.

``raise_alert`` records a fault in ``meta.alert`` in the caller's transaction: the same fault
(``code`` and ``subject``) while its alert is open counts up (``count``, ``last_seen``) instead of
adding a row, so a sensor tick or a package loaded twice never floods. ``resolve_alerts`` closes
an alert when its fault clears; a fault that returns afterwards opens a new one.

Delivery to ``DZ_ALERT_WEBHOOK`` is an outbox: the row is the message (``delivered = false``), and
a daemon thread of the raising process posts it after the caller commits, with retries and
exponential backoff (``attempts``, ``next_attempt_at``). Nothing that raises an alert ever waits
on the network; the Dagster delivery sensor drains what a process left behind (a CLI that exited,
a webhook that was down). Only the opening of an alert is posted, once; repeats are counted.
A silence (``meta.alert_silence``) mutes a kind, or a kind and subject, until a time.
"""

from __future__ import annotations

import atexit
import json
import logging
import threading
import time
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo

from dz_assets.db.named_sql import NamedSql
from dz_assets.settings import get_settings

log = logging.getLogger(__name__)
query = NamedSql(__file__)

SEVERITIES = ("info", "warning", "error", "critical")
WEBHOOK_TIMEOUT_S = 3  # a slow receiver holds one sender thread this long, never the raiser
MAX_ATTEMPTS = 20  # with the backoff capped at 1 h: about 14 h of retries, then the row waits for an operator
LEASE_S = 30  # a claimed alert is not claimed again meanwhile (the post takes at most WEBHOOK_TIMEOUT_S)
EXIT_GRACE_S = 1.0  # a short-lived process (a CLI load) gives its sender this long at exit


def raise_alert(
    conn: psycopg.Connection,
    *,
    severity: str,
    source: str,
    code: str,
    message: str,
    subject: str | None = None,
    details: dict[str, Any] | None = None,
) -> int:
    """Record a fault (in the caller's transaction); returns the id of its open alert.

    ``code`` is the alert's kind (``run_failed``, ``check_failed``, ``marker_mismatch`` …) and
    with ``subject`` (batch id, job, table, disk …) names the fault: raised again while its alert
    is open, it counts instead of adding an alert."""
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be one of {SEVERITIES}, not {severity!r}")
    payload = json.dumps(details or {}, ensure_ascii=False, default=str)
    alert_id, count = conn.execute(query("alerts", "raise"), {
        "severity": severity, "source": source, "code": code, "subject": subject,
        "message": message, "details": payload}).fetchone()
    if count == 1:
        log.warning("alert %s [%s/%s] %s: %s", alert_id, source, code, subject or "-", message)
        if get_settings().alert_webhook:
            _sender.wake(conn)
    return alert_id


def resolve_alerts(conn: psycopg.Connection, code: str, subject: str | None = None) -> list[int]:
    """Resolve the open alerts of ``code`` (of that ``subject`` only, when given): the fault cleared."""
    return [r[0] for r in conn.execute(query("alerts", "resolve"), {"code": code, "subject": subject})]


def resolve_cleared(conn: psycopg.Connection, code: str, failing: list[str | None]) -> list[int]:
    """Resolve the open alerts of ``code`` whose subject is not among ``failing`` (what a sensor
    that watches a whole set, such as tables or disks, found faulty on this tick)."""
    return [r[0] for r in conn.execute(query("alerts", "resolve_cleared"),
                                       {"code": code, "failing": [s or "" for s in failing]})]


def open_alert_since(conn: psycopg.Connection, subject: str, since: datetime) -> int | None:
    """The id of an open alert about ``subject`` seen since ``since`` (None: there is none)."""
    row = conn.execute(query("alerts", "open_since"), {"subject": subject, "since": since}).fetchone()
    return row[0] if row else None


@dataclass(frozen=True)
class Alert:
    alert_id: int
    code: str
    severity: str
    source: str
    subject: str | None
    message: str
    details: dict[str, Any]
    first_seen: datetime
    last_seen: datetime
    count: int
    acked_by: str | None
    acked_at: datetime | None
    resolved_at: datetime | None
    delivered: bool
    silence_id: int | None


def list_alerts(conn: psycopg.Connection, *, open_only: bool = False, limit: int = 200) -> list[Alert]:
    """The newest alerts first (by last seen)."""
    return [Alert(*r) for r in conn.execute(query("alerts", "list"), {"open_only": open_only, "limit": limit})]


def ack_alert(conn: psycopg.Connection, alert_id: int, by: str, *, resolve: bool = False) -> bool:
    """Mark an alert acknowledged by ``by`` (and resolved, for a fault nothing else clears, such
    as poison messages); False when there is no such alert."""
    return conn.execute(query("alerts", "ack"), {"alert_id": alert_id, "by": by,
                                                 "resolve": resolve}).fetchone() is not None


def add_silence(conn: psycopg.Connection, *, code: str, until: datetime, reason: str, by: str,
                subject: str | None = None) -> int:
    """Mute alerts of ``code`` (``*``: every kind), of ``subject`` only when given, until ``until``.
    Muted alerts are still recorded and counted, just not posted."""
    if not reason.strip():
        raise ValueError("a silence needs its reason")
    return conn.execute(query("alerts", "silence"), {"code": code, "subject": subject, "until": until,
                                                     "reason": reason, "by": by}).fetchone()[0]


def active_silences(conn: psycopg.Connection) -> list[dict[str, Any]]:
    cur = conn.execute(query("alerts", "silences"))
    names = [c.name for c in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur]


def webhook_body(row: tuple) -> dict[str, Any]:
    """The JSON posted to the webhook (documented in the README)."""
    (alert_id, code, severity, source, subject, message, details, first_seen, last_seen, count,
     resolved_at, attempts) = row
    return {"alert_id": alert_id, "kind": code, "severity": severity, "source": source,
            "subject": subject, "message": message, "details": details,
            "first_seen": first_seen.isoformat(), "last_seen": last_seen.isoformat(), "count": count,
            "resolved_at": resolved_at.isoformat() if resolved_at else None, "attempt": attempts}


def deliver_pending(conn: psycopg.Connection, url: str | None = None, *, limit: int = 50) -> tuple[int, int]:
    """Post the due, undelivered alerts to the webhook; (delivered, failed). ``conn`` must be in
    autocommit mode: each claim commits before its post, so no lock is held over the network."""
    url = url or get_settings().alert_webhook
    if not url:
        return 0, 0
    ok = bad = 0
    rows = conn.execute(query("alerts", "claim"), {"max_attempts": MAX_ATTEMPTS, "limit": limit,
                                                   "lease_s": LEASE_S}).fetchall()
    for row in rows:
        error = post_json(url, webhook_body(row))
        if error is None:
            conn.execute(query("alerts", "delivered"), {"alert_id": row[0]})
            ok += 1
        else:
            conn.execute(query("alerts", "failed"), {"alert_id": row[0], "error": error[:500]})
            bad += 1
    return ok, bad


def post_json(url: str, body: dict[str, Any]) -> str | None:
    """POST ``body``; None on a 2xx answer, else what went wrong."""
    data = json.dumps(body, ensure_ascii=False, default=str).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=WEBHOOK_TIMEOUT_S) as resp:
            return None if 200 <= resp.status < 300 else f"HTTP {resp.status}"
    except (OSError, ValueError) as exc:  # URLError, timeouts, refused connections, bad URLs
        log.warning("alert webhook %s failed: %s", url, exc)
        return f"{type(exc).__name__}: {exc}"


# The sender's connection names itself, so that an operator (or a test counting a load's
# connections) can tell it from the work that raised the alert.
SENDER_APP = "dzhub alert sender"


class _Sender:
    """One daemon thread per process posting the outbox of the database an alert was raised in.

    Woken by ``raise_alert``; the row becomes visible when the caller commits, so the thread
    polls briefly (every 0.5 s for ``_EAGER_S``), then follows the backoff of what is left and
    ends when nothing is due soon (the delivery sensor takes over longer backoffs)."""

    _EAGER_S = 10.0
    _POLL_S = 0.5

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._event = threading.Event()
        self._thread: threading.Thread | None = None
        self._dsn: str | None = None
        self._woken = 0.0
        self._exiting = False
        atexit.register(self._at_exit)

    def wake(self, conn: psycopg.Connection) -> None:
        info = conn.info
        dsn = make_conninfo(info.dsn, password=info.password) if info.password else info.dsn
        with self._lock:
            self._dsn = dsn
            self._woken = time.monotonic()
            self._event.set()
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="dz-alert-webhook", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        # One connection for the thread's life, not one per poll; a new one when the raiser's
        # database changes (tests) or the old one broke.
        conn: psycopg.Connection | None = None
        conn_dsn: str | None = None
        try:
            while True:
                self._event.clear()
                with self._lock:
                    dsn, eager = self._dsn, time.monotonic() - self._woken < self._EAGER_S
                try:
                    if conn is None or conn.closed or conn_dsn != dsn:
                        if conn is not None:
                            conn.close()
                        conn, conn_dsn = psycopg.connect(dsn, autocommit=True, connect_timeout=5,
                                                        application_name=SENDER_APP), dsn
                    deliver_pending(conn)
                    due = conn.execute(query("alerts", "next_due"), {"max_attempts": MAX_ATTEMPTS}).fetchone()[0]
                except Exception as exc:  # the database went away: the delivery sensor retries later
                    if not self._exiting:  # at exit the database may be gone on purpose (a test's)
                        log.warning("alert sender: %s", exc)
                    if conn is not None:
                        conn.close()
                    conn, due = None, None
                if self._exiting:  # one last pass for the process that is ending
                    return
                if eager:
                    wait = self._POLL_S
                elif due is not None and float(due) < 60:
                    wait = max(self._POLL_S, float(due))
                else:
                    with self._lock:
                        if time.monotonic() - self._woken >= self._EAGER_S and not self._event.is_set():
                            self._thread = None
                            return
                    continue
                self._event.wait(wait)
        finally:
            if conn is not None:
                conn.close()

    def _at_exit(self) -> None:
        thread = self._thread
        if thread is not None and thread.is_alive():
            self._exiting = True
            self._event.set()
            thread.join(EXIT_GRACE_S)


_sender = _Sender()
