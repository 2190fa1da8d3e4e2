"""Connections to the warehouse, and its versioned schema.

Where the warehouse is: ``DZ_PG_DSN`` when set; else the loopback default when something
answers there; else (only when the caller allows it) an embedded PostgreSQL under the state
folder. :func:`resolve_dsn` says which, so the CLI can tell the user.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from dz_assets.db.embedded import start_embedded, status_running
from dz_assets.settings import DEFAULT_PG_DSN, Settings, get_settings

CONNECT_TIMEOUT_S = 3


@dataclass(frozen=True)
class ResolvedDsn:
    dsn: str
    how: str  # "env" | "loopback" | "embedded"

    def describe(self) -> str:
        where = {"env": "DZ_PG_DSN", "loopback": "loopback default", "embedded": "embedded PostgreSQL"}[self.how]
        return f"PostgreSQL ({where}): {redact(self.dsn)}"


def redact(dsn: str) -> str:
    parts = urlsplit(dsn)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return dsn


def with_database(dsn: str, dbname: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path="/" + dbname))


def database_name(dsn: str) -> str:
    return urlsplit(dsn).path.lstrip("/") or "postgres"


def answers(dsn: str) -> bool:
    """True when a PostgreSQL server answers at ``dsn`` (its database need not exist yet)."""
    try:
        with psycopg.connect(with_database(dsn, "postgres"), connect_timeout=CONNECT_TIMEOUT_S):
            return True
    except psycopg.OperationalError:
        return False


_resolved: ResolvedDsn | None = None


def resolve_dsn(settings: Settings | None = None, *, allow_embedded: bool = False) -> ResolvedDsn:
    """Find the warehouse; start the embedded one only when ``allow_embedded``."""
    global _resolved
    settings = settings or get_settings()
    if settings.pg_dsn:
        return ResolvedDsn(settings.pg_dsn, "env")
    if _resolved is not None and _resolved.how != "env":
        return _resolved
    if answers(DEFAULT_PG_DSN):
        _resolved = ResolvedDsn(DEFAULT_PG_DSN, "loopback")
    elif status_running(settings.embedded_pg_dir) or allow_embedded:
        print("No PostgreSQL answers at 127.0.0.1:5432: starting an embedded one under "
              f"{settings.embedded_pg_dir}", file=sys.stderr)
        _resolved = ResolvedDsn(start_embedded(settings.embedded_pg_dir), "embedded")
    else:
        raise RuntimeError(
            "No PostgreSQL answers at 127.0.0.1:5432 and DZ_PG_DSN is not set. "
            "Run `dzhub db init` (it starts an embedded PostgreSQL) or set DZ_PG_DSN."
        )
    return _resolved


def pg_dsn() -> str:
    """The DSN in use (no embedded start: callers that may start it use :func:`resolve_dsn`)."""
    return resolve_dsn().dsn


def connect(dsn: str | None = None, *, autocommit: bool = False) -> psycopg.Connection:
    return psycopg.connect(dsn or pg_dsn(), autocommit=autocommit, connect_timeout=CONNECT_TIMEOUT_S)


def trap_duplicates(conn: psycopg.Connection, statement: sql.Composable) -> None:
    """Run ``statement`` (a primary key's build) with a unique violation trapped inside the server
    by a PL/pgSQL handler, which the server does not log: an uncaught one writes the duplicated
    key's values (an ID number in many tables) to the server log's DETAIL line. The caller asks
    afterwards whether the key was built."""
    conn.execute(sql.SQL("do $dz$ begin {}; exception when unique_violation then null; end $dz$").format(statement))


def sqlalchemy_url(dsn: str) -> str:
    """dagster-postgres goes through SQLAlchemy: name the psycopg2 driver explicitly."""
    scheme, rest = dsn.split("://", 1)
    return "postgresql+psycopg2://" + rest if scheme in ("postgresql", "postgres") else dsn


def ensure_database(dsn: str) -> bool:
    """Create the database of ``dsn`` when missing. True when it was created.

    A new warehouse sorts text in the ``C`` collation: byte order, which for UTF-8 is code-point
    order, the order the usual ``C.UTF-8`` clusters give too; but PostgreSQL compares with
    memcmp and abbreviated keys instead of strcoll (10 M ID numbers sort in 10 s instead of 23 s
    here: every key build, merge join and window partition of the loads and the dbt models).
    Character classes (upper/lower) stay the cluster's. An existing database is left as it is.
    """
    name = database_name(dsn)
    with psycopg.connect(with_database(dsn, "postgres"), autocommit=True,
                         connect_timeout=CONNECT_TIMEOUT_S) as conn:
        if conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone():
            return False
        ctype = conn.execute("select datctype from pg_database where datname = 'template1'").fetchone()[0]
        conn.execute(psycopg.sql.SQL("create database {} template template0 encoding 'UTF8' lc_collate 'C' "
                                     "lc_ctype {}").format(psycopg.sql.Identifier(name), psycopg.sql.Literal(ctype)))
        return True
