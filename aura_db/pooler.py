"""Connection poolers between aura-db and the server (PgBouncer): telling them apart from the
server, and the work that needs a session of its own.

A transaction pooler lends a server connection for one transaction at a time, so session state
(advisory locks, ``SET``, ``LISTEN``, prepared statements) lands on a backend that other clients
use next. The application's connections work behind one with ``AURA_POOLER=transaction``
(:attr:`aura_db.Config.transaction_pooled`); migrations, backups and restores hold session
advisory locks and need the server itself (``AURA_MIGRATION_URL``): :func:`require_session`
refuses a pooler with a message that says so.

A pooler answers for the server, and the backend key it hands the client is its own: the pid
libpq got at connect differs from the backend's ``pg_backend_pid()``. Connected directly, the
two are the same.
"""

from __future__ import annotations

from typing import Any

import psycopg

from .config import describe_server
from .errors import ConfigError

__all__ = ["POOLER_HINT", "behind_pooler", "pooler_hint", "require_session"]

POOLER_HINT = (
    "this URL reaches a connection pooler (PgBouncer refuses the session defaults aura-db sends "
    "at connect): set AURA_POOLER=transaction (Config(pooler='transaction')) for the "
    "application, and point migrations and operator tools at the server itself "
    "(AURA_MIGRATION_URL)")


def pooler_hint(text: str) -> str:
    """``"; " + POOLER_HINT`` when a connect error's ``text`` is a pooler refusing startup
    parameters, else ``""``."""
    return f"; {POOLER_HINT}" if "unsupported startup parameter" in text else ""


def behind_pooler(conn: psycopg.Connection[Any]) -> bool:
    """Whether ``conn`` goes through a connection pooler (one round trip)."""
    row = conn.execute("SELECT pg_backend_pid()").fetchone()
    return row is not None and int(row[0]) != conn.info.backend_pid


def require_session(conn: psycopg.Connection[Any], url: str, what: str) -> None:
    """Raise :class:`ConfigError` when ``conn`` (opened on ``url``) goes through a connection
    pooler: ``what`` holds a session advisory lock, which a transaction pooler would leave on
    a backend other clients share."""
    if behind_pooler(conn):
        raise ConfigError(
            f"{what} needs a session of its own (it holds an advisory lock for the whole run), "
            f"but {describe_server(url)} is a connection pooler: point it at the PostgreSQL "
            f"server itself (AURA_MIGRATION_URL, or --url), not at PgBouncer")
