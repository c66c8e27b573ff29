"""The application's entry points: :class:`Database` (sync) and :class:`AsyncDatabase`
(asyncio) — a pool of connections (:mod:`aura_db.pool`), the repositories bound to it,
transactions, and migrate().

Both have the same methods, repositories, rows, errors and guarantees: ``Database`` is
generated from ``AsyncDatabase`` (``database_async.py`` -> ``database_sync.py``, by
tools/async_to_sync.py), so neither is a hand copy of the other. Every error that leaves them
is an :class:`~aura_db.errors.AuraError`. Work that is safe to run again is retried on its own
(see :mod:`aura_db.retry`): repository reads and idempotent writes outside a transaction, and
whole transactions through ``run_transaction``.
"""

from __future__ import annotations

from .database_async import AsyncDatabase, AsyncTransaction
from .database_sync import Database, Transaction
from .health import Health

__all__ = ["AsyncDatabase", "AsyncTransaction", "Database", "Health", "Transaction"]
