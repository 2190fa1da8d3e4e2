"""Console passwords: scrypt hashes in ``console.password`` (owner-only), never the password.

The loopback server trusts every login, so the database cannot be the check: the console verifies
the password itself against this hash (``dzhub users add --password-stdin`` / ``users passwd``).
scrypt with N=2^14, r=8, p=1 (16 MiB, ~50 ms here): the parameters Python's hashlib documents as
the interactive-login minimum, stored in each hash so that raising them later keeps old hashes valid.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

import psycopg

N, R, P = 1 << 14, 8, 1
_MAXMEM = 64 << 20


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def hash_password(password: str) -> str:
    """``scrypt$N$r$p$salt$key`` of ``password`` with a fresh 16-byte salt."""
    if not password:
        raise ValueError("an empty password is not a password")
    salt = secrets.token_bytes(16)
    key = hashlib.scrypt(password.encode(), salt=salt, n=N, r=R, p=P, maxmem=_MAXMEM, dklen=32)
    return f"scrypt${N}${R}${P}${_b64(salt)}${_b64(key)}"


def verify_password(password: str, stored: str | None) -> bool:
    """Whether ``password`` matches ``stored``; a missing hash costs the same time as a wrong one,
    so the answer's timing does not tell which logins exist."""
    try:
        scheme, n, r, p, salt, key = (stored or "").split("$")
        if scheme != "scrypt":
            raise ValueError(scheme)
        n, r, p, salt, key = int(n), int(r), int(p), base64.b64decode(salt), base64.b64decode(key)
    except ValueError:
        hashlib.scrypt(password.encode(), salt=b"\0" * 16, n=N, r=R, p=P, maxmem=_MAXMEM, dklen=32)
        return False
    got = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=_MAXMEM, dklen=len(key))
    return hmac.compare_digest(got, key)


def set_console_password(conn: psycopg.Connection, login: str, password: str) -> None:
    """Store the hash of ``login``'s console password, in the caller's transaction (whose audit
    entry, users.add or users.passwd, says why)."""
    conn.execute("insert into console.password (login, hash) values (%s, %s) on conflict (login) "
                 "do update set hash = excluded.hash, updated_at = now()", (login, hash_password(password)))


def stored_hash(conn: psycopg.Connection, login: str) -> str | None:
    row = conn.execute("select hash from console.password where login = %s", (login,)).fetchone()
    return row[0] if row else None
