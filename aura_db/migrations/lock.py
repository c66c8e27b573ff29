"""The migration lock: a session advisory lock, with yoyo's lock row taken inside it.

The advisory lock lives on a dedicated connection for the whole run, so it dies with the process
that holds it: a run killed with SIGKILL never blocks the next one. yoyo's row in ``yoyo_lock`` is
taken as well so that the plain ``yoyo`` CLI, used by hand, stays out of the way; such a row can
outlive a killed process, and one found while WE hold the advisory lock whose pid is neither a
live backend nor a live local process can only be stale, so it is removed with a warning.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from ..config import describe_server
from ..errors import MigrationLockTimeout
from ..pooler import require_session

__all__ = ["LOCK_KEY", "LockInfo", "advisory_lock", "break_lock", "break_stale_yoyo_locks",
           "holder", "lock_info", "yoyo_lock"]

logger = logging.getLogger(__name__)

# pg_advisory_lock key for migration runs: 'auradb' in ASCII, then 1.
LOCK_KEY = 0x6175726164620001



@dataclass(frozen=True, slots=True)
class LockInfo:
    """Who holds the migration lock: the advisory holder and yoyo's lock rows."""

    advisory_holder: str | None  # "pid N (app) ..." or None when free
    yoyo_rows: list[tuple[int, datetime | None, bool]]  # (pid, since, alive)

    def lines(self) -> list[str]:
        out = [f"advisory lock: {'held by ' + self.advisory_holder if self.advisory_holder else 'free'}"]
        if not self.yoyo_rows:
            out.append("yoyo lock row: none")
        for pid, since, alive in self.yoyo_rows:
            state = "live" if alive else "STALE (its process is gone)"
            out.append(f"yoyo lock row: pid {pid} since {since or '?'} UTC, {state}")
        return out


def holder(conn: psycopg.Connection[Any]) -> str | None:
    """Describe the session holding the advisory lock (pid, application, since when), if any."""
    row = conn.execute(
        """
        SELECT a.pid, a.application_name, a.backend_start, a.client_addr
        FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'advisory' AND l.granted AND l.database = (
              SELECT oid FROM pg_database WHERE datname = current_database())
          AND l.classid = (%(key)s >> 32)::oid AND l.objid = (%(key)s & 4294967295)::oid
        LIMIT 1
        """,
        {"key": LOCK_KEY},
    ).fetchone()
    if row is None:
        return None
    pid, app, since, addr = row
    where = f" from {addr}" if addr else ""
    return (f"pid {pid} ({app or 'no application_name'}{where}) connected since "
            f"{since:%Y-%m-%d %H:%M:%S%z}")


@contextmanager
def advisory_lock(url: str, *, wait: float, application_name: str) -> Iterator[psycopg.Connection[Any]]:
    """Hold the migration advisory lock on a dedicated connection for the ``with`` block.

    Waits up to ``wait`` seconds, saying who holds it; then raises :class:`MigrationLockTimeout`
    naming the holder.
    """
    conn = psycopg.connect(url, autocommit=True, application_name=application_name)
    try:
        require_session(conn, url, "a migration run")
        deadline = time.monotonic() + wait
        delay, told = 0.05, False
        while not _try_lock(conn):
            who = holder(conn) or "a process that has just released it"
            if time.monotonic() >= deadline:
                raise MigrationLockTimeout(
                    f"another migration run holds the lock on {describe_server(url)}: {who}; waited "
                    f"{wait:g}s (run 'aura-db unlock' to see it; wait for it, or end that session)"
                )
            (logger.info if told else logger.warning)("waiting for the migration lock held by %s", who)
            told = True
            time.sleep(delay)
            delay = min(delay * 2, 1.0)
        yield conn
    finally:
        conn.close()  # ends the session, which releases the advisory lock


def _try_lock(conn: psycopg.Connection[Any]) -> bool:
    row = conn.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,)).fetchone()
    return bool(row and row[0])


def _pid_alive(conn: psycopg.Connection[Any], pid: int) -> bool:
    if conn.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _yoyo_rows(conn: psycopg.Connection[Any]) -> list[tuple[int, datetime | None, bool]]:
    if conn.execute("SELECT to_regclass('yoyo_lock')").fetchone() in (None, (None,)):
        return []
    rows = conn.execute('SELECT pid, ctime FROM "yoyo_lock" ORDER BY ctime').fetchall()
    return [(pid, ctime, _pid_alive(conn, pid)) for pid, ctime in rows]


def break_stale_yoyo_locks(conn: psycopg.Connection[Any]) -> list[int]:
    """Delete yoyo lock rows whose process is gone; call only while holding the advisory lock."""
    broken = []
    for pid, since, alive in _yoyo_rows(conn):
        if not alive:
            conn.execute('DELETE FROM "yoyo_lock" WHERE pid = %s', (pid,))
            logger.warning("removed a stale yoyo lock row of pid %s (since %s UTC): its process is gone",
                           pid, since)
            broken.append(pid)
    return broken


@contextmanager
def yoyo_lock(backend: Any, *, wait: float) -> Iterator[None]:
    """yoyo's own lock row, bounded by ``wait`` (yoyo busy-loops on timeout=0)."""
    from yoyo import exceptions as yoyo_exceptions

    try:
        with backend.lock(timeout=max(wait, 0.5)):
            yield
    except yoyo_exceptions.LockTimeout as exc:
        raise MigrationLockTimeout(
            f"{exc} (a live yoyo process holds the row in yoyo_lock; wait for it to finish)"
        ) from exc


def lock_info(url: str) -> LockInfo:
    """Who holds the migration lock now (reads only)."""
    with psycopg.connect(url, autocommit=True) as conn:
        return LockInfo(advisory_holder=holder(conn), yoyo_rows=_yoyo_rows(conn))


def break_lock(url: str, *, force: bool = False) -> list[int]:
    """Remove yoyo lock rows: stale ones, or (``force``) all. Takes the advisory lock first so
    a running aura-db migration is never disturbed; returns the pids whose rows were removed."""
    with advisory_lock(url, wait=0.0, application_name="aura-db unlock") as conn:
        if not force:
            return break_stale_yoyo_locks(conn)
        pids = [pid for pid, _, _ in _yoyo_rows(conn)]
        if pids:
            conn.execute('DELETE FROM "yoyo_lock"')
        for pid in pids:
            logger.warning("removed the yoyo lock row of pid %s (--force)", pid)
        return pids
