"""What every repository shares: its connector, its query catalog and the translation of
PostgreSQL errors into aura-db's.

A repository is a thin object bound to a *connector* — a callable returning a context manager
that yields a connection: the Database's (borrow from the pool, commit on exit) or a
Transaction's (its one connection; the transaction block commits). Repositories never commit.
Rows are built by :mod:`.rows`, input is checked by :mod:`.checks`, pages by :mod:`.cursors`.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from typing import Any, ClassVar, Literal, ParamSpec, TypeVar

import psycopg

from .._pgerrors import translate
from ..errors import CommitOutcomeUnknown, ConnectionLost, IdleInTransactionTimeout, NotFound
from ..queries import Query, QueryCatalog, default_catalog
from ..retry import RetryPolicy
from .checks import show

__all__ = ["ROUTE", "Connector", "Repository", "RetrySafety", "idempotent", "not_found", "own_call",
           "reads", "translating", "writes"]

Connector = Callable[[], AbstractContextManager[psycopg.Connection[Any]]]


@contextmanager
def translating(table: str) -> Iterator[None]:
    """Re-raise every psycopg error as the aura-db error for it (the original stays as
    ``__cause__``, its SQLSTATE as ``err.sqlstate``)."""
    try:
        yield
    except psycopg.Error as exc:
        raise translate(exc, table) from exc


# -- what may run again ------------------------------------------------------------------------

RetrySafety = Literal["read", "idempotent", "write"]
R = TypeVar("R")
P = ParamSpec("P")

ROUTE: ContextVar[Literal["replica", "primary"] | None] = ContextVar("aura_db_route", default=None)
"""Where the repository call in progress outside a transaction may run: ``"replica"`` for a
read (a Database with read replicas sends it to one, :mod:`aura_db.replicas`), ``"primary"``
for a write and for every read a write makes on the way."""


def _classify(kind: RetrySafety) -> Callable[[Callable[P, R]], Callable[P, R]]:
    wrote = kind == "write"

    def mark(fn: Callable[P, R]) -> Callable[P, R]:
        what = fn.__qualname__
        name = fn.__name__

        @functools.wraps(fn)
        def call(*args: P.args, **kwargs: P.kwargs) -> R:
            self: Repository = args[0]  # type: ignore[assignment]
            policy = self._retry
            if policy is None:  # inside a transaction: db.run_transaction retries the whole
                return fn(*args, **kwargs)
            route = ROUTE.set("replica" if kind == "read" and ROUTE.get() != "primary" else "primary")
            try:
                return policy.run(fn, args, kwargs, wrote=wrote, what=what)
            except ConnectionLost as exc:
                # a write whose statement reached the server and then lost its connection (or
                # its deadline) may have been applied: say so, whatever broke (unless it ran in
                # the call's own transaction, which then rolled back)
                if not wrote or exc.rolled_back or isinstance(
                        exc, CommitOutcomeUnknown | IdleInTransactionTimeout):
                    raise
                raise CommitOutcomeUnknown(
                    f"{self.table}: the connection broke during {name}() ({exc}): the write may "
                    f"or may not have been applied; read it back to know") from exc.__cause__
            finally:
                ROUTE.reset(route)

        call.retry_safety = kind  # type: ignore[attr-defined]
        return call

    return mark


reads = _classify("read")
"""Marks a method that only reads: outside a transaction it is run again (on a fresh
connection) when the connection was lost, and on a serialization failure or deadlock."""
idempotent = _classify("idempotent")
"""Marks a write that lands the same however often it runs (a natural-key upsert, a replace, a
set-to-value): retried like a read."""
writes = _classify("write")
"""Marks a write that must not run twice: retried only when the server rolled it back
(deadlock, serialization failure, lock timeout); a connection lost or a deadline passed while
it ran raises CommitOutcomeUnknown."""


class Repository:
    """Base of the repositories: a connector, the query catalog and the table for messages."""

    table: ClassVar[str] = ""

    def __init__(self, connector: Connector, catalog: QueryCatalog | None = None,
                 retry: RetryPolicy | None = None) -> None:
        self._connector = connector
        self._catalog = catalog if catalog is not None else default_catalog()
        self._retry = retry  # None: inside a transaction, or retries off

    def _q(self, name: str) -> Query:
        return self._catalog[name]

    @contextmanager
    def _conn(self) -> Iterator[psycopg.Connection[Any]]:
        with self._connector() as conn, translating(self.table):
            yield conn

    def _not_found(self, key: object, field: str = "id") -> NotFound:
        return not_found(self.table, key, field)


def own_call(conn: psycopg.Connection[Any]) -> bool:
    """Whether a repository call's connection is outside the caller's transactions: idle in
    autocommit, or in the transaction aura-db opened for this one call (behind a transaction
    pooler)."""
    return (conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
            or bool(getattr(conn, "call_transaction", False)))


def not_found(table: str, key: object, field: str = "id") -> NotFound:
    """The NotFound error for ``key`` in ``table``."""
    shown = str(key) if isinstance(key, uuid.UUID) else key
    return NotFound(f"{table}: no row with {field} {show(shown, 80)}")
