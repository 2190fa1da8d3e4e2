"""Alerts: every stage raises them the same way; they land in ``meta.alert`` and, when
``DZ_ALERT_WEBHOOK`` is set, are posted there as JSON (best effort: a webhook that is down never
fails the work that raised the alert; the row stays ``delivered = false`` for a later retry).
"""

from __future__ import annotations

import json
import logging
import urllib.request
from typing import Any

import psycopg

from dz_assets.settings import get_settings

log = logging.getLogger(__name__)
SEVERITIES = ("info", "warning", "error", "critical")
WEBHOOK_TIMEOUT_S = 3


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
    """Record an alert (in the caller's transaction) and post it to the webhook. Returns its id."""
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be one of {SEVERITIES}, not {severity!r}")
    payload = details or {}
    alert_id = conn.execute(
        "insert into meta.alert (severity, source, code, subject, message, details) "
        "values (%s, %s, %s, %s, %s, %s) returning alert_id",
        (severity, source, code, subject, message, json.dumps(payload, ensure_ascii=False, default=str)),
    ).fetchone()[0]
    log.warning("alert %s [%s/%s] %s: %s", alert_id, source, code, subject or "-", message)
    webhook = get_settings().alert_webhook
    if webhook and _post(webhook, {"alert_id": alert_id, "severity": severity, "source": source,
                                   "code": code, "subject": subject, "message": message,
                                   "details": payload}):
        conn.execute("update meta.alert set delivered = true where alert_id = %s", (alert_id,))
    return alert_id


def _post(url: str, body: dict[str, Any]) -> bool:
    data = json.dumps(body, ensure_ascii=False, default=str).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=WEBHOOK_TIMEOUT_S) as resp:
            return 200 <= resp.status < 300
    except OSError as exc:
        log.warning("alert webhook %s failed: %s", url, exc)
        return False
