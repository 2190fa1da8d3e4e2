"""Login roles for tests: created through ``dzhub users``' code path, dropped afterwards.

Role names are cluster-wide and other sessions share the server, so every login gets a unique
name. The test server trusts 127.0.0.1, so logins need no password.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import psycopg

from dz_assets.security.users import add_user


def as_login(dsn: str, login: str) -> str:
    """``dsn`` with the user replaced by ``login`` (no password: trust on loopback)."""
    parts = urlsplit(dsn)
    host = parts.hostname or "127.0.0.1"
    netloc = f"{login}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


@contextmanager
def login(owner_dsn: str, role: str, *, station: str | None = None, county: str | None = None) -> Iterator[str]:
    """A fresh login in ``role``; yields its DSN, drops the role on exit."""
    name = f"t_{role.removeprefix('dz_')}_{secrets.token_hex(4)}"
    with psycopg.connect(owner_dsn) as conn:
        add_user(conn, name, role, station=station, county=county)
    try:
        yield as_login(owner_dsn, name)
    finally:
        drop_login(owner_dsn, name)


def drop_login(owner_dsn: str, name: str) -> None:
    with psycopg.connect(owner_dsn, autocommit=True) as conn:
        conn.execute(psycopg.sql.SQL("drop role if exists {}").format(psycopg.sql.Identifier(name)))
