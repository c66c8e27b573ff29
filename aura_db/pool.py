"""The connection pool behind a Database: psycopg_pool's ConnectionPool, configured for aura-db
and hardened at the edges.

- **Checkout** costs no round trip for a connection used in the last ``check_after_idle``
  seconds (libpq reads what the server sent meanwhile, without releasing the GIL); an older one
  is checked with a round trip. A dead one is discarded and, since a failover or a pgbouncer
  restart kills every idle backend at once, every idle connection is checked at that moment:
  the caller waits for one fresh connection instead of paying a failed check (and
  psycopg_pool's 1-2-4 s backoff) per dead one.
- **Reconnecting** to a server that is down is tried every 0.1-0.5 s (psycopg_pool waits 1, 2,
  4, ... s), so the first call after the server accepts connections again gets one at once.
- **Waits end typed**: no connection within ``pool_wait`` is :class:`PoolExhausted` when every
  connection is in use, :class:`ServerUnavailable` otherwise.
- **Return**: a connection that code had raw access to is cleaned with ``DISCARD ALL`` (temp
  tables, prepared statements, session authorization, advisory locks, LISTEN, WITH HOLD
  cursors, settings) and its client-side settings put back, or closed when that fails; the next
  borrower never sees what the previous one left.
"""

from __future__ import annotations

import psycopg
from psycopg_pool.base import AttemptWithBackoff

__all__ = ["IDLE", "VECTOR_TYPES", "QuickReconnect"]

VECTOR_TYPES = ("vector", "halfvec", "sparsevec")
IDLE = psycopg.pq.TransactionStatus.IDLE


class QuickReconnect(AttemptWithBackoff):
    """Reconnect attempts every 0.1 s, growing to 0.5 s at most (psycopg_pool: 1, 2, 4, ... s)."""

    INITIAL_DELAY = 0.1
    DELAY_BACKOFF = 1.5
    MAX_DELAY = 0.5

    def update_delay(self, now: float) -> None:
        super().update_delay(now)
        self.delay = min(self.delay, self.MAX_DELAY)
