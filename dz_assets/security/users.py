"""Login roles: ``dzhub users add|list|disable``.

A login belongs to one group role and may be bound to a police station or a county, which scopes
the rows it sees (``meta.login_scope``, read by the masked views and the reveal). Role names are
cluster-wide; the scope is per database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import psycopg
from psycopg import sql

from dz_assets.db.named_sql import NamedSql
from dz_assets.security.audit import audit_in
from dz_assets.security.passwords import set_console_password

query = NamedSql(__file__)

GROUPS = ("dz_engineer", "dz_operator", "dz_analyst", "dz_officer", "dz_redirect", "dz_auditor")
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class UserError(Exception):
    """A request the CLI refuses, with a message for the user."""


@dataclass(frozen=True)
class Login:
    name: str
    role: str
    enabled: bool
    station: str | None
    county: str | None


def add_user(conn: psycopg.Connection, name: str, role: str, *, station: str | None = None,
             county: str | None = None, password: str | None = None) -> Login:
    if not _NAME.match(name) or name.startswith("dz_") or name in ("public", "postgres"):
        raise UserError(f"login name {name!r}: lower-case letters, digits and _, not starting with dz_")
    if role not in GROUPS:
        raise UserError(f"role {role!r}: one of {', '.join(GROUPS)}")
    if station and county:
        raise UserError("--station and --county exclude each other")
    if station and not conn.execute(query("users", "is_station"), {"code": station}).fetchone()[0]:
        raise UserError(f"{station} is not a police station of the GAJG code table")
    if county and not conn.execute(query("users", "is_county"), {"code": county}).fetchone()[0]:
        raise UserError(f"{county} is not a county-level division of Dazhou")
    if not conn.execute("select 1 from pg_roles where rolname = %s", (role,)).fetchone():
        raise UserError(f"group role {role} does not exist: run `dzhub db init` (or a DBA the SQL of README)")
    stmt = sql.SQL("create role {} login in role {}").format(sql.Identifier(name), sql.Identifier(role))
    if password:  # hashed here (SCRAM), so the statement the server may log carries no password
        hashed = conn.pgconn.encrypt_password(password.encode(), name.encode(), b"scram-sha-256")
        stmt = sql.SQL("{} password {}").format(stmt, sql.Literal(hashed.decode()))
    try:
        with conn.transaction():
            conn.execute(stmt)
            conn.execute("insert into meta.login_scope (login, station, county) values (%s, %s, %s) "
                         "on conflict (login) do update set station = excluded.station, county = excluded.county",
                         (name, station, county))
            audit_in(conn, "users.add", name, role=role, station=station, county=county)
            # A hash left by a dropped login of the same name must not let the new one in.
            conn.execute("delete from console.password where login = %s", (name,))
            if password:  # the console checks its own hash (the loopback server trusts any login)
                set_console_password(conn, name, password)
    except psycopg.errors.DuplicateObject:
        raise UserError(f"a role named {name} already exists in this cluster") from None
    except psycopg.errors.InsufficientPrivilege as exc:
        raise UserError(f"the server refused to create the login ({exc.diag.message_primary}): "
                        "this account lacks CREATEROLE; a DBA creates it (README, Access)") from None
    return Login(name, role, True, station, county)


def list_users(conn: psycopg.Connection) -> list[Login]:
    return [Login(*r) for r in conn.execute(query("users", "logins"), {"groups": list(GROUPS)})]


def disable_user(conn: psycopg.Connection, name: str) -> None:
    """No more sign-ins for ``name`` (its grants and scope stay, for the record)."""
    if name not in {u.name for u in list_users(conn)}:
        raise UserError(f"{name} is not a dz-hub login")
    with conn.transaction():
        conn.execute(sql.SQL("alter role {} nologin").format(sql.Identifier(name)))
        audit_in(conn, "users.disable", name)


def change_password(conn: psycopg.Connection, name: str, password: str) -> None:
    """A new password for ``name``: the console's hash and the server's own (SCRAM), audited."""
    if not password:
        raise UserError("an empty password is not a password")
    if name not in {u.name for u in list_users(conn)}:
        raise UserError(f"{name} is not a dz-hub login")
    hashed = conn.pgconn.encrypt_password(password.encode(), name.encode(), b"scram-sha-256")
    with conn.transaction():
        conn.execute(sql.SQL("alter role {} password {}").format(sql.Identifier(name), sql.Literal(hashed.decode())))
        set_console_password(conn, name, password)
        audit_in(conn, "users.passwd", name)
