"""Service fixtures: the real PostgreSQL and RabbitMQ, a fresh database per test session.

A missing service skips the tests that need it, except under ``DZ_REQUIRE_SERVICES=1`` (CI),
where it fails them loudly with what to start.
"""

from __future__ import annotations

import os
import secrets
import socket
from pathlib import Path
from urllib.parse import urlsplit

import pytest

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")

from dz_assets.settings import DEFAULT_AMQP_URL, DEFAULT_PG_DSN, env  # noqa: E402

REQUIRE = env("DZ_REQUIRE_SERVICES", "0") in ("1", "true", "yes")


def _missing(what: str, how: str) -> None:
    msg = f"{what} is not reachable; {how}"
    if REQUIRE:
        pytest.fail(f"DZ_REQUIRE_SERVICES=1: {msg}", pytrace=False)
    pytest.skip(msg)


@pytest.fixture(scope="session")
def pg_server_dsn() -> str:
    """A DSN of the PostgreSQL server the tests run against (its ``postgres`` database)."""
    from dz_assets.db import answers, with_database

    base = env("DZ_TEST_PG_DSN") or env("DZ_PG_DSN") or DEFAULT_PG_DSN
    if not answers(base):
        _missing(f"PostgreSQL at {base}", "start it (pg_ctlcluster … start) or set DZ_TEST_PG_DSN")
    return with_database(base, "postgres")


@pytest.fixture(scope="session", autouse=True)
def broker_names():
    """This session's own change-stream exchange and queue (DZ_CDC_EXCHANGE / DZ_CDC_QUEUE), so
    tests never publish into, or leave messages in, the real ``dz.cdc`` / ``dzhub.cdc`` that a
    demo or deployment on the same broker consumes. Deleted at the end of the session."""
    suffix = f"test_{os.getpid()}_{secrets.token_hex(3)}"
    names = {"exchange": f"dz.cdc.{suffix}", "queue": f"dzhub.cdc.{suffix}"}
    saved = {k: os.environ.get(k) for k in ("DZ_CDC_EXCHANGE", "DZ_CDC_QUEUE")}
    os.environ["DZ_CDC_EXCHANGE"], os.environ["DZ_CDC_QUEUE"] = names["exchange"], names["queue"]
    yield names
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    from dz_assets.cdc.topology import Topology

    delete_topology(Topology(names["exchange"], names["queue"]))


def delete_topology(topo) -> None:
    """Delete a change-stream topology a test declared (no broker: nothing was declared)."""
    import pika

    from dz_assets.cdc.topology import delete

    try:
        conn = pika.BlockingConnection(pika.URLParameters(env("DZ_AMQP_URL", DEFAULT_AMQP_URL)))
    except pika.exceptions.AMQPConnectionError:
        return
    try:
        delete(conn.channel(), topo)
    finally:
        conn.close()


@pytest.fixture(scope="session")
def pg_dsn(pg_server_dsn: str, tmp_path_factory: pytest.TempPathFactory, broker_names):
    """A fresh, initialised dz-hub database for this test session; dropped afterwards.

    ``DZ_PG_DSN`` and the state folders point at it and at a temporary state folder, so that
    everything the tests call (CLI, assets, loaders) works on this database alone.
    """
    import psycopg

    from dz_assets.db import with_database
    from dz_assets.db.init import init_database

    name = f"dzhub_test_{os.getpid()}_{secrets.token_hex(3)}"
    dsn = with_database(pg_server_dsn, name)
    state = tmp_path_factory.mktemp("state")
    saved = {k: os.environ.get(k) for k in ("DZ_PG_DSN", "DZ_STATE_DIR")}
    os.environ["DZ_PG_DSN"] = dsn
    os.environ["DZ_STATE_DIR"] = str(state)
    init_database(dsn)
    yield dsn
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    with psycopg.connect(pg_server_dsn, autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')


@pytest.fixture
def db(pg_dsn: str):
    """A connection to the session's database (rolled back unless the test commits)."""
    import psycopg

    with psycopg.connect(pg_dsn) as conn:
        yield conn


@pytest.fixture(scope="session")
def amqp_url() -> str:
    url = env("DZ_AMQP_URL", DEFAULT_AMQP_URL)
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5672), timeout=2):
            pass
    except OSError:
        _missing(f"RabbitMQ at {parts.hostname}:{parts.port}", "start it (rabbitmq-server -detached)")
    return url


@pytest.fixture(scope="session")
def shared_spec() -> Path:
    """The contracts in ../shared/spec (tests only: the code reads its own copies)."""
    return Path(__file__).resolve().parents[2] / "shared" / "spec"


@pytest.fixture(scope="session")
def console_city(pg_server_dsn, tmp_path_factory):
    """The console's warehouse (tests/support/console_city.py), one per session: the console's
    integration and browser tests share it (each database dropped waits for every backend of the
    cluster to take the drop in, which a busy shared server makes slow)."""
    from support.console_app import warehouse

    with warehouse(pg_server_dsn, tmp_path_factory.mktemp("console")) as city:
        yield city
