"""Streaming read replicas: where reads that tolerate staleness run, and when a replica may
serve them.

A Database given replicas (``Config.replicas``, ``AURA_REPLICA_URLS``) keeps one pool per
replica and sends each repository read made outside a transaction (a get, a list, a count, a
search; see ``aura_db.repositories.base.ROUTE``) to the next replica in rotation; writes,
transactions, raw connections, migrations and health checks go to the primary.

- **Read-your-writes.** After this Database committed something, the next replica read waits
  until the replica has replayed the primary's WAL position taken after that commit (asked
  once per batch of commits: one round trip to the primary), polling for at most
  ``replica_wait`` seconds; a replica still behind then is skipped and the read runs on the
  primary. A commit made by another process is seen once the replica replays it (within
  ``replica_max_lag``).
- **Rotation.** Every replica's role and lag are checked (one round trip) at most every
  ``min(1, replica_max_lag / 2)`` seconds, when a read is about to use it. A replica that does
  not answer, lost a connection during a read, lags more than ``replica_max_lag`` seconds, or
  was promoted (no longer in recovery) leaves the rotation for ``replica_retry`` seconds and is
  checked again when that time is up. A read whose replica broke under it (connection lost,
  or no answer within ``call_deadline``: a frozen replica) raises :class:`ReplicaLost`, which
  the retry policy runs again — on another replica or the primary — so a killed or frozen
  replica costs time, never a failed read (unless retries are off).
- Lag is how long WAL the replica had received at an earlier check has stayed unreplayed (zero
  when it has replayed all it received, or everything it had received at the last check). It is
  measured on this side, so a primary that was idle for an hour does not make a replica look an
  hour behind, and a replica whose replay stopped is seen lagging even when nothing new comes.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import LiteralString

import psycopg

from .config import Config, describe_server
from .connection import AuraConnection
from .errors import AuraError, ConnectionLost, PoolExhausted, ReplicaLost
from .pool import Pool

__all__ = ["REPLAY_TARGET", "ReplicaStatus", "Replicas"]

logger = logging.getLogger(__name__)

# The primary's WAL insert position now: past the end of every commit acknowledged before it
# (the write position can be behind one with synchronous_commit off)
REPLAY_TARGET: LiteralString = "SELECT pg_current_wal_insert_lsn() - '0/0'::pg_lsn"
_STATE: LiteralString = (
    "SELECT pg_is_in_recovery(), coalesce(pg_last_wal_replay_lsn() - '0/0'::pg_lsn, 0), "
    "coalesce(pg_last_wal_receive_lsn() - '0/0'::pg_lsn, 0)")
_REPLAYED: LiteralString = "SELECT coalesce(pg_last_wal_replay_lsn() - '0/0'::pg_lsn, 0)"
_BORROW_WAIT = 1.0  # seconds a read waits for a replica's connection before it reads elsewhere
_POLL = 0.002  # first pause while waiting for replay (doubled up to 0.02 s)


@dataclass(frozen=True, slots=True)
class ReplicaStatus:
    """One replica as the Database sees it."""

    server: str  # host:port/dbname (never the password)
    in_rotation: bool
    reason: str | None  # why it is out of rotation
    lag: float | None  # seconds, at the last check (None: never checked)
    reads: int  # reads it served


class _Replica:
    def __init__(self, url: str, config: Config, name: str) -> None:
        self.server = describe_server(url)
        self.pool = Pool(url, config, name)
        self.out_until = 0.0  # out of rotation until then (monotonic)
        self.reason: str | None = None
        self.checked_at = float("-inf")
        self.replayed = 0  # WAL replayed, bytes, at the last look
        self.lag: float | None = None
        self.reads = 0
        # (WAL received, monotonic time) when it was first seen received and not yet replayed
        self.behind: tuple[int, float] | None = None


class _Out(Exception):
    """A replica that must leave the rotation, and why."""


class Replicas:
    """The read replicas of one Database; see the module docstring."""

    def __init__(self, urls: tuple[str, ...], config: Config, name: str) -> None:
        replica_config = dataclasses.replace(
            config, pool_wait=min(config.wait_for_connection, _BORROW_WAIT))
        self.config = config
        self._all = [_Replica(url, replica_config, f"{name}-replica-{i}") for i, url in enumerate(urls)]
        self._turn = itertools.count()
        self._check_every = min(1.0, config.replica_max_lag / 2)
        self._lock = threading.Lock()

    def open(self) -> None:
        """Open every replica's pool without waiting: one that is down is out of rotation at
        its first use, and the Database starts on its primary alone."""
        for replica in self._all:
            replica.pool.open(wait=False)

    def status(self) -> list[ReplicaStatus]:
        now = time.monotonic()
        return [ReplicaStatus(r.server, r.out_until <= now, r.reason if r.out_until > now else None,
                              r.lag, r.reads) for r in self._all]

    @contextmanager
    def borrow(self, target: Callable[[], int], what: str, *,
               autocommit: bool = True) -> Iterator[AuraConnection | None]:
        """A connection to a replica in rotation that has replayed ``target()`` (the WAL
        position this Database's reads must see, asked only when a replica is there to read
        from), or None: read the primary."""
        found = self._pick(target)
        if found is None:
            yield None
            return
        replica, conn = found
        try:
            with replica.pool.borrowed(autocommit=autocommit, raw=False, what=what, conn=conn) as lent:
                yield lent
            replica.reads += 1
        except ConnectionLost as exc:
            self._take_out(replica, f"lost a connection during a read ({exc})")
            # a deadline is final on the primary; here the next try reads elsewhere
            raise ReplicaLost(f"{exc} (on replica {replica.server}, now out of rotation)") from exc

    def _pick(self, target: Callable[[], int]) -> tuple[_Replica, AuraConnection] | None:
        now = time.monotonic()
        start = next(self._turn)
        count = len(self._all)
        for replica in (self._all[(start + i) % count] for i in range(count)):
            if replica.out_until > now:
                continue
            try:
                conn = replica.pool.getconn()
            except PoolExhausted:
                continue  # busy, not broken: the primary serves this one
            except AuraError as exc:
                self._take_out(replica, f"unreachable ({exc})")
                continue
            try:
                if self._ready(replica, conn, target):
                    replica.reason = None
                    return replica, conn
            except _Out as exc:
                self._take_out(replica, str(exc))
            except (psycopg.Error, AuraError) as exc:
                self._take_out(replica, f"failed its check ({' '.join(str(exc).split())[:200]})")
            replica.pool.putconn(conn)
        return None

    def _ready(self, replica: _Replica, conn: AuraConnection, target: Callable[[], int]) -> bool:
        """Whether ``replica`` may serve the read now: checked when due, and caught up with
        ``target()`` within ``replica_wait`` seconds. Raises _Out when it must leave."""
        conn.autocommit = True
        now = time.monotonic()
        if now - replica.checked_at >= self._check_every:
            self._check(replica, conn)
        needed = target()
        if replica.replayed >= needed:
            return True
        deadline = now + self.config.replica_wait
        pause = _POLL
        while True:
            row = conn.execute(_REPLAYED).fetchone()
            replica.replayed = int(row[0]) if row else 0
            if replica.replayed >= needed:
                return True
            if time.monotonic() + pause > deadline:
                logger.info("replica %s has not replayed this process's last commit within %gs: "
                            "reading the primary", replica.server, self.config.replica_wait)
                return False
            time.sleep(pause)
            pause = min(pause * 2, 0.02)

    def _check(self, replica: _Replica, conn: AuraConnection) -> None:
        row = conn.execute(_STATE).fetchone()
        assert row is not None
        in_recovery, replayed, received = bool(row[0]), int(row[1]), int(row[2])
        now = time.monotonic()
        if received <= replayed:
            replica.behind, lag = None, 0.0
        elif replica.behind is None or replayed >= replica.behind[0]:
            replica.behind, lag = (received, now), 0.0
        else:
            lag = now - replica.behind[1]
        replica.checked_at, replica.replayed, replica.lag = now, replayed, lag
        if not in_recovery:
            raise _Out("promoted: it is not in recovery, so no longer a replica of the primary")
        if lag > self.config.replica_max_lag:
            raise _Out(f"lagging {lag:.1f}s behind the primary (replica_max_lag "
                       f"{self.config.replica_max_lag:g}s)")

    def _take_out(self, replica: _Replica, reason: str) -> None:
        with self._lock:
            replica.out_until = time.monotonic() + self.config.replica_retry
            replica.reason = self.config.redact(reason)
            replica.checked_at = float("-inf")  # checked again before its next read
        logger.warning("replica %s out of rotation for %gs: %s", replica.server,
                       self.config.replica_retry, replica.reason)

    def forget_types(self) -> None:
        """After a migration: renew every replica connection (pgvector's types may be new)."""
        for replica in self._all:
            replica.pool.types.forget()
            replica.pool.drain()

    def close(self, timeout: float) -> None:
        for replica in self._all:
            replica.pool.close(timeout=timeout)
