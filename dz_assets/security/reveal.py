"""The audited reveal: an officer's one-at-a-time look at a row's unmasked ID numbers and names.

The database decides everything (``meta.reveal``: officer or engineer only, the row's jurisdiction
must be the login's, the audit entry is written before the row is read); this is its caller.
"""

from __future__ import annotations

import psycopg

from dz_assets.security.audit import os_user


def may_unmask(conn: psycopg.Connection) -> bool:
    """Whether this login may read personal data unmasked in bulk (``dzhub findings --unmasked``):
    a superuser or a member of ``dz_engineer``. An officer reveals one row at a time (``reveal``)."""
    return conn.execute("select r.rolsuper or exists (select from pg_roles g where g.rolname = 'dz_engineer' "
                        "and pg_has_role(current_user, g.oid, 'member')) from pg_roles r "
                        "where r.rolname = current_user").fetchone()[0]


def reveal(conn: psycopg.Connection, relation: str, id_hash: str, reason: str) -> dict[str, str]:
    """Column -> unmasked value of the row of ``relation`` whose ID hash is ``id_hash``; empty when
    no such row lies in the login's jurisdiction (the attempt is audited all the same)."""
    with conn.transaction():
        rows = conn.execute("select column_name, value from meta.reveal(%s, %s, %s, %s)",
                            (relation, id_hash, reason, os_user())).fetchall()
    return dict(rows)
