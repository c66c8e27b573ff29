# WARNING: generated from replicas_async.py by tools/async_to_sync.py: do not edit.
# Change the async source and run `python tools/async_to_sync.py`.
"""The read replicas of one Database (see :mod:`aura_db.replicas`)."""

from __future__ import annotations

import dataclasses
import itertools
import logging
import threading
import time
from collections.abc import Iterator, Awaitable, Callable
from contextlib import contextmanager

import psycopg

from ._compat_sync import sleep
from .config import Config, describe_server
from .connection_sync import AuraConnection
from .errors import AuraError, ConnectionLost, PoolExhausted, ReplicaLost
from .pool_sync import Pool
from .replicas import BORROW_WAIT, POLL, REPLAYED, STATE, ReplicaStatus

__all__ = ["Replicas"]

logger = logging.getLogger("aura_db.replicas")
Target = Callable[[], int]


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
            config, pool_wait=min(config.wait_for_connection, BORROW_WAIT))
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
    def borrow(self, target: Target, what: str, *,
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

    def _pick(self, target: Target) -> tuple[_Replica, AuraConnection] | None:
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

    def _ready(self, replica: _Replica, conn: AuraConnection, target: Target) -> bool:
        """Whether ``replica`` may serve the read now: checked when due, and caught up with
        ``target()`` within ``replica_wait`` seconds. Raises _Out when it must leave."""
        conn.set_autocommit(True)
        now = time.monotonic()
        if now - replica.checked_at >= self._check_every:
            self._check(replica, conn)
        needed = target()
        if replica.replayed >= needed:
            return True
        deadline = now + self.config.replica_wait
        pause = POLL
        while True:
            row = conn.execute(REPLAYED).fetchone()
            replica.replayed = int(row[0]) if row else 0
            if replica.replayed >= needed:
                return True
            if time.monotonic() + pause > deadline:
                logger.info("replica %s has not replayed this process's last commit within %gs: "
                            "reading the primary", replica.server, self.config.replica_wait)
                return False
            sleep(pause)
            pause = min(pause * 2, 0.02)

    def _check(self, replica: _Replica, conn: AuraConnection) -> None:
        row = conn.execute(STATE).fetchone()
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
