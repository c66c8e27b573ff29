"""The repository base class and the retry decorators (the async source of ``base_sync.py``).

A repository is a thin object bound to a *connector* — a callable returning a context manager
that yields a connection: the Database's (borrow from the pool, commit on exit) or a
Transaction's (its one connection; the transaction block commits). Repositories never commit.
Rows are built by :mod:`.rows`, input is checked by :mod:`.checks`, pages by :mod:`.cursors`.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from types import TracebackType
from typing import Any, ClassVar, ParamSpec, TypeVar

import psycopg

from .._pgerrors import translate
from .._retry_async import retrying
from ..errors import CommitOutcomeUnknown, ConnectionLost, IdleInTransactionTimeout, NotFound
from ..queries import Query, QueryCatalog, default_catalog
from ..retry import RetryPolicy
from .base import ROUTE, RetrySafety, not_found

__all__ = ["AsyncConnector", "AsyncHeld", "AsyncRepository", "idempotent", "reads", "writes"]

AsyncConnector = Callable[[], AbstractAsyncContextManager[psycopg.AsyncConnection[Any]]]
R = TypeVar("R")
P = ParamSpec("P")
Method = Callable[P, Awaitable[R]]  # sync: Method = Callable[P, R]


def _classify(kind: RetrySafety) -> Callable[[Method[P, R]], Method[P, R]]:
    wrote = kind == "write"

    def mark(fn: Method[P, R]) -> Method[P, R]:
        what = fn.__qualname__
        name = fn.__name__

        @functools.wraps(fn)
        async def call(*args: P.args, **kwargs: P.kwargs) -> R:
            self: AsyncRepository = args[0]  # type: ignore[assignment]
            policy = self._retry
            if policy is None:  # inside a transaction: db.run_transaction retries the whole
                return await fn(*args, **kwargs)
            route = ROUTE.set("replica" if kind == "read" and ROUTE.get() != "primary" else "primary")
            try:
                return await retrying(policy, fn, args, kwargs, wrote=wrote, what=what)
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


class AsyncHeld:
    """A transaction's connector: its one connection, for every call in the block (the block
    commits). A repository bound to it uses the connection directly, with no context manager
    of the connector's around each call (the point read's hot path)."""

    __slots__ = ("conn",)

    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self.conn = conn

    def __call__(self) -> AbstractAsyncContextManager[psycopg.AsyncConnection[Any]]:
        return nullcontext(self.conn)


class AsyncRepository:
    """Base of the repositories: a connector, the query catalog and the table for messages."""

    table: ClassVar[str] = ""

    def __init__(self, connector: AsyncConnector, catalog: QueryCatalog | None = None,
                 retry: RetryPolicy | None = None) -> None:
        self._connector = connector
        self._catalog = catalog if catalog is not None else default_catalog()
        self._retry = retry  # None: inside a transaction, or retries off
        # inside a transaction: the connection's block, one reusable object for every call
        self._held = _HeldBlock(connector.conn, self.table) if isinstance(connector, AsyncHeld) else None

    def _q(self, name: str) -> Query:
        return self._catalog[name]

    def _conn(self) -> _Translated | _HeldBlock:
        """The connector's connection for the block; psycopg errors raised in the block leave
        it as aura-db errors naming the table."""
        held = self._held
        if held is not None:
            return held
        return _Translated(self._connector(), self.table)

    def _not_found(self, key: object, field: str = "id") -> NotFound:
        return not_found(self.table, key, field)


class _Translated:
    """A repository call's connection block: the connector's context manager, with psycopg
    errors raised in the block re-raised as the aura-db error for them (naming the table; the
    original as ``__cause__``, its SQLSTATE as ``err.sqlstate``). The connector's exit sees the
    translated error; nothing is suppressed. A class rather than a generator-based context
    manager: ~0.5 us against ~3 on a point read of ~90 us."""

    __slots__ = ("_inner", "_table")

    def __init__(self, inner: AbstractAsyncContextManager[psycopg.AsyncConnection[Any]], table: str) -> None:
        self._inner = inner
        self._table = table

    async def __aenter__(self) -> psycopg.AsyncConnection[Any]:
        return await self._inner.__aenter__()

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        # never suppresses (no connector does): what the block raised goes on
        if not isinstance(exc, psycopg.Error):
            await self._inner.__aexit__(kind, exc, tb)
            return
        error = translate(exc, self._table)
        error.__cause__ = exc  # raise ... from exc
        await self._inner.__aexit__(type(error), error, error.__traceback__)
        raise error


class _HeldBlock:
    """A repository call's block inside a transaction: the transaction's connection, psycopg
    errors raised in the block re-raised as :class:`_Translated` does. Holds no state of a call,
    so one object serves every call (and calls nested in each other)."""

    __slots__ = ("_conn", "_table")

    def __init__(self, conn: psycopg.AsyncConnection[Any], table: str) -> None:
        self._conn = conn
        self._table = table

    async def __aenter__(self) -> psycopg.AsyncConnection[Any]:
        return self._conn

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        if isinstance(exc, psycopg.Error):
            error = translate(exc, self._table)
            raise error from exc
