"""The connection class every pooled connection is: a psycopg connection whose every wait on
the server is bounded.

psycopg runs each statement, pipeline sync and COPY block through ``Connection.wait``; this
class gives that wait a deadline (:attr:`AuraConnection.deadline` seconds, set by the Database
from its configuration). When the server does not answer by then — a frozen backend, a dead
network, anything ``statement_timeout`` cannot catch because the server itself is stuck — a
cancel is sent, the connection closed (the pool replaces it) and the caller gets
:class:`~aura_db.errors.DeadlineExceeded` (:class:`~aura_db.errors.CommitOutcomeUnknown` when
it was a COMMIT). A backend that had not read the statement yet runs it once it thaws: the
cancel reached it while it was idle, when a cancel does nothing. It costs one attribute read
per wait: psycopg's own wait loop keeps the time.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, TypeVar

import psycopg
from psycopg import errors as pg
from psycopg.abc import PQGen

from ._pgerrors import DeadlineHit

__all__ = ["AuraConnection", "unbounded"]

RV = TypeVar("RV")
_WAIT_INTERVAL = 0.1  # as psycopg's: how often a wait wakes up to notice Ctrl-C


class AuraConnection(psycopg.Connection[Any]):
    """A psycopg connection with a client-side deadline on every wait for the server."""

    deadline: float | None = None  # seconds; None: wait as long as the server takes
    # in a transaction aura-db opened for one call outside the caller's transactions (behind a
    # transaction pooler, where a call cannot run in autocommit: see Database._pooled_call)
    call_transaction: bool = False

    def wait(self, gen: PQGen[RV], interval: float = _WAIT_INTERVAL, timeout: float | None = None) -> RV:
        limit = self.deadline if timeout is None else timeout
        try:
            return super().wait(gen, interval, limit)
        except pg._WaitTimeout:
            self._abandon()
            raise DeadlineHit(
                f"no answer from the server within the {limit:g}s deadline: a cancel was sent and "
                f"the connection closed") from None

    def _abandon(self) -> None:
        """Cancel what the server may still be running, then close the socket (the lock of
        the statement in progress is held: close the libpq connection directly)."""
        with contextlib.suppress(Exception):
            self.cancel_safe(timeout=0.5)
        self.pgconn.finish()


@contextlib.contextmanager
def unbounded(conn: psycopg.Connection[Any]) -> Iterator[None]:
    """Lift the connection's deadline for a block that legitimately waits long (an index build
    that runs with ``statement_timeout = 0``)."""
    if not isinstance(conn, AuraConnection):
        yield
        return
    saved = conn.deadline
    conn.deadline = None
    try:
        yield
    finally:
        conn.deadline = saved
