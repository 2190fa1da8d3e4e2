"""Audit entries from the CLI: who (database login and operating-system user), what, on which object.

Entries go through ``meta.audit_log`` (the login is recorded by the database, not passed in), in
a connection of their own that commits at once: an entry stays even if the command fails later.
"""

from __future__ import annotations

import getpass

import psycopg
from psycopg.types.json import Jsonb

from dz_assets.db import connect


def os_user() -> str:
    try:
        return getpass.getuser()
    except OSError:  # no login name in a bare container
        return "?"


def audit(action: str, obj: str | None = None, *, dsn: str | None = None, **details) -> int:
    """Append one entry to ``meta.audit``; its id."""
    with connect(dsn, autocommit=True) as conn:
        return audit_in(conn, action, obj, **details)


def audit_in(conn: psycopg.Connection, action: str, obj: str | None = None, **details) -> int:
    """The same, in the caller's connection and transaction."""
    return conn.execute("select meta.audit_log(%s, %s, %s, %s)",
                        (action, obj, Jsonb(details), os_user())).fetchone()[0]
