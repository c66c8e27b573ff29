"""What every repository shares, both flavours: where a call may run (``ROUTE``), how its
retry safety is declared, the NotFound error. The repository base class, the translation of
PostgreSQL errors into aura-db's on its connection block and the retry decorators are
:mod:`.base_async`'s (and the generated :mod:`.base_sync`'s).

A repository is a thin object bound to a *connector* — a callable returning a context manager
that yields a connection: the Database's (borrow from the pool, commit on exit) or a
Transaction's (its one connection; the transaction block commits). Repositories never commit.
Rows are built by :mod:`.rows`, input is checked by :mod:`.checks`, pages by :mod:`.cursors`.
"""

from __future__ import annotations

import uuid
from contextvars import ContextVar
from typing import Any, Literal

import psycopg

from ..errors import NotFound
from .checks import show

__all__ = ["ROUTE", "RetrySafety", "not_found", "own_call"]


# -- what may run again ------------------------------------------------------------------------

RetrySafety = Literal["read", "idempotent", "write"]

ROUTE: ContextVar[Literal["replica", "primary"] | None] = ContextVar("aura_db_route", default=None)
"""Where the repository call in progress outside a transaction may run: ``"replica"`` for a
read (a Database with read replicas sends it to one, :mod:`aura_db.replicas`), ``"primary"``
for a write and for every read a write makes on the way."""


def own_call(conn: psycopg.Connection[Any] | psycopg.AsyncConnection[Any]) -> bool:
    """Whether a repository call's connection is outside the caller's transactions: idle in
    autocommit, or in the transaction aura-db opened for this one call (behind a transaction
    pooler)."""
    return (conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
            or bool(getattr(conn, "call_transaction", False)))


def not_found(table: str, key: object, field: str = "id") -> NotFound:
    """The NotFound error for ``key`` in ``table``."""
    shown = str(key) if isinstance(key, uuid.UUID) else key
    return NotFound(f"{table}: no row with {field} {show(shown, 80)}")
