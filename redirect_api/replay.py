"""The receiver's replay memory: one PostgreSQL table shared by every receiver process.

``meta.redirect_replay`` (migration 0004) keeps each jti until its token expires; claiming is an
``INSERT … ON CONFLICT`` so two processes racing on one jti get exactly one winner. A small
in-process set sits in front: it only remembers jtis this process has seen, so it can answer
"replayed" without a round trip but never "new" without asking the table.
"""

from __future__ import annotations

import time

import psycopg
from psycopg_pool import AsyncConnectionPool

from dz_assets.db.named_sql import NamedSql

query = NamedSql(__file__)

# Expired rows are swept at most once a minute: with a 300 s lifetime the table holds at most
# ~6 minutes of scans, and one indexed delete a minute costs nothing next to the claims.
PURGE_EVERY_S = 60.0
LOCAL_SEEN_MAX = 50_000


class _LocalSeen:
    """jti → expiry (epoch seconds) of claims this process already made or refused."""

    def __init__(self, max_items: int = LOCAL_SEEN_MAX) -> None:
        self._seen: dict[str, float] = {}
        self._max = max_items

    def seen(self, jti: str) -> bool:
        exp = self._seen.get(jti)
        return exp is not None and exp > time.time()

    def add(self, jti: str, expires_at: float) -> None:
        if len(self._seen) >= self._max:
            self._seen.pop(next(iter(self._seen)))
        self._seen[jti] = expires_at


class ReplayMemory:
    """Synchronous memory for library callers (``decrypt_token(..., replay=ReplayMemory(dsn))``)."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._local = _LocalSeen()
        self._last_purge = 0.0

    def claim(self, jti: str, expires_at: float) -> bool:
        if self._local.seen(jti):
            return False
        with psycopg.connect(self._dsn, autocommit=True) as conn:
            won = conn.execute(query("replay_claim"), {"jti": jti, "expires_at": expires_at}).fetchone()
            if time.monotonic() - self._last_purge > PURGE_EVERY_S:
                self._last_purge = time.monotonic()
                conn.execute(query("replay_purge"))
        self._local.add(jti, expires_at)
        return won is not None


class AsyncReplayMemory:
    """The same memory over the service's async connection pool."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool
        self._local = _LocalSeen()
        self._last_purge = 0.0

    async def claim(self, jti: str, expires_at: float) -> bool:
        if self._local.seen(jti):
            return False
        async with self._pool.connection() as conn:
            cur = await conn.execute(query("replay_claim"), {"jti": jti, "expires_at": expires_at})
            won = await cur.fetchone()
            if time.monotonic() - self._last_purge > PURGE_EVERY_S:
                self._last_purge = time.monotonic()
                await conn.execute(query("replay_purge"))
        self._local.add(jti, expires_at)
        return won is not None

    async def seen(self, jti: str) -> bool:
        """Whether the jti is already claimed, claiming nothing."""
        if self._local.seen(jti):
            return True
        async with self._pool.connection() as conn:
            cur = await conn.execute(query("replay_seen"), {"jti": jti})
            return await cur.fetchone() is not None
