"""The standard addresses' history (``meta.address_state``, migration 0012) and what a day's
QR batch holds.

The history is written by the database itself (statement triggers on the two ODS address tables,
and the FULL swap's hook), so every channel that writes those tables records there; ``sync``
catches up what was written while no trigger was attached. Times: a day is a Beijing day; the
state "at the end of day X" is the last state recorded before X+1 00:00 Beijing time.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import psycopg

from dz_assets.db.named_sql import NamedSql
from dz_assets.ecode.package import BatchAddress, byte_order

query = NamedSql(__file__)
BEIJING = ZoneInfo("Asia/Shanghai")


def day_start(d: date) -> datetime:
    """D 00:00 Beijing time, i.e. the end of day D-1."""
    return datetime.combine(d, time(0), tzinfo=BEIJING)


def beijing_today(now: datetime | None = None) -> date:
    return (now or datetime.now(BEIJING)).astimezone(BEIJING).date()


def sync(conn: psycopg.Connection) -> int:
    """Record what the ODS address tables hold that the history does not; the states added."""
    return conn.execute(query("history", "sync")).fetchone()[0]


def day_addresses(conn: psycopg.Connection, day: date) -> list[BatchAddress]:
    """Day D's addresses in byte order of ``dzbm``: active at the end of D-1 and new or changed
    against the end of D-2 (spec/ecode-redirect.md)."""
    rows = conn.execute(query("history", "day_selection"),
                        {"e1": day_start(day), "e2": day_start(day - timedelta(days=1))}).fetchall()
    return byte_order(BatchAddress(*r) for r in rows)


def active_addresses(conn: psycopg.Connection, division: str = "") -> list[BatchAddress]:
    """Every active Dazhou address now (under a division code prefix when given), byte order."""
    rows = conn.execute(query("history", "active_now"), {"division": division}).fetchall()
    return byte_order(BatchAddress(*r) for r in rows)


def addresses_by_code(conn: psycopg.Connection, codes: list[str]) -> tuple[list[BatchAddress], list[str]]:
    """The served addresses of these codes (any status), and the codes not known or deleted."""
    rows = conn.execute(query("history", "by_code"), {"codes": codes}).fetchall()
    found = byte_order(BatchAddress(*r[:6]) for r in rows)
    known = {a.dzbm for a in found}
    return found, [c for c in codes if c not in known]
