"""The connection classes pooled connections are: psycopg connections whose every wait on the
server is bounded (:class:`AuraConnection`, generated from :class:`AsyncAuraConnection`).

psycopg runs each statement, pipeline sync and COPY block through ``Connection.wait``; these
classes give that wait a deadline (``deadline`` seconds, set by the Database from its
configuration). When the server does not answer by then — a frozen backend, a dead network,
anything ``statement_timeout`` cannot catch because the server itself is stuck — a cancel is
sent, the connection closed (the pool replaces it) and the caller gets
:class:`~aura_db.errors.DeadlineExceeded` (:class:`~aura_db.errors.CommitOutcomeUnknown` when
it was a COMMIT). A backend that had not read the statement yet runs it once it thaws: the
cancel reached it while it was idle, when a cancel does nothing. It costs one attribute read
per wait: psycopg's own wait loop keeps the time.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import psycopg

from .connection_async import AsyncAuraConnection
from .connection_sync import AuraConnection

__all__ = ["AsyncAuraConnection", "AuraConnection", "unbounded"]


@contextlib.contextmanager
def unbounded(conn: psycopg.Connection[Any] | psycopg.AsyncConnection[Any]) -> Iterator[None]:
    """Lift the connection's deadline for a block that legitimately waits long (an index build
    that runs with ``statement_timeout = 0``)."""
    if not isinstance(conn, AuraConnection | AsyncAuraConnection):
        yield
        return
    saved = conn.deadline
    conn.deadline = None
    try:
        yield
    finally:
        conn.deadline = saved
