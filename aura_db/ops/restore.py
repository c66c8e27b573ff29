"""Restores that never lose the target, and archive verification.

A restore checks the archive (readable; its recorded migrations against the tree's), refuses
while sessions are connected to the target unless forced, takes a safety backup of the target,
restores into a scratch database in one transaction and then swaps the two names **in one
transaction** (``ALTER DATABASE ... RENAME`` is transactional): at every instant the target name
holds either the complete old database or the complete new one, whatever is killed when. The old
database is dropped only after the swap committed. Restores and verifications of one database
are serialised by an advisory lock on the maintenance database, under which the databases left
by killed runs are cleaned up.

``verify_archive`` restores into a scratch database and compares per-table row counts and
checksums with the source.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from .._pgerrors import translate
from ..errors import AuraError
from ..migrations.files import load_migrations
from ..pooler import require_session
from ..progress import Progress, Tracker, check_progress
from .backup import TableCheck, archive_migrations, backup, check_archive, fingerprints
from .pgtools import (
    PgTool,
    Session,
    create_database,
    database_exists,
    databases_like,
    dbname_of,
    drop_database,
    find_tool,
    maintenance,
    server_major,
    sessions_on,
    terminate_sessions,
)

__all__ = ["LOCK_WAIT", "RestoreReport", "clean_leftovers", "restore", "verify_archive"]

logger = logging.getLogger(__name__)

# pg_try_advisory_lock(key1, hashtext(dbname)) on the maintenance database: 'aura' in ASCII
OPS_LOCK = 0x61757261
_SWAP_TRIES = 5
LOCK_WAIT = 15.0  # seconds to wait for another run's restore lock (a killed run's backend ends)
SWAP_LOCK_TIMEOUT = "30s"  # the swap never waits longer than this for a lock on a database


@dataclass(frozen=True, slots=True)
class RestoreReport:
    """What a restore did besides replacing the database."""

    safety: Path | None  # the safety backup of the previous database (None: there was none)
    disconnected: tuple[Session, ...] = ()  # sessions ended because of --force
    leftovers: tuple[str, ...] = ()  # databases of killed earlier runs, dropped first
    notes: tuple[str, ...] = field(default=())  # warnings worth showing (schema version)




# -- the lock, leftovers, scratch databases -------------------------------------------------------


def _stem(dbname: str) -> str:
    return dbname[:40]


def _scratch_name(dbname: str, kind: str) -> str:
    return f"{_stem(dbname)}_{kind}_{uuid.uuid4().hex[:8]}"


@contextmanager
def _exclusive(url: str, dbname: str) -> Iterator[psycopg.Connection[Any]]:
    """Serialise restores and verifications of ``dbname`` (advisory lock on the maintenance
    database, released when the connection ends, so a killed run never blocks the next)."""
    with maintenance(url) as conn:
        require_session(conn, url, "a restore or verification")
        deadline = time.monotonic() + LOCK_WAIT
        while True:
            row = conn.execute("SELECT pg_try_advisory_lock(%s, hashtext(%s))",
                               (OPS_LOCK, dbname)).fetchone()
            if row and row[0]:
                break
            if time.monotonic() >= deadline:
                raise AuraError(f"another restore or verification of database {dbname!r} is "
                                f"running (waited {LOCK_WAIT:g}s): wait for it to finish")
            time.sleep(0.1)
        yield conn


def clean_leftovers(url: str, dbname: str) -> list[str]:
    """Drop the scratch and side databases killed restores and verifications of ``dbname``
    left behind; returns their names. Call only under the restore lock."""
    names = databases_like(url, f"{re.escape(_stem(dbname))}_(restore|verify|old)_[0-9a-f]{{8}}")
    for name in names:
        logger.warning("dropping database %r left by a restore or verification that did not finish", name)
        drop_database(url, name)
    return names


_STEP = re.compile(r"^pg_restore: (creating|processing|executing|restoring|setting|launching) ")


def _restore_into(url: str, name: str, archive: Path, pg_restore: PgTool,
                  progress: Progress | None = None, entries: int | None = None) -> str:
    """Create ``name`` and restore ``archive`` into it in one transaction (dropped on failure);
    ``progress`` hears the archive's entries (tables, data, indexes...) as they are done."""
    target = make_conninfo(url, dbname=name)
    create_database(url, name)
    try:
        with Tracker(progress, f"restore {archive.name}", entries, "entries") as tracker:
            def on_line(line: str) -> None:
                if _STEP.match(line):
                    tracker.update(tracker.done + 1, phase=line.split(": ", 1)[1][:60])
            args = ["--single-transaction", "--exit-on-error", "--no-owner"]
            pg_restore.run(target, [*args, *(["--verbose"] if progress else []), str(archive)],
                           on_line=on_line if progress else None)
    except BaseException:
        drop_database(url, name)
        raise
    return target


def _refuse_sessions(dbname: str, sessions: Sequence[Session]) -> AuraError:
    shown = "; ".join(s.describe() for s in sessions[:5])
    more = f" and {len(sessions) - 5} more" if len(sessions) > 5 else ""
    return AuraError(
        f"{len(sessions)} session(s) are connected to database {dbname!r}: {shown}{more}: stop "
        f"them, or pass --force to disconnect them (restore replaces the database under them)")


# -- restore --------------------------------------------------------------------------------------


def _schema_notes(archive: Path, pg_restore: PgTool, directory: Path | None,
                  force: bool) -> tuple[str, ...]:
    recorded = archive_migrations(archive, pg_restore)
    if recorded is None:
        return (f"the archive {archive.name} records no aura-db migrations: it is not an aura-db "
                f"database, or was made before its first migration",)
    tree = [m.id for m in load_migrations(directory)]
    unknown = [mid for mid in recorded if mid not in tree]
    if unknown:
        text = (f"the archive {archive.name} records {len(unknown)} migration(s) this tree does not "
                f"have ({', '.join(unknown[:5])}): it was made by a newer or different aura-db")
        if not force:
            raise AuraError(f"{text}: restore it with that version, or pass --force")
        return (text,)
    behind = [mid for mid in tree if mid not in recorded]
    if behind:
        return (f"the archive is {len(behind)} migration(s) behind this tree (first missing: "
                f"{behind[0]}): run 'aura-db migrate' after the restore",)
    return ()


def restore(url: str, archive: Path, *, backup_dir: Path, yes: bool = False, force: bool = False,
            pg_bin: Path | None = None, directory: Path | None = None,
            progress: Progress | None = None) -> RestoreReport:
    """Replace the database at ``url`` with the contents of ``archive``; kill-safe.

    Refuses without ``yes``; refuses (unless ``force``) while other sessions are connected to
    the target and when the archive records migrations the tree (``directory``) does not have.
    Checks the archive, backs the target up into ``backup_dir``, restores into a scratch
    database in one transaction, swaps the names in one transaction, then drops the old
    database. Any failure before the swap commits leaves the target as it was. ``progress``
    hears the safety backup and the restore.
    """
    dbname = dbname_of(url)
    check_progress(progress, "restore")
    if not yes:
        raise AuraError(f"restoring replaces the database {dbname!r}: pass --yes to confirm")
    major = server_major(make_conninfo(url, dbname="postgres"))
    pg_restore = find_tool("pg_restore", major, pg_bin=pg_bin)
    entries = check_archive(archive, pg_restore)
    notes = _schema_notes(archive, pg_restore, directory, force)
    for note in notes:
        logger.warning("%s", note)
    with _exclusive(url, dbname) as conn:
        leftovers = clean_leftovers(url, dbname)
        exists = database_exists(url, dbname)
        sessions = sessions_on(url, dbname) if exists else []
        if sessions and not force:
            raise _refuse_sessions(dbname, sessions)
        safety = (backup(url, backup_dir, pg_bin=pg_bin, label="-pre-restore", progress=progress)[0]
                  if exists else None)
        fresh = _scratch_name(dbname, "restore")
        _restore_into(url, fresh, archive, pg_restore, progress, entries)
        try:
            side = _swap(conn, url, dbname, fresh, exists=exists, force=force)
        except BaseException:
            drop_database(url, fresh)
            raise
        disconnected = tuple(sessions)
        if side is not None:
            drop_database(url, side)
    logger.info("restored %s from %s (safety backup: %s)", dbname, archive, safety)
    return RestoreReport(safety, disconnected, tuple(leftovers), notes)


def _swap(conn: psycopg.Connection[Any], url: str, dbname: str, fresh: str, *, exists: bool,
          force: bool) -> str | None:
    """Rename ``dbname`` aside and ``fresh`` to ``dbname`` in ONE transaction; returns the side
    name (None when there was no target). Retries while sessions keep arriving."""
    side = _scratch_name(dbname, "old") if exists else None
    rename = "ALTER DATABASE {} RENAME TO {}"
    for attempt in range(1, _SWAP_TRIES + 1):
        try:
            if exists:
                others = sessions_on(url, dbname)
                if others and not force:
                    raise _refuse_sessions(dbname, others)
                terminate_sessions(conn, dbname)
            terminate_sessions(conn, fresh)  # nobody has business on our scratch database
            with conn.transaction():
                conn.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(SWAP_LOCK_TIMEOUT)))
                if side is not None:
                    conn.execute(sql.SQL(rename).format(sql.Identifier(dbname), sql.Identifier(side)))
                conn.execute(sql.SQL(rename).format(sql.Identifier(fresh), sql.Identifier(dbname)))
            return side
        except psycopg.errors.ObjectInUse as exc:
            if attempt == _SWAP_TRIES:
                raise AuraError(
                    f"could not put the restored database in place of {dbname!r}: sessions kept "
                    f"connecting ({exc.diag.message_primary}); the target is unchanged") from exc
            logger.warning("swap of %s: sessions reconnected; trying again", dbname)
            time.sleep(0.2 * attempt)
        except psycopg.Error as exc:
            raise translate(exc, "database") from exc
    raise AssertionError("unreachable")  # pragma: no cover




def verify_archive(url: str, archive: Path, *, pg_bin: Path | None = None,
                   progress: Progress | None = None) -> list[TableCheck]:
    """Restore ``archive`` into a scratch database and compare every table with the database at
    ``url`` (row counts and checksums). The scratch database is always dropped."""
    check_progress(progress, "restore")
    pg_restore = find_tool("pg_restore", server_major(url), pg_bin=pg_bin)
    entries = check_archive(archive, pg_restore)
    dbname = dbname_of(url)
    with _exclusive(url, dbname):
        clean_leftovers(url, dbname)
        scratch = _scratch_name(dbname, "verify")
        scratch_url = _restore_into(url, scratch, archive, pg_restore, progress, entries)
        try:
            source, restored = fingerprints(url), fingerprints(scratch_url)
        finally:
            drop_database(url, scratch)
    tables = sorted(set(source) | set(restored))
    return [TableCheck(t, source.get(t), restored.get(t)) for t in tables]

