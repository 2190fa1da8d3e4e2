"""Versioned migrations of the ``meta``, ``raw`` and ``ods`` schemas.

Migrations are ``migrations/NNNN_name.sql`` files applied in order, each once, each in its own
transaction, under an advisory lock so that two processes initialising at once do not race.
An applied migration whose file changed afterwards is an error: write a new one instead.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import psycopg

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_LOCK_KEY = 7_117_001  # advisory lock id for schema changes (5117: Dazhou)
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def available() -> list[Migration]:
    found = []
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        m = _NAME.match(path.name)
        if not m:
            raise ValueError(f"migration file name not NNNN_name.sql: {path.name}")
        found.append(Migration(int(m.group(1)), m.group(2), path.read_text(encoding="utf-8")))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise ValueError(f"duplicate migration versions in {MIGRATIONS_DIR}")
    return found


def migrate(conn: psycopg.Connection) -> list[str]:
    """Apply pending migrations; return the names applied (empty when up to date)."""
    applied_now: list[str] = []
    conn.autocommit = False
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        conn.execute("create schema if not exists meta")
        conn.execute(
            """create table if not exists meta.schema_migration (
                   version int primary key, name text not null, checksum text not null,
                   applied_at timestamptz not null default now())"""
        )
        done = {v: c for v, c in conn.execute("select version, checksum from meta.schema_migration")}
        for m in available():
            if m.version in done:
                if done[m.version] != m.checksum:
                    raise RuntimeError(
                        f"migration {m.version:04d}_{m.name} was changed after it was applied; "
                        "add a new migration instead"
                    )
                continue
            conn.execute(m.sql)
            conn.execute(
                "insert into meta.schema_migration (version, name, checksum) values (%s, %s, %s)",
                (m.version, m.name, m.checksum),
            )
            applied_now.append(f"{m.version:04d}_{m.name}")
    return applied_now
