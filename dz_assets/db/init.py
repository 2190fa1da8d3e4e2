"""``dzhub db init``: database, schemas, meta tables, catalogue mirror and ODS tables, idempotently.

The broker's side (the change stream's exchange and queues) belongs to the change-stream channel:
``dzhub db init`` declares it through :func:`dz_assets.cdc.topology.declare_for_init` after this.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dz_assets.db import connect, ensure_database
from dz_assets.db.migrate import migrate
from dz_assets.ods.ddl import ensure_ods_tables, sync_catalogue
from dz_assets.security.classify import apply_access, sync_ods_classes


@dataclass
class InitReport:
    database_created: bool
    migrations_applied: list[str]
    catalogue_synced: bool
    ods_tables_created: list[str]
    missing_roles: list[str] = field(default_factory=list)  # the server refused CREATEROLE
    masked_views: int = 0
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "database_created": self.database_created,
            "migrations_applied": self.migrations_applied,
            "catalogue_synced": self.catalogue_synced,
            "ods_tables_created": len(self.ods_tables_created),
            "missing_roles": self.missing_roles,
            "masked_views": self.masked_views,
            **self.extra,
        }


def init_database(dsn: str) -> InitReport:
    created = ensure_database(dsn)
    with connect(dsn) as conn:
        applied = migrate(conn)
        synced = sync_catalogue(conn)
        ods = ensure_ods_tables(conn)
        # the standard-address tables' history triggers, and what they hold already (0012)
        conn.execute("select meta.address_history_sync()")
        sync_ods_classes(conn)
        access = apply_access(conn)
        conn.commit()
    return InitReport(created, applied, synced, ods, access.missing_roles, access.masked_views)
