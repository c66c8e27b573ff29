"""The psycopg and psycopg_pool internals aura_db.pool relies on, pinned: an upgrade that
changes them fails here, by name, rather than somewhere in the pool's behaviour."""

from __future__ import annotations

import collections
import inspect

import psycopg
from psycopg import errors as pg
from psycopg._preparing import PrepareManager
from psycopg_pool import ConnectionPool
from psycopg_pool.base import AttemptWithBackoff

from aura_db.connection import AuraConnection


def _params(fn: object) -> list[str]:
    return list(inspect.signature(fn).parameters)  # type: ignore[arg-type]


def test_pool_internals_overridden_by_aura_db_keep_their_signatures() -> None:
    assert _params(ConnectionPool._add_connection) == ["self", "attempt", "growing"]
    assert _params(ConnectionPool._connect) == ["self", "timeout"]
    assert _params(ConnectionPool._get_ready_connection) == ["self", "timeout"]
    assert isinstance(ConnectionPool("", open=False)._pool, collections.deque)
    assert _params(AttemptWithBackoff.update_delay) == ["self", "now"]
    for name in ("INITIAL_DELAY", "DELAY_BACKOFF", "delay"):
        assert hasattr(AttemptWithBackoff(timeout=1), name), name


def test_connection_wait_and_its_timeout_error_are_what_aura_connection_overrides() -> None:
    assert _params(psycopg.Connection.wait) == ["self", "gen", "interval", "timeout"]
    assert issubclass(pg._WaitTimeout, Exception)
    assert AuraConnection.wait is not psycopg.Connection.wait


def test_prepare_manager_is_replaceable() -> None:
    """pool._clean swaps in a fresh PrepareManager after DISCARD ALL."""
    manager = PrepareManager()
    assert manager.prepare_threshold == 5
    assert {"_counts", "_names", "_to_flush"} <= set(vars(manager))
    getter = psycopg.Connection.prepare_threshold.fget  # type: ignore[attr-defined]
    assert "self._prepared.prepare_threshold" in inspect.getsource(getter)
