"""The console served on loopback against a console city, with one login per role (shared by the
console's integration tests, browser tests and benchmark)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg

from dz_assets.db import with_database
from dz_assets.db.init import init_database
from dz_assets.security.users import add_user
from dz_assets.settings import ConsoleSettings
from dz_console.app import create_app
from dz_console.server import serve_in_thread
from support.console_city import ConsoleCity, build
from support.logins import drop_login


@dataclass(frozen=True)
class Account:
    login: str
    password: str
    role: str
    station: str | None = None


@dataclass(frozen=True)
class Console:
    url: str
    city: ConsoleCity
    accounts: dict[str, Account]  # engineer, operator, officer, auditor

    def client(self, who: str | None = None) -> httpx.Client:
        """An HTTP client of the console (signed in as ``who`` when given); posts carry the Origin
        a browser sends."""
        c = httpx.Client(base_url=self.url, headers={"Origin": self.url}, timeout=60)
        if who:
            a = self.accounts[who]
            r = c.post("/signin", data={"login": a.login, "password": a.password, "next": "/batches"})
            assert r.status_code == 303, r.text[:500]
        return c


@contextmanager
def warehouse(server_dsn: str, work: Path, prefix: str = "dzhub_console", persons: int = 300) -> Iterator[ConsoleCity]:
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(3)}"
    dsn = with_database(server_dsn, name)
    init_database(dsn)
    try:
        yield build(dsn, work / "packages", work / "outbox", persons=persons)
    finally:
        with psycopg.connect(server_dsn, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}" with (force)')


@contextmanager
def accounts(dsn: str, station: str) -> Iterator[dict[str, Account]]:
    tag = secrets.token_hex(3)
    made = {k: Account(f"c_{k}_{tag}", f"口令-{k}-{secrets.token_hex(4)}", role, st) for k, role, st in (
        ("engineer", "dz_engineer", None), ("operator", "dz_operator", None), ("officer", "dz_officer", station),
        ("auditor", "dz_auditor", None))}
    with psycopg.connect(dsn) as conn:
        for a in made.values():
            add_user(conn, a.login, a.role, station=a.station, password=a.password)
    try:
        yield made
    finally:
        for a in made.values():
            drop_login(dsn, a.login)


@contextmanager
def console(city: ConsoleCity, settings: ConsoleSettings | None = None,
            logins: dict[str, Account] | None = None) -> Iterator[Console]:
    with ExitStack() as stack:
        made = logins or stack.enter_context(accounts(city.dsn, city.busiest_station))
        app = create_app(city.dsn, settings or ConsoleSettings(session_ttl_s=3600, dagster_url="http://127.0.0.1:9",
                                                               pool_size=4), outbox=city.outbox)
        url = stack.enter_context(serve_in_thread(app))
        yield Console(url, city, made)
