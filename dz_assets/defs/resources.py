"""Every resource, bound once from ``DZ_*`` settings (see ``dz_assets/settings.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import psycopg

from dz_assets.settings import get_settings


class WarehouseResource(dg.ConfigurableResource):
    """The PostgreSQL warehouse. ``dsn`` empty: resolved as the CLI does (DZ_PG_DSN, loopback)."""

    dsn: str = ""

    def resolved_dsn(self) -> str:
        from dz_assets.db import pg_dsn

        return self.dsn or pg_dsn()

    @contextmanager
    def connect(self, *, autocommit: bool = False) -> Iterator[psycopg.Connection]:
        from dz_assets.db import connect

        with connect(self.resolved_dsn(), autocommit=autocommit) as conn:
            yield conn


class PathsResource(dg.ConfigurableResource):
    """Inbox, backup, quarantine, reject, object-store and outbox folders."""

    inbox: str
    backup_dir: str
    quarantine_dir: str
    reject_dir: str
    object_store: str
    outbox: str

    def path(self, name: str) -> Path:
        p = Path(getattr(self, name))
        p.mkdir(parents=True, exist_ok=True)
        return p


class BrokerResource(dg.ConfigurableResource):
    """RabbitMQ (``DZ_AMQP_URL``)."""

    amqp_url: str


def build_resources() -> dict[str, dg.ConfigurableResource]:
    s = get_settings()
    return {
        "warehouse": WarehouseResource(dsn=s.pg_dsn or ""),
        "paths": PathsResource(
            inbox=str(s.inbox), backup_dir=str(s.backup_dir), quarantine_dir=str(s.quarantine_dir),
            reject_dir=str(s.reject_dir), object_store=str(s.object_store), outbox=str(s.outbox),
        ),
        "broker": BrokerResource(amqp_url=s.amqp_url),
        "dbt": _dbt_resource(),
    }


def _dbt_resource() -> dg.ConfigurableResource:
    from dz_assets.defs.transform.dbt_assets import dbt_resource

    return dbt_resource


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(resources=build_resources())
