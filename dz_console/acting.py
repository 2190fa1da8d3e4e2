"""Running a request as the signed-in login: one transaction with ``SET LOCAL ROLE``.

The pool's connections are the warehouse owner's (autocommit between requests). Inside the
transaction everything the page reads is read as the login, so the masked views, jurisdiction
and column grants apply. A part of a page the login may not read, or that another issue has not
built yet, becomes a state of that part (``Part``) instead of an error page: each part runs in a
savepoint.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool

T = TypeVar("T")

# A page that takes longer than this is a bug or a missing index; it is cut, not waited for.
STATEMENT_TIMEOUT = "15s"


@contextmanager
def acting_as(pool: ConnectionPool, login: str) -> Iterator[psycopg.Connection]:
    """A connection in a transaction running as ``login`` (rolled back on error)."""
    with pool.connection() as conn, conn.transaction():
        conn.execute(sql.SQL("set local role {}").format(sql.Identifier(login)))
        conn.execute(f"set local statement_timeout = '{STATEMENT_TIMEOUT}'")
        yield conn


@dataclass
class Part(Generic[T]):
    """One part of a page: its value, or why there is none (``missing``: the relation does not
    exist yet, shown as 暂无数据; ``denied``: the login may not read it)."""

    value: T | None = None
    missing: bool = False
    denied: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.denied)


def part(conn: psycopg.Connection, read: Callable[[psycopg.Connection], T]) -> Part[T]:
    """``read(conn)`` in a savepoint: permission refused and missing relations become states."""
    try:
        with conn.transaction():
            return Part(read(conn))
    except psycopg.errors.InsufficientPrivilege:
        return Part(denied=True)
    except (psycopg.errors.UndefinedTable, psycopg.errors.UndefinedFunction,
            psycopg.errors.UndefinedColumn, psycopg.errors.InvalidSchemaName):
        return Part(missing=True)


def exists(conn: psycopg.Connection, relation: str) -> bool:
    """Whether ``relation`` exists (and its schema is visible to the login)."""
    return conn.execute("select to_regclass(%s) is not null", (relation,)).fetchone()[0]


def may(conn: psycopg.Connection, relation: str, privilege: str = "select", column: str | None = None) -> bool:
    """Whether the login may ``privilege`` ``relation`` (``column``): the database's answer."""
    if not exists(conn, relation):
        return False
    if column:
        return conn.execute("select has_column_privilege(%s, %s, %s)", (relation, column, privilege)).fetchone()[0]
    return conn.execute("select has_table_privilege(%s, %s)", (relation, privilege)).fetchone()[0]
