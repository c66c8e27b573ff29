"""Waiting for a server that is still starting: ``aura-db wait`` and ``--wait[=SECONDS]``.

A deploy often starts aura-db next to PostgreSQL (a compose file, a CI service, a restart): the
first connection is refused, or the server answers "the database system is starting up". This
retries with backoff until one connection succeeds and answers ``SELECT 1``, or the time is up.
A server that answers and refuses for good (wrong password, no such database or role) fails at
once: waiting would not change the answer.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

import psycopg

from ..config import describe_server
from ..errors import ConfigError, ServerUnavailable

__all__ = ["DEFAULT_WAIT", "wait_for_server"]

logger = logging.getLogger(__name__)

DEFAULT_WAIT = 60.0  # seconds, what a bare --wait means (dbmate's default too)
FIRST_DELAY, MAX_DELAY = 0.1, 2.0
# the server's refusals that end by themselves
TRANSIENT = ("starting up", "shutting down", "not yet accepting connections", "in recovery mode",
             "too many clients", "remaining connection slots", "recovery is in progress")


def _transient(message: str) -> bool:
    """A failure worth retrying: no server yet (refused, no socket, no route, timeout) or a
    server refusing for now; a FATAL about the role, password or database is final."""
    return "FATAL:" not in message or any(phrase in message for phrase in TRANSIENT)


def wait_for_server(url: str, timeout: float, *, connect_timeout: float = 5.0,
                    report: Callable[[str], None] | None = None) -> float:
    """Return once the server at ``url`` accepts a connection (seconds waited).

    Tries at once, then after 0.1 s, doubling up to 2 s between tries, for at most ``timeout``
    seconds; ``report`` (default: the log) hears one line when the waiting starts. Raises
    :class:`ServerUnavailable` naming the server and its last answer when the time is up or the
    refusal is final, :class:`ConfigError` for a negative ``timeout``.
    """
    if not (timeout >= 0 and math.isfinite(timeout)):
        raise ConfigError(f"--wait must be a number of seconds >= 0, got {timeout!r}")
    start = time.monotonic()
    delay, told = FIRST_DELAY, False
    while True:
        left = timeout - (time.monotonic() - start)
        try:
            # libpq's connect_timeout is whole seconds, at least 2 (1 is raised to 2)
            limit = max(2, math.ceil(min(connect_timeout, max(left, 0.0))))
            with psycopg.connect(url, connect_timeout=limit, autocommit=True) as conn:
                conn.execute("SELECT 1")
            return time.monotonic() - start
        except psycopg.Error as exc:
            message = " ".join(str(exc).split()) or type(exc).__name__
            waited = time.monotonic() - start
            if not _transient(message) or waited + delay > timeout:
                raise ServerUnavailable(
                    f"could not connect to PostgreSQL at {describe_server(url)}"
                    f"{f' within {timeout:g}s' if _transient(message) else ''}: {message}") from None
            if not told:
                (report or logger.warning)(
                    f"waiting up to {timeout:g}s for PostgreSQL at {describe_server(url)} ({message})")
                told = True
            time.sleep(delay)
            delay = min(delay * 2, MAX_DELAY)
