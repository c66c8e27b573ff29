"""A migration run's session: the migration lock (advisory, then yoyo's row), a check that the
role may migrate, the ending of orphaned backends of killed runs, and the connection the
migrations run on, with yoyo's and aura-db's bookkeeping tables in place."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from yoyo.backends.core.postgresql import PostgresqlPsycopgBackend
from yoyo.connections import parse_uri

from .._pgerrors import translate
from ..errors import MigrationError, PermissionDenied
from . import plan as mp
from .lock import advisory_lock, break_stale_yoyo_locks, yoyo_lock
from .privileges import lock_bookkeeping
from .settings import MigrationSettings

__all__ = ["MIGRATION_TABLE", "ORPHAN_WAIT", "end_orphans", "run_session"]

logger = logging.getLogger(__name__)

MIGRATION_TABLE = "_yoyo_migration"


def _backend_class(url: str, settings: MigrationSettings) -> type[PostgresqlPsycopgBackend]:
    class AuraBackend(PostgresqlPsycopgBackend):  # type: ignore[misc]
        """yoyo's psycopg 3 backend, connecting with our conninfo and session limits."""

        def connect(self, dburi: Any) -> psycopg.Connection[Any]:
            return psycopg.connect(url, autocommit=True, options=settings.session_options(),
                                   application_name=settings.application_name)

    return AuraBackend


@contextmanager
def run_session(url: str, settings: MigrationSettings) -> Iterator[psycopg.Connection[Any]]:
    """The migration lock (advisory, then yoyo's row) and a connection to run migrations on.

    Backends of killed earlier runs still working (a CREATE INDEX CONCURRENTLY goes on after its
    client died) are ended first, under the lock, so the run never deadlocks with them. A
    psycopg error leaves as an AuraError.
    """
    try:
        with advisory_lock(url, wait=settings.lock_wait,
                           application_name=lock_application_name(settings)) as lock_conn:
            check_migrator(lock_conn)
            backend = _backend_class(url, settings)(parse_uri("postgresql+psycopg:///aura"), MIGRATION_TABLE)
            try:
                backend.init_database()
                break_stale_yoyo_locks(lock_conn)
                with yoyo_lock(backend, wait=settings.lock_wait):
                    backend.ensure_internal_schema_updated()
                    with psycopg.connect(url, autocommit=True, options=settings.session_options(),
                                         application_name=settings.application_name) as conn:
                        own = {lock_conn.info.backend_pid, conn.info.backend_pid,
                               backend.connection.info.backend_pid}
                        end_orphans(lock_conn, settings, own)
                        conn.execute(mp.AURA_DDL)
                        lock_bookkeeping(conn)
                        yield conn
                        lock_bookkeeping(conn)  # tables the migrations just made (0001's, 0013's)
            finally:
                backend.connection.close()
    except psycopg.Error as exc:
        raise translate(exc, "migrations") from exc


ORPHAN_WAIT = 30.0  # seconds an ended orphan backend gets to go away
NAMEDATALEN = 63  # the server keeps this many bytes of an application_name


def lock_application_name(settings: MigrationSettings) -> str:
    """The lock connection's name: never the work connections' one, so a run waiting for the
    lock (its connection busy asking who holds it) is never taken for an orphan."""
    return settings.application_name.encode()[:NAMEDATALEN - 7].decode(errors="ignore") + " (lock)"


def end_orphans(conn: psycopg.Connection[Any], settings: MigrationSettings, own: set[int]) -> list[int]:
    """End the still-working backends of killed migration runs (the work connections'
    application_name, not ours, not idle) and wait until they are gone; returns their pids.

    Call only while holding the migration lock: a live run opens its work connections only once
    it holds the lock, and waits on a connection named :func:`lock_application_name`, so every
    backend matched belongs to a run that is gone."""
    rows = conn.execute(
        "SELECT pid, left(regexp_replace(query, '\\s+', ' ', 'g'), 120) FROM pg_stat_activity "
        "WHERE datname = current_database() AND application_name = left(%s, 63) AND pid <> ALL(%s) "
        "AND backend_type = 'client backend' AND state <> 'idle' "
        "AND query !~* 'pg_(try_)?advisory_lock'",
        (settings.application_name, sorted(own))).fetchall()
    pids = [int(pid) for pid, _ in rows]
    for pid, query in rows:
        logger.warning("ending backend %s of a killed migration run, still running: %s", pid, query)
        conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
    deadline = time.monotonic() + ORPHAN_WAIT
    while pids and conn.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)",
                                (pids,)).fetchone() != (0,):
        if time.monotonic() >= deadline:
            raise MigrationError(f"backends {pids} of a killed migration run did not end within "
                                 f"{ORPHAN_WAIT:g}s: end them (pg_terminate_backend) and migrate again")
        time.sleep(0.05)
    return pids


def check_migrator(conn: psycopg.Connection[Any]) -> None:
    """Refuse, with the fix, a role that cannot run migrations (yoyo would report its failed
    lock-row INSERT as "Database locked")."""
    row = conn.execute(
        "SELECT current_user, current_database(), has_schema_privilege('public', 'CREATE'), "
        "coalesce(has_table_privilege(to_regclass('yoyo_lock'), 'INSERT'), true)").fetchone()
    assert row is not None
    user, database, may_create, may_lock = row
    if not (may_create and may_lock):
        raise PermissionDenied(
            f"role {user!r} may not run migrations on database {database!r} (it may not create in "
            f"schema public{'' if may_lock else ' nor write yoyo_lock'}): migrations run as the "
            f"owner: set AURA_MIGRATION_URL (or pass --url) to the owner's URL")
