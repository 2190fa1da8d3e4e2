"""Address lookups for the redirect API: the served registry, else the standard-address ODS tables.

``serve.address_registry`` is used as soon as it exists (the address pipeline's dbt model);
until then the union of ``ods.ybss_bzdzmlxx`` and ``ods.ybss_bzdzchxx``. Lookups go through a
small async pool of prepared connections and a bounded cache with a short TTL, so a change in
the registry shows within ``cache_ttl_s`` seconds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from dz_assets.catalog import in_dazhou
from redirect_api.sql import load_sql

# Whether serve.address_registry exists is asked again after this long: dbt may create it
# while the service runs, and one catalogue query every 30 s is free.
SOURCE_RECHECK_S = 30.0
# ODS status codes (DZZT): 1 active, 2 disabled, 3 cancelled.
STATUS_WORDS = {"1": "active", "2": "disabled", "3": "cancelled"}


@dataclass(frozen=True)
class Address:
    dzbm: str
    dzmc: str | None
    xzqh: str | None
    xzqhmc: str | None
    gajg: str | None
    gajgmc: str | None
    status: str  # active | disabled | cancelled (or the registry's own word for anything else)

    @property
    def in_dazhou(self) -> bool:
        return in_dazhou(self.xzqh)

    def as_json(self) -> dict:
        return {"dzbm": self.dzbm, "dzmc": self.dzmc, "xzqh": self.xzqh, "xzqhmc": self.xzqhmc,
                "gajg": self.gajg, "gajgmc": self.gajgmc, "status": self.status, "in_dazhou": self.in_dazhou}

    def why_no_token(self) -> str | None:
        """None for an address that gets a token, else the contract's reason."""
        if not self.in_dazhou:
            return "outside"
        if self.status == "active":
            return None
        return "cancelled" if self.status == "cancelled" else "disabled"


def normalise_status(raw: object) -> str:
    text = "" if raw is None else str(raw).strip()
    return STATUS_WORDS.get(text, text.lower() or "unknown")


class AddressRegistry:
    def __init__(self, pool: AsyncConnectionPool, *, cache_ttl_s: float = 5.0, cache_size: int = 100_000) -> None:
        self._pool = pool
        self._ttl = cache_ttl_s
        self._size = cache_size
        self._cache: dict[str, tuple[float, Address | None]] = {}
        self._source: str | None = None
        self._source_checked = 0.0

    async def source(self) -> str:
        """``registry_serve`` or ``registry_ods``: which SQL answers lookups now."""
        now = time.monotonic()
        if self._source is None or now - self._source_checked > SOURCE_RECHECK_S:
            async with self._pool.connection() as conn:
                cur = await conn.execute("select to_regclass('serve.address_registry') is not null")
                row = await cur.fetchone()
            self._source = "registry_serve" if row and row[0] else "registry_ods"
            self._source_checked = now
        return self._source

    async def lookup(self, dzbm: str) -> Address | None:
        now = time.monotonic()
        hit = self._cache.get(dzbm)
        if hit is not None and hit[0] > now:
            return hit[1]
        sql = load_sql(await self.source())
        async with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(sql, {"dzbm": dzbm})
            row = await cur.fetchone()
        found = None
        if row is not None:
            found = Address(dzbm=row["dzbm"], dzmc=row["dzmc"], xzqh=row["xzqh"], xzqhmc=row["xzqhmc"],
                            gajg=row["gajg"], gajgmc=row["gajgmc"], status=normalise_status(row["status"]))
        if self._ttl > 0:
            if len(self._cache) >= self._size:
                self._cache.pop(next(iter(self._cache)))
            self._cache[dzbm] = (now + self._ttl, found)
        return found
