"""The migration runner: yoyo's file format and bookkeeping, driven through its Python API.

Migrations live in ``migrations/<module>/NNNN_name.sql`` with a ``NNNN_name.rollback.sql`` beside
each; ids (file names without ``.sql``) are unique across modules. A run holds a session
advisory lock on a dedicated connection for its whole length, so a killed process can never
leave a stale lock behind, and yoyo's own lock row is taken inside it so the plain ``yoyo`` CLI
stays safe to use by hand.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict
from yoyo import exceptions as yoyo_exceptions
from yoyo import read_migrations
from yoyo.backends.core.postgresql import PostgresqlPsycopgBackend
from yoyo.connections import parse_uri

from . import resources
from .errors import MigrationError, MigrationLockTimeout, PgvectorMissing

__all__ = [
    "LOCK_KEY",
    "MODULES",
    "MigrationInfo",
    "MigrationSettings",
    "MigrationStatus",
    "describe_server",
    "load_migrations",
    "migrate",
    "pending_count",
    "rollback",
    "status",
]

logger = logging.getLogger(__name__)

MODULES = ("foundation", "developer")
# pg_advisory_lock key for migration runs: 'auradb' in ASCII, then 1.
LOCK_KEY = 0x6175726164620001
MIGRATION_TABLE = "_yoyo_migration"


@dataclass(frozen=True, kw_only=True)
class MigrationSettings:
    """Session limits for migration runs (seconds)."""

    lock_wait: float = 60.0  # how long to wait for another run's migration lock
    lock_timeout: float = 5.0  # per-statement wait for a table lock (SET lock_timeout)
    statement_timeout: float = 600.0  # per-statement runtime limit (0 = none)
    application_name: str = "aura-db migrate"


@dataclass(frozen=True, slots=True)
class MigrationInfo:
    """One migration file pair as found on disk."""

    id: str
    module: str
    path: Path
    rollback_path: Path | None


@dataclass(frozen=True, slots=True)
class MigrationStatus:
    """A migration and whether (and when) it is applied."""

    id: str
    module: str
    applied_at: datetime | None

    @property
    def pending(self) -> bool:
        return self.applied_at is None


def describe_server(url: str) -> str:
    """``host:port/dbname`` of a conninfo, for messages (never the password)."""
    params = conninfo_to_dict(url)
    host = params.get("host") or "localhost"
    port = params.get("port") or "5432"
    return f"{host}:{port}/{params.get('dbname') or params.get('user') or '?'}"


def load_migrations(directory: Path | None = None) -> list[MigrationInfo]:
    """The migration files of every module, in module then file order.

    Raises :class:`MigrationError` for an id used twice across modules.
    """
    root = resources.migrations_dir() if directory is None else directory
    found: dict[str, MigrationInfo] = {}
    for module in MODULES:
        for path in sorted((root / module).glob("*.sql")):
            if path.name.endswith(".rollback.sql"):
                continue
            mid = path.name[: -len(".sql")]
            if mid in found:
                raise MigrationError(
                    f"migration id {mid!r} is used twice: {found[mid].path} and {path}"
                )
            rollback_path = path.with_name(f"{mid}.rollback.sql")
            found[mid] = MigrationInfo(
                id=mid, module=module, path=path,
                rollback_path=rollback_path if rollback_path.exists() else None,
            )
    return list(found.values())


def _backend_class(url: str, settings: MigrationSettings) -> type[PostgresqlPsycopgBackend]:
    options = (
        f"-c lock_timeout={int(settings.lock_timeout * 1000)} "
        f"-c statement_timeout={int(settings.statement_timeout * 1000)}"
    )

    class AuraBackend(PostgresqlPsycopgBackend):  # type: ignore[misc]
        """yoyo's psycopg 3 backend, connecting with our conninfo and session limits."""

        def connect(self, dburi: Any) -> psycopg.Connection[Any]:
            return psycopg.connect(
                url, autocommit=True, options=options, application_name=settings.application_name
            )

    return AuraBackend


@contextmanager
def _backend(url: str, settings: MigrationSettings) -> Iterator[Any]:
    backend = _backend_class(url, settings)(parse_uri("postgresql+psycopg:///aura"), MIGRATION_TABLE)
    try:
        backend.init_database()
        yield backend
    finally:
        backend.connection.close()


def _read(directory: Path | None) -> Any:
    root = resources.migrations_dir() if directory is None else directory
    load_migrations(root)  # our own checks first: clearer messages than yoyo's
    sources = [str(root / m) for m in MODULES if (root / m).is_dir()]
    try:
        return read_migrations(*sources)
    except yoyo_exceptions.MigrationConflict as exc:
        raise MigrationError(f"conflicting migration id {exc}") from exc


@contextmanager
def migration_lock(url: str, settings: MigrationSettings) -> Iterator[psycopg.Connection[Any]]:
    """Hold the migration advisory lock on a dedicated connection for the ``with`` block.

    Waits up to ``settings.lock_wait`` seconds, logging who holds it; then raises
    :class:`MigrationLockTimeout` naming the holder.
    """
    conn = psycopg.connect(url, autocommit=True, application_name=settings.application_name)
    try:
        deadline = time.monotonic() + settings.lock_wait
        delay = 0.05
        while not conn.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,)).fetchone()[0]:  # type: ignore[index]
            holder = _lock_holder(conn)
            if time.monotonic() >= deadline:
                raise MigrationLockTimeout(
                    f"another migration run holds the lock on {describe_server(url)}: {holder}; "
                    f"waited {settings.lock_wait:g}s"
                )
            logger.info("waiting for the migration lock held by %s", holder)
            time.sleep(delay)
            delay = min(delay * 2, 1.0)
        yield conn
    finally:
        conn.close()  # ends the session, which releases the advisory lock


def _lock_holder(conn: psycopg.Connection[Any]) -> str:
    row = conn.execute(
        """
        SELECT a.pid, a.application_name, a.backend_start
        FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'advisory' AND l.granted
          AND l.classid = (%(key)s >> 32)::oid AND l.objid = (%(key)s & 4294967295)::oid
        LIMIT 1
        """,
        {"key": LOCK_KEY},
    ).fetchone()
    if row is None:
        return "a process that has just released it"
    pid, app, since = row
    return f"pid {pid} ({app or 'no application_name'}) connected since {since:%Y-%m-%d %H:%M:%S%z}"


def _check_pgvector(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT current_setting('server_version'), "
            "(SELECT 1 FROM pg_available_extensions WHERE name = 'vector')"
        ).fetchone()
    assert row is not None
    version, available = row
    if available is None:
        major = str(version).split(".")[0]
        raise PgvectorMissing(
            f"the pgvector extension is not available on the server {describe_server(url)} "
            f"(PostgreSQL {version}): install it on that server (Debian/Ubuntu: "
            f"apt install postgresql-{major}-pgvector), or unset AURA_DATABASE_URL to use the "
            f"embedded server, which ships it"
        )


def migrate(
    url: str, *, directory: Path | None = None, settings: MigrationSettings | None = None
) -> list[str]:
    """Apply every pending migration in dependency order, under the migration lock.

    Returns the ids applied (empty when up to date). Raises :class:`PgvectorMissing`,
    :class:`MigrationLockTimeout` or :class:`MigrationError`.
    """
    settings = settings or MigrationSettings()
    migrations = _read(directory)
    with migration_lock(url, settings), _backend(url, settings) as backend, \
            _yoyo_lock(backend, settings):
        pending = backend.to_apply(migrations)
        if not pending:
            return []
        _check_pgvector(url)
        applied: list[str] = []
        for migration in pending:
            _run(backend, migration, "apply")
            applied.append(migration.id)
        return applied


def rollback(
    url: str, *, steps: int = 1, directory: Path | None = None,
    settings: MigrationSettings | None = None,
) -> list[str]:
    """Roll back the last ``steps`` applied migrations (newest first); return their ids."""
    if steps < 1:
        raise MigrationError(f"steps must be >= 1, got {steps!r}")
    settings = settings or MigrationSettings()
    migrations = _read(directory)
    with migration_lock(url, settings), _backend(url, settings) as backend, \
            _yoyo_lock(backend, settings):
        order = _applied_order(backend)
        by_id = {m.id: m for m in migrations}
        done: list[str] = []
        for mid in reversed(order[-steps:]):
            if mid not in by_id:
                raise MigrationError(f"applied migration {mid!r} has no file any more")
            _run(backend, by_id[mid], "rollback")
            done.append(mid)
        return done


@contextmanager
def _yoyo_lock(backend: Any, settings: MigrationSettings) -> Iterator[None]:
    try:
        with backend.lock(timeout=max(settings.lock_wait, 0.5)):
            yield
    except yoyo_exceptions.LockTimeout as exc:
        raise MigrationLockTimeout(f"{exc} (yoyo's lock row in yoyo_lock)") from exc


def _run(backend: Any, migration: Any, direction: str) -> None:
    logger.info("%s %s", "applying" if direction == "apply" else "rolling back", migration.id)
    try:
        if direction == "apply":
            backend.apply_one(migration)
        else:
            backend.rollback_one(migration)
    except psycopg.Error as exc:
        diag = exc.diag
        where = f" at {diag.context.splitlines()[0]}" if diag.context else ""
        raise MigrationError(
            f"{direction} of migration {migration.id!r} ({migration.path}) failed: "
            f"{(diag.message_primary or str(exc)).strip()}{where}"
            + (f" (hint: {diag.message_hint})" if diag.message_hint else "")
        ) from exc


def _applied_order(backend: Any) -> list[str]:
    rows = backend.execute(
        'SELECT migration_id FROM "_yoyo_migration" ORDER BY applied_at_utc, migration_id'
    ).fetchall()
    return [r[0] for r in rows]


def status(url: str, *, directory: Path | None = None) -> list[MigrationStatus]:
    """Every known migration with its apply time (None = pending). Reads only: no lock, no
    writes, works on a database yoyo has never touched."""
    infos = load_migrations(directory)
    applied = _applied_times(url)
    return [MigrationStatus(id=i.id, module=i.module, applied_at=applied.get(i.id)) for i in infos]


def pending_count(url: str, *, directory: Path | None = None) -> int:
    """How many migrations on disk are not applied to the database at ``url``."""
    return sum(1 for s in status(url, directory=directory) if s.pending)


def _applied_times(url: str) -> dict[str, datetime]:
    with psycopg.connect(url, autocommit=True) as conn:
        exists = conn.execute("SELECT to_regclass(%s)", (f'public."{MIGRATION_TABLE}"',)).fetchone()
        if not exists or exists[0] is None:
            return {}
        rows = conn.execute(
            "SELECT migration_id, applied_at_utc AT TIME ZONE 'UTC' FROM \"_yoyo_migration\""
        ).fetchall()
    return {mid: when for mid, when in rows}
