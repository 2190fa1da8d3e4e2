"""Sign-in and sessions: the console checks the password against its scrypt hash in the warehouse,
then keeps a server-side session (a random token in an HttpOnly cookie, its SHA-256 in
``console.session``) that expires after ``DZ_CONSOLE_SESSION_TTL_S``. Every sign-in, failed or
not, is an audit entry written on behalf of the login tried."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg.types.json import Jsonb

from dz_assets.db.named_sql import NamedSql
from dz_assets.security.passwords import verify_password

query = NamedSql(__file__)

COOKIE = "dz_console"
GROUPS = ("dz_engineer", "dz_operator", "dz_analyst", "dz_officer", "dz_auditor")
ROLE_NAMES = {"dz_engineer": "数据工程师", "dz_operator": "运维人员", "dz_analyst": "分析人员",
              "dz_officer": "派出所民警", "dz_auditor": "审计人员"}


@dataclass(frozen=True)
class SignedIn:
    """Who a request acts as."""

    login: str
    role: str  # the login's dz group role
    station: str | None
    county: str | None
    expires_at: datetime

    @property
    def role_name(self) -> str:
        return ROLE_NAMES.get(self.role, self.role)

    @property
    def engineer(self) -> bool:
        return self.role == "dz_engineer"


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def audit_as(conn: psycopg.Connection, login: str, action: str, obj: str | None = None, **details) -> None:
    """An audit entry on behalf of ``login`` (the console's owner connection, not under SET ROLE)."""
    conn.execute("select meta.audit_log_as(%s, %s, %s, %s, 'console')", (login, action, obj, Jsonb(details)))


def sign_in(conn: psycopg.Connection, login: str, password: str, *, ttl_s: int, client: str | None) -> str | None:
    """A new session's token when ``login`` is an enabled console login and ``password`` matches
    its hash; None otherwise. Audited either way, in the caller's (owner) connection."""
    login = login.strip()[:63]
    row = conn.execute(query("auth", "candidate"), {"login": login, "groups": list(GROUPS)}).fetchone()
    stored, enabled = (row[0], row[1]) if row else (None, False)
    ok = verify_password(password, stored) and enabled
    with conn.transaction():
        if not ok:
            why = "unknown_login" if row is None else ("disabled" if not enabled else "bad_password")
            audit_as(conn, login or "?", "console.signin_failed", login or None, reason=why, client=client)
            return None
        token = secrets.token_urlsafe(32)
        conn.execute(query("auth", "open"), {"token_hash": _token_hash(token), "login": login, "ttl_s": ttl_s,
                                             "client": client})
        audit_as(conn, login, "console.signin", login, client=client)
    return token


def session_of(conn: psycopg.Connection, token: str | None) -> SignedIn | None:
    """The live session of ``token``: not expired, its login still enabled and in a group."""
    if not token or len(token) > 100:
        return None
    row = conn.execute(query("auth", "session"), {"token_hash": _token_hash(token),
                                                  "groups": list(GROUPS)}).fetchone()
    return SignedIn(*row) if row else None


def sign_out(conn: psycopg.Connection, token: str | None) -> None:
    if token:
        with conn.transaction():
            row = conn.execute("delete from console.session where token_hash = %s returning login",
                               (_token_hash(token),)).fetchone()
            if row:
                audit_as(conn, row[0], "console.signout", row[0])
