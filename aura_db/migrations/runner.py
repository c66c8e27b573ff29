"""The migration runner: yoyo's file format and bookkeeping, driven through its Python API.

Migrations live in ``migrations/<module>/NNNN_name.sql`` with a ``NNNN_name.rollback.sql`` beside
each; ids (file names without ``.sql``) are unique across modules. yoyo reads the files, orders
them by ``-- depends:`` and owns its tables; on top of it this runner

- holds a session advisory lock for the whole run (:mod:`aura_db.migrations.lock`);
- runs each transactional migration and all of its bookkeeping in ONE transaction, and records a
  SHA-256 of the up and down files in ``aura_migration_files`` so edits, renames and deletions
  of applied files are caught (:func:`verify`) before anything runs;
- runs with a short ``lock_timeout`` and retries a migration that could not get its lock;
- cleans up the INVALID indexes a failed non-transactional migration leaves, then retries it.

What a run does is chosen in :mod:`.catalog` (pending migrations, module-aware rollbacks); the
session it runs in (locks, orphaned backends, bookkeeping tables) is :mod:`.session`.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from ..config import describe_server
from ..errors import MigrationDrift, MigrationError, PgvectorMissing
from . import plan as mp
from .catalog import Catalog, destroys_data, pending_ops, rollback_ops
from .files import MODULES, load_migrations
from .indexes import IndexDrift, search_index_drift
from .session import run_session
from .settings import MigrationSettings
from .state import Drift, HistoryEntry, MigrationStatus, find_drift, invalid_indexes, read_state

__all__ = [
    "Plan",
    "accept_renames",
    "history",
    "migrate",
    "pending_count",
    "plan",
    "plan_details",
    "rollback",
    "status",
    "verify",
]

logger = logging.getLogger(__name__)


def _check_pgvector(conn: psycopg.Connection[Any], url: str) -> None:
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


def _refuse_drift(drift: list[Drift], allow: bool, action: str = "migrate") -> None:
    if not drift:
        return
    text = "; ".join(d.message for d in drift)
    if allow:
        logger.warning("%s despite drift (--allow-drift): %s", action, text)
        return
    raise MigrationDrift(
        f"{len(drift)} applied migration file(s) changed: {text} "
        f"(run 'aura-db verify'; pass --allow-drift to {action} anyway)"
    )


def migrate(
    url: str, *, directory: Path | None = None, settings: MigrationSettings | None = None,
    target: str | None = None, allow_drift: bool = False,
) -> list[str]:
    """Apply pending migrations (all, or ``target`` and its dependencies) in dependency order.

    Verifies the applied files first. Returns the ids applied (empty when up to date). Raises
    :class:`MigrationDrift`, :class:`PgvectorMissing`, :class:`MigrationLockTimeout` or
    :class:`MigrationError` (a failed migration leaves nothing recorded).
    """
    settings = settings or MigrationSettings()
    catalog = Catalog(directory)
    with run_session(url, settings) as conn:
        state = read_state(conn)
        drift = find_drift(list(catalog.infos.values()), state)
        _refuse_drift(drift, allow_drift)
        ops = pending_ops(catalog, state, target, drift)
        if ops:
            _check_pgvector(conn, url)
        return _run_ops(conn, ops, settings, "apply")


def _apply(conn: psycopg.Connection[Any], op: mp.Operation, settings: MigrationSettings, who: str) -> None:
    for attempt in range(1, settings.retries + 1):
        if not op.transactional and op.direction == "apply":
            _drop_invalid_indexes(conn, op)
        logger.info("%s (try %d of %d)", op.title, attempt, settings.retries)
        try:
            ms = mp.execute(conn, op, who)
        except psycopg.errors.LockNotAvailable as exc:
            _note_failure(conn, op, who, exc)
            if attempt == settings.retries:
                raise MigrationError(
                    f"{_failed(op, exc)}; gave up after {attempt} tries: find what holds the lock "
                    f"(pg_locks, pg_stat_activity) or retry later with a longer --lock-timeout"
                ) from exc
            pause = settings.retry_backoff * 2 ** (attempt - 1)
            logger.warning("%s: lock_timeout expired; retrying in %.1fs", op.title, pause)
            time.sleep(pause)
        except psycopg.Error as exc:
            _note_failure(conn, op, who, exc)
            raise MigrationError(_failed(op, exc)) from exc
        else:
            logger.info("%s done in %d ms", op.title, ms)
            return


def _note_failure(conn: psycopg.Connection[Any], op: mp.Operation, who: str, exc: psycopg.Error) -> None:
    if op.transactional:
        return  # rolled back entirely: nothing to remember
    with contextlib.suppress(psycopg.Error):
        mp.record_failure(conn, op, who, _error_text(exc))


def _error_text(exc: psycopg.Error) -> str:
    diag = exc.diag
    where = f" at {diag.context.splitlines()[0]}" if diag.context else ""
    hint = f" (hint: {diag.message_hint})" if diag.message_hint else ""
    return f"{(diag.message_primary or str(exc)).strip()}{where}{hint}"


def _failed(op: mp.Operation, exc: psycopg.Error) -> str:
    undone = "rolled back, nothing recorded" if op.transactional else \
        "NON-transactional: statements before the failing one stay applied"
    return (f"{op.direction} of migration {op.migration_id!r} ({op.path}) failed ({undone}): "
            f"{_error_text(exc)}")


def _drop_invalid_indexes(conn: psycopg.Connection[Any], op: mp.Operation) -> None:
    for name in invalid_indexes(conn, op.statements):
        logger.warning("dropping INVALID index %s left by a failed run of %s", name, op.migration_id)
        conn.execute(sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(sql.SQL(name)))


def rollback(
    url: str, *, steps: int | None = None, target: str | None = None, module: str | None = None,
    cascade: bool = False, force: bool = False, directory: Path | None = None,
    settings: MigrationSettings | None = None, allow_drift: bool = False,
    before_destructive: Callable[[list[str]], object] | None = None,
) -> list[str]:
    """Roll back the last ``steps`` applied migrations (default 1), or every one applied after
    ``target``, of ``module`` (default: the target's module; with ``steps``, the newest
    migrations whatever their module); newest first. Returns their ids.

    Refuses, listing what it would undo, a rollback that spans several modules without one
    named, or that would leave applied migrations depending on what it removes, unless
    ``cascade`` (which undoes those dependents first). Refuses a migration without a rollback
    file unless ``force`` (which only unmarks it), and one whose up or down file changed since
    it was applied unless ``allow_drift``: its rollback would not undo what was applied.
    ``before_destructive(ids)`` is called, under the migration lock and before anything runs,
    when the rollback drops tables or columns or deletes rows (the CLI takes a safety backup).
    """
    settings = settings or MigrationSettings()
    catalog = Catalog(directory)
    with run_session(url, settings) as conn:
        state = read_state(conn)
        ops = rollback_ops(catalog, state, steps, target, force, module=module, cascade=cascade)
        # a missing rollback file has its own rule (--force) in _rollback_ops
        chosen = {op.migration_id for op in ops
                  if catalog.infos[op.migration_id].rollback_path is not None}
        drift = [d for d in find_drift(list(catalog.infos.values()), state) if d.migration_id in chosen]
        _refuse_drift(drift, allow_drift, "roll back")
        destructive = [op.migration_id for op in ops if destroys_data(op)]
        if destructive and before_destructive is not None:
            before_destructive(destructive)
        return _run_ops(conn, ops, settings, "rollback")


def _run_ops(conn: psycopg.Connection[Any], ops: list[mp.Operation], settings: MigrationSettings,
             verb: str) -> list[str]:
    """Run ``ops`` in order; a failure says what ran before it and what is left undone."""
    who = mp.applied_by()
    done: list[str] = []
    for op in ops:
        try:
            _apply(conn, op, settings, who)
        except MigrationError as exc:
            left = [o.migration_id for o in ops[len(done) + 1:]]
            exc.done = list(done)
            exc.left = [op.migration_id, *left]
            did, left_word = ("applied", "still pending") if verb == "apply" else \
                ("rolled back", "not rolled back")
            before = f"{did} before the failure: {', '.join(done) if done else 'nothing'}"
            after = f"; {left_word}: {', '.join(exc.left)}"
            exc.args = (f"{exc.args[0]} [{before}{after}]",)
            raise
        done.append(op.migration_id)
    return done


# -- read-only: status, verify, plan --------------------------------------------------------------


@contextmanager
def _reader(url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(url, autocommit=True, application_name="aura-db status") as conn:
        conn.read_only = True
        yield conn


def status(url: str, *, directory: Path | None = None, module: str | None = None) -> list[MigrationStatus]:
    """Every known migration (of ``module``, or all), applied ones first in the order applied,
    then pending ones.

    Reads only: no lock, no writes, works on a database yoyo has never touched.
    """
    if module is not None and module not in MODULES:
        raise MigrationError(f"no module {module!r}: the modules are {', '.join(MODULES)}")
    infos = {i.id: i for i in load_migrations(directory)}
    with _reader(url) as conn:
        state = read_state(conn)
        rows = [state.status_of(mid, infos.get(mid)) for mid in state.applied_order]
        rows += [state.status_of(i.id, i, conn) for i in infos.values() if i.id not in state.applied]
    return [r for r in rows if module is None or r.module == module]


def history(url: str, *, directory: Path | None = None, module: str | None = None,
            limit: int | None = None) -> list[HistoryEntry]:
    """Every apply and rollback recorded in yoyo's log (of ``module``, or all), oldest first;
    the newest ``limit`` when given. Reads only."""
    infos = {i.id: i.module for i in load_migrations(directory)}
    with _reader(url) as conn:
        if conn.execute("SELECT to_regclass('_yoyo_log')").fetchone() in (None, (None,)):
            return []
        modules = dict(infos)
        if conn.execute("SELECT to_regclass('aura_migration_files')").fetchone() not in (None, (None,)):
            modules |= {m: mod for m, mod in conn.execute(
                "SELECT migration_id, module FROM aura_migration_files").fetchall() if m not in infos}
        rows = conn.execute(
            'SELECT created_at_utc, operation, migration_id, coalesce(username, \'?\') || '
            "coalesce('@' || hostname, ''), coalesce(substring(comment FROM '^duration_ms=(\\d+)$'), '') "
            'FROM "_yoyo_log" WHERE migration_id IS NOT NULL ORDER BY created_at_utc, id').fetchall()
    entries = [HistoryEntry(at, op, mid, modules.get(mid, "?"), by, int(ms) if ms else None)
               for at, op, mid, by, ms in rows]
    entries = [e for e in entries if module is None or e.module == module]
    return entries[-limit:] if limit else entries


def pending_count(url: str, *, directory: Path | None = None) -> int:
    """How many migrations on disk are not applied to the database at ``url``."""
    return sum(1 for s in status(url, directory=directory) if s.pending)


def verify(url: str, *, directory: Path | None = None) -> list[Drift]:
    """Applied migrations whose files were edited, renamed or deleted since (reads only)."""
    infos = load_migrations(directory)
    with _reader(url) as conn:
        return find_drift(infos, read_state(conn))


def verify_indexes(url: str, *, directory: Path | None = None) -> list[IndexDrift]:
    """Search indexes of rag_chunks that differ from what the applied migrations made: missing,
    invalid, extra, or built with other parameters (reads only)."""
    infos = {i.id: i for i in load_migrations(directory)}
    with _reader(url) as conn:
        applied = [infos[mid] for mid in read_state(conn).applied_order if mid in infos]
        return search_index_drift(conn, applied)


def accept_renames(url: str, *, directory: Path | None = None,
                   settings: MigrationSettings | None = None) -> list[Drift]:
    """Record every renamed migration (same content, new id) under its new id, in one
    transaction under the migration lock, so the rename stops being drift; returns them.
    Edited or deleted files are left for the operator."""
    settings = settings or MigrationSettings()
    catalog = Catalog(directory)
    with run_session(url, settings) as conn:
        renames = [d for d in find_drift(list(catalog.infos.values()), read_state(conn))
                   if d.kind == "renamed" and d.new_id]
        with conn.transaction():
            for d in renames:
                assert d.new_id is not None
                new = catalog.infos[d.new_id]
                conn.execute('UPDATE "_yoyo_migration" SET migration_id = %s, migration_hash = %s '
                             "WHERE migration_id = %s", (new.id, mp.yoyo_hash(new.id), d.migration_id))
                conn.execute("UPDATE aura_migration_files SET migration_id = %s, module = %s "
                             "WHERE migration_id = %s", (new.id, new.module, d.migration_id))
                logger.info("recorded rename of %s to %s", d.migration_id, new.id)
        return renames


@dataclass(frozen=True, slots=True)
class Plan:
    """What ``migrate`` (or ``rollback``) would do now: the operations in order, and the psql
    script doing the same (``plan --json`` prints both)."""

    action: str  # "migrate --to X", "rollback --steps 2 --module developer"...
    server: str
    operations: tuple[mp.Operation, ...]
    script: str


def plan(
    url: str, *, directory: Path | None = None, settings: MigrationSettings | None = None,
    rollback_steps: int | None = None, target: str | None = None, force: bool = False,
    module: str | None = None, cascade: bool = False,
) -> str:
    """The psql script ``migrate`` (or ``rollback``, with ``rollback_steps`` of ``module``)
    would run now; "-- nothing to do" when nothing is pending. Runs nothing, writes nothing."""
    return plan_details(url, directory=directory, settings=settings, rollback_steps=rollback_steps,
                        target=target, force=force, module=module, cascade=cascade).script


def plan_details(
    url: str, *, directory: Path | None = None, settings: MigrationSettings | None = None,
    rollback_steps: int | None = None, target: str | None = None, force: bool = False,
    module: str | None = None, cascade: bool = False,
) -> Plan:
    """:func:`plan` with the operations themselves (ids, modules, directions, statements)."""
    settings = settings or MigrationSettings()
    catalog = Catalog(directory)
    with _reader(url) as conn:
        state = read_state(conn)
        if rollback_steps is not None:
            ops = rollback_ops(catalog, state, rollback_steps, None, force, module=module,
                                cascade=cascade)
            what = f"rollback --steps {rollback_steps}" + (f" --module {module}" if module else "")
        else:
            ops = pending_ops(catalog, state, target, find_drift(list(catalog.infos.values()), state))
            what = "migrate" + (f" --to {target}" if target else "")
        cleanup = {op.migration_id: invalid_indexes(conn, op.statements) for op in ops
                   if not op.transactional and op.direction == "apply"}
    header = f"aura-db plan: {what} on {describe_server(url)} at {datetime.now():%Y-%m-%d %H:%M:%S}"
    if not ops:
        nothing = "no migration to roll back" if rollback_steps else "no migration is pending"
        script = f"-- {header}\n-- nothing to do: {nothing}\n"
    else:
        script = mp.render_plan(
            ops, lock_timeout=settings.lock_timeout, statement_timeout=settings.statement_timeout,
            header=header, who=mp.applied_by(), cleanup=cleanup,
        )
    return Plan(action=what, server=describe_server(url), operations=tuple(ops), script=script)
