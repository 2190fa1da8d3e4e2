"""Every resource, bound once from ``DZ_*`` settings (see ``dz_assets/settings.py``).

Values that can hold a secret (the warehouse DSN, the broker URL with its password) are bound as
``dg.EnvVar`` when their variable is set, so the UI shows the variable's name, never its value;
when it is unset they stay empty and are resolved at run time (the loopback default, or the
embedded PostgreSQL), so the resolved DSN is never rendered as config either.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import psycopg

from dz_assets.db import connect, pg_dsn
from dz_assets.defs.transform.project import dbt_resource
from dz_assets.settings import get_settings


class WarehouseResource(dg.ConfigurableResource):
    """The PostgreSQL warehouse. ``dsn`` empty: resolved as the CLI does (DZ_PG_DSN, loopback)."""

    dsn: str = ""

    def resolved_dsn(self) -> str:
        return self.dsn or pg_dsn()

    @contextmanager
    def connect(self, *, autocommit: bool = False) -> Iterator[psycopg.Connection]:
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
    """RabbitMQ. ``amqp_url`` empty: ``DZ_AMQP_URL``'s default (loopback), resolved at run time."""

    amqp_url: str = ""

    def resolved_url(self) -> str:
        return self.amqp_url or get_settings().amqp_url


def _secret(name: str) -> dg.EnvVar | str:
    """The variable by name where it is set (the UI shows the name), else empty (resolved later)."""
    return dg.EnvVar(name) if os.environ.get(name) else ""


def build_resources() -> dict[str, dg.ConfigurableResource]:
    s = get_settings()
    return {
        "warehouse": WarehouseResource(dsn=_secret("DZ_PG_DSN")),
        "paths": PathsResource(
            inbox=str(s.inbox), backup_dir=str(s.backup_dir), quarantine_dir=str(s.quarantine_dir),
            reject_dir=str(s.reject_dir), object_store=str(s.object_store), outbox=str(s.outbox),
        ),
        "broker": BrokerResource(amqp_url=_secret("DZ_AMQP_URL")),
        "dbt": dbt_resource,
    }


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(resources=build_resources())
