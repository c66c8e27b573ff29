# WARNING: generated from connection_async.py by tools/async_to_sync.py: do not edit.
# Change the async source and run `python tools/async_to_sync.py`.
"""The connection class every pooled connection is: a psycopg connection whose every wait on
the server is bounded (see :mod:`aura_db.connection`)."""

from __future__ import annotations

import contextlib
from typing import Any, TypeVar

import psycopg
from psycopg import errors as pg
from psycopg.abc import PQGen
from psycopg.adapt import AdaptersMap

from ._pgerrors import DeadlineHit

__all__ = ["AuraConnection"]

RV = TypeVar("RV")
_WAIT_INTERVAL = 0.1  # as psycopg's: how often a wait wakes up to notice Ctrl-C


class AuraConnection(psycopg.Connection[Any]):
    """A psycopg connection with a client-side deadline on every wait for the server."""

    deadline: float | None = None  # seconds; None: wait as long as the server takes
    # in a transaction aura-db opened for one call outside the caller's transactions (behind a
    # transaction pooler, where a call cannot run in autocommit: see Database._pooled_call)
    call_transaction: bool = False
    # the adapters as the pool configured them, restored when raw code hands the connection back
    pristine_adapters: AdaptersMap | None = None

    def wait(self, gen: PQGen[RV], interval: float = _WAIT_INTERVAL,
             timeout: float | None = None) -> RV:
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
