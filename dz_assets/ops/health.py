"""Faults over time, judged on each tick of a daemon sensor: a disk filling up, an ODS table that
stopped receiving data. Each check raises one alert per faulty subject and resolves those that
cleared (``resolve_cleared``), so the alert follows the fault."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psycopg

from dz_assets.db.named_sql import NamedSql
from dz_assets.ops.alerts import raise_alert, resolve_cleared
from dz_assets.settings import Settings, get_settings

query = NamedSql(__file__)


@dataclass(frozen=True)
class DiskUse:
    path: Path  # the first folder given that lives on this disk
    mount: str
    used_pct: float
    free_bytes: int


def _mount_of(path: Path) -> str:
    p = path.resolve()
    while not p.is_mount():
        p = p.parent
    return str(p)


def disk_use(folders: list[Path]) -> list[DiskUse]:
    """Use of each disk holding one of ``folders`` (a missing folder counts as its nearest parent)."""
    out: dict[str, DiskUse] = {}
    for folder in folders:
        existing = folder
        while not existing.exists():
            existing = existing.parent
        mount = _mount_of(existing)
        if mount in out:
            continue
        u = shutil.disk_usage(existing)
        out[mount] = DiskUse(folder, mount, round(100.0 * u.used / u.total, 1) if u.total else 0.0, u.free)
    return list(out.values())


def check_disks(conn: psycopg.Connection, settings: Settings | None = None) -> list[DiskUse]:
    """Alert (``disk_full``) on each disk of the inbox or state folder over ``DZ_DISK_ALERT_PCT``;
    resolve the disks that came back under. Returns the disks over the bound."""
    s = settings or get_settings()
    over = [d for d in disk_use([s.inbox, s.state_dir]) if d.used_pct >= s.disk_alert_pct]
    for d in over:
        raise_alert(conn, severity="critical" if d.used_pct >= 98 else "error", source="ops", code="disk_full",
                    subject=d.mount,
                    message=f"磁盘 {d.mount} 已用 {d.used_pct}%（阈值 {s.disk_alert_pct:g}%），"
                            f"剩余 {d.free_bytes / 2**30:.1f} GiB；收件目录或状态目录即将写满",
                    details={"path": str(d.path), "used_pct": d.used_pct, "free_bytes": d.free_bytes,
                             "threshold_pct": s.disk_alert_pct})
    resolve_cleared(conn, "disk_full", [d.mount for d in over])
    return over


@dataclass(frozen=True)
class StaleTable:
    table_code: str
    last_data_at: datetime
    age_h: float


def check_freshness(conn: psycopg.Connection, settings: Settings | None = None,
                    now: datetime | None = None) -> list[StaleTable]:
    """Alert (``table_stale``) on each ODS table whose last load or apply is older than
    ``DZ_FRESHNESS_MAX_AGE_H`` (0: off, every such alert resolves); resolve the fresh ones."""
    s = settings or get_settings()
    stale: list[StaleTable] = []
    if s.freshness_max_age_h > 0:
        now = now or conn.execute("select now()").fetchone()[0]
        for code, at in conn.execute(query("health", "table_freshness")).fetchall():
            age_h = (now - at).total_seconds() / 3600
            if age_h > s.freshness_max_age_h:
                stale.append(StaleTable(code, at, round(age_h, 1)))
    for t in stale:
        raise_alert(conn, severity="warning", source="ops", code="table_stale", subject=t.table_code,
                    message=f"表 {t.table_code} 已 {t.age_h:g} 小时没有新数据（上次 {t.last_data_at:%Y-%m-%d %H:%M}，"
                            f"阈值 {s.freshness_max_age_h:g} 小时）",
                    details={"last_data_at": t.last_data_at, "age_h": t.age_h,
                             "max_age_h": s.freshness_max_age_h})
    resolve_cleared(conn, "table_stale", [t.table_code for t in stale])
    return stale


def resolve_delivered_batches(conn: psycopg.Connection) -> list[int]:
    """Resolve the province alerts of batches that loaded (or applied) after their last fault."""
    return [r[0] for r in conn.execute(query("health", "resolve_delivered_batches"))]
