"""Backups (``pg_dump -Fc``) with retention, and restores that never lose the target.

A backup is written under a temporary name that carries the writer's pid, checked with
``pg_restore --list`` and only then given its final timestamped name; the next backup removes
the temporary files of writers that died. Retention (``keep``) covers the regular backups and,
separately, the safety backups restore and rollback take.

A restore checks the archive (readable; its recorded migrations against the tree's), refuses
while sessions are connected to the target unless forced, takes a safety backup of the target,
restores into a scratch database in one transaction and then swaps the two names **in one
transaction** (``ALTER DATABASE ... RENAME`` is transactional): at every instant the target name
holds either the complete old database or the complete new one, whatever is killed when. The old
database is dropped only after the swap committed. Restores and verifications of one database
are serialised by an advisory lock on the maintenance database, under which the databases and
files left by killed runs are cleaned up.

``verify_archive`` restores into a scratch database and compares per-table row counts and
checksums with the source; the checksum is an order-independent sum of per-row hashes, so it
runs in constant memory at any table size.
"""

from __future__ import annotations

import logging
import os
import re
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from .._pgerrors import translate
from ..errors import AuraError, ToolError
from ..migrations.files import load_migrations
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

__all__ = [
    "FINGERPRINT",
    "BackupFile",
    "RestoreReport",
    "TableCheck",
    "archive_migrations",
    "backup",
    "check_archive",
    "clean_leftovers",
    "fingerprints",
    "list_backups",
    "restore",
    "verify_archive",
]

logger = logging.getLogger(__name__)

# pg_try_advisory_lock(key1, hashtext(dbname)) on the maintenance database: 'aura' in ASCII
OPS_LOCK = 0x61757261
_SWAP_TRIES = 5
LOCK_WAIT = 15.0  # seconds to wait for another run's restore lock (a killed run's backend ends)
SWAP_LOCK_TIMEOUT = "30s"  # the swap never waits longer than this for a lock on a database
_LABELS = ("", "-pre-restore", "-pre-rollback")

_TABLES = """
SELECT format('%I.%I', n.nspname, c.relname)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg_toast%'
  AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                  AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1
"""

# Row count and an order-independent checksum of every row's text: two 64-bit halves of each
# row's md5 summed as numeric. Constant memory (a plain aggregate: no sort, no string_agg, so
# no 1 GB value limit), and a changed, missing or extra row changes it.
FINGERPRINT = sql.SQL(
    "SELECT count(*), md5(coalesce(sum(('x' || left(h, 16))::bit(64)::bigint::numeric), 0)::text "
    "|| ':' || coalesce(sum(('x' || right(h, 16))::bit(64)::bigint::numeric), 0)::text) "
    "FROM (SELECT md5(t::text) AS h FROM {} t) AS rows"
)


@dataclass(frozen=True, slots=True)
class TableCheck:
    """One table compared between a source database and a restored copy."""

    table: str
    source: tuple[int, str] | None  # (rows, checksum) or None when missing
    restored: tuple[int, str] | None

    @property
    def ok(self) -> bool:
        return self.source == self.restored

    def line(self) -> str:
        def show(v: tuple[int, str] | None) -> str:
            return "missing" if v is None else f"{v[0]} rows md5 {v[1][:12]}"
        verdict = "ok" if self.ok else "DIFFERENT"
        return f"{self.table}: source {show(self.source)}, restored {show(self.restored)}: {verdict}"


@dataclass(frozen=True, slots=True)
class BackupFile:
    """One archive in a backup directory: what it is, when it was taken, its schema version."""

    path: Path
    database: str
    kind: str  # "backup", "pre-restore" or "pre-rollback"
    taken: datetime
    size: int
    migrations: tuple[str, ...] | None  # applied ids in order; None: no aura-db records

    @property
    def schema_version(self) -> str:
        if self.migrations is None:
            return "no aura-db migrations"
        if not self.migrations:
            return "no migration applied"
        return f"{len(self.migrations)} migration(s), last {self.migrations[-1]}"

    def line(self) -> str:
        return (f"{self.path.name}  {self.taken:%Y-%m-%d %H:%M:%S} UTC  {_size(self.size):>9}  "
                f"{self.kind:<12}  {self.schema_version}")


@dataclass(frozen=True, slots=True)
class RestoreReport:
    """What a restore did besides replacing the database."""

    safety: Path | None  # the safety backup of the previous database (None: there was none)
    disconnected: tuple[Session, ...] = ()  # sessions ended because of --force
    leftovers: tuple[str, ...] = ()  # databases of killed earlier runs, dropped first
    notes: tuple[str, ...] = field(default=())  # warnings worth showing (schema version)


def _size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} B"  # pragma: no cover


def _tools(url: str, pg_bin: Path | None) -> tuple[PgTool, PgTool]:
    major = server_major(url)
    return find_tool("pg_dump", major, pg_bin=pg_bin), find_tool("pg_restore", major, pg_bin=pg_bin)


def check_archive(archive: Path, pg_restore: PgTool) -> int:
    """The number of entries ``pg_restore --list`` reads from ``archive``; raises
    :class:`ToolError` naming the file when it cannot be read."""
    if not archive.is_file():
        raise ToolError(f"no backup archive at {str(archive)!r}")
    try:
        listing = pg_restore.run_local(["--list", str(archive)])
    except ToolError as exc:
        raise ToolError(f"the archive {str(archive)!r} is unreadable or damaged: {exc}") from None
    return sum(1 for line in listing.splitlines() if line and not line.startswith(";"))


def archive_migrations(archive: Path, pg_restore: PgTool) -> tuple[str, ...] | None:
    """The migration ids an archive's ``_yoyo_migration`` records, in the order applied; None
    when the archive holds no such table (not an aura-db database)."""
    text = pg_restore.run_local(["--data-only", "--table=_yoyo_migration", "--file=-", str(archive)])
    lines = iter(text.splitlines())
    for line in lines:
        header = re.match(r"^COPY \S*_yoyo_migration \((.*)\) FROM stdin;$", line)
        if header:
            columns = [c.strip().strip('"') for c in header.group(1).split(",")]
            break
    else:
        return None
    rows = []
    for line in lines:
        if line == "\\.":
            break
        values = dict(zip(columns, line.split("\t"), strict=False))
        rows.append((values.get("applied_at_utc", ""), values.get("migration_id", "")))
    return tuple(mid for _, mid in sorted(rows))


# -- backups --------------------------------------------------------------------------------------

_ARCHIVE = re.compile(r"^(?P<db>.+?)(?P<label>-pre-restore|-pre-rollback)?-(?P<stamp>\d{8}T\d{12})Z\.dump$")
_PARTIAL = re.compile(r"^.+Z\.dump\.(?P<pid>\d+)\.partial$")


def list_backups(directory: Path, dbname: str | None = None, *,
                 pg_restore: PgTool | None = None) -> list[BackupFile]:
    """The archives in ``directory`` (of database ``dbname``, or all), oldest first, with the
    schema version each records when ``pg_restore`` is given."""
    if not directory.is_dir():
        return []
    found = []
    for path in directory.iterdir():
        match = _ARCHIVE.match(path.name)
        if not match or (dbname is not None and match["db"] != dbname):
            continue
        taken = datetime.strptime(match["stamp"], "%Y%m%dT%H%M%S%f").replace(tzinfo=UTC)
        migrations = None
        if pg_restore is not None:
            try:
                migrations = archive_migrations(path, pg_restore)
            except ToolError:
                logger.warning("cannot read the migrations recorded in %s", path)
        found.append(BackupFile(path, match["db"], (match["label"] or "-backup")[1:], taken,
                                path.stat().st_size, migrations))
    return sorted(found, key=lambda b: (b.taken, b.path.name))


def _prune(directory: Path, dbname: str, keep: int, labels: Sequence[str]) -> list[Path]:
    doomed: list[Path] = []
    for label in labels:
        family = re.compile(rf"^{re.escape(dbname)}{re.escape(label)}-\d{{8}}T\d{{12}}Z\.dump$")
        archives = sorted(p for p in directory.iterdir() if family.match(p.name))
        doomed += archives[:-keep]
    for path in doomed:
        path.unlink()
        logger.info("removed old backup %s", path)
    return doomed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_dead_partials(directory: Path, dbname: str) -> list[Path]:
    removed = []
    for path in directory.glob(f"{glob_escape(dbname)}*.partial"):
        match = _PARTIAL.match(path.name)
        if match and _alive(int(match["pid"])) and int(match["pid"]) != os.getpid():
            continue  # another backup still writing
        path.unlink(missing_ok=True)
        removed.append(path)
        logger.warning("removed %s, left by a backup that did not finish", path)
    return removed


def glob_escape(text: str) -> str:
    """``text`` with glob metacharacters escaped."""
    return re.sub(r"([*?\[])", r"[\1]", text)


def backup(url: str, directory: Path, *, keep: int = 7, pg_bin: Path | None = None,
           label: str = "") -> tuple[Path, list[Path]]:
    """Dump the database at ``url`` into ``directory`` as ``<db><label>-<UTC time>.dump``
    (custom format), check it lists cleanly, then keep only the newest ``keep`` of each kind
    (a regular backup prunes the safety backups too; a safety backup, ``label``, prunes its own
    kind). Returns the archive and the old archives (and dead partial files) removed."""
    if keep < 1:
        raise AuraError(f"keep must be >= 1, got {keep!r}")
    if label not in _LABELS:
        raise AuraError(f"label must be one of {_LABELS!r}, got {label!r}")
    pg_dump, pg_restore = _tools(url, pg_bin)
    directory.mkdir(parents=True, exist_ok=True)
    dbname = dbname_of(url)
    removed = _remove_dead_partials(directory, dbname)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    final = directory / f"{dbname}{label}-{stamp}Z.dump"
    partial = final.with_name(f"{final.name}.{os.getpid()}.partial")
    try:
        pg_dump.run(url, ["--format=custom", f"--file={partial}"])
        check_archive(partial, pg_restore)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.rename(final)
    logger.info("backed up %s to %s", dbname, final)
    return final, removed + _prune(directory, dbname, keep, _LABELS if not label else (label,))


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


def _restore_into(url: str, name: str, archive: Path, pg_restore: PgTool) -> str:
    target = make_conninfo(url, dbname=name)
    create_database(url, name)
    try:
        pg_restore.run(target, ["--single-transaction", "--exit-on-error", "--no-owner", str(archive)])
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
            pg_bin: Path | None = None, directory: Path | None = None) -> RestoreReport:
    """Replace the database at ``url`` with the contents of ``archive``; kill-safe.

    Refuses without ``yes``; refuses (unless ``force``) while other sessions are connected to
    the target and when the archive records migrations the tree (``directory``) does not have.
    Checks the archive, backs the target up into ``backup_dir``, restores into a scratch
    database in one transaction, swaps the names in one transaction, then drops the old
    database. Any failure before the swap commits leaves the target as it was.
    """
    dbname = dbname_of(url)
    if not yes:
        raise AuraError(f"restoring replaces the database {dbname!r}: pass --yes to confirm")
    major = server_major(make_conninfo(url, dbname="postgres"))
    pg_restore = find_tool("pg_restore", major, pg_bin=pg_bin)
    check_archive(archive, pg_restore)
    notes = _schema_notes(archive, pg_restore, directory, force)
    for note in notes:
        logger.warning("%s", note)
    with _exclusive(url, dbname) as conn:
        leftovers = clean_leftovers(url, dbname)
        exists = database_exists(url, dbname)
        sessions = sessions_on(url, dbname) if exists else []
        if sessions and not force:
            raise _refuse_sessions(dbname, sessions)
        safety = backup(url, backup_dir, pg_bin=pg_bin, label="-pre-restore")[0] if exists else None
        fresh = _scratch_name(dbname, "restore")
        _restore_into(url, fresh, archive, pg_restore)
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


# -- verification ---------------------------------------------------------------------------------


def fingerprints(url: str) -> dict[str, tuple[int, str]]:
    """Per user table: (row count, order-independent checksum of every row's text)."""
    out: dict[str, tuple[int, str]] = {}
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            for (table,) in conn.execute(_TABLES).fetchall():
                row: Any = conn.execute(FINGERPRINT.format(sql.SQL(table))).fetchone()
                out[table] = (int(row[0]), str(row[1]))
    except psycopg.Error as exc:
        raise translate(exc, "database") from exc
    return out


def verify_archive(url: str, archive: Path, *, pg_bin: Path | None = None) -> list[TableCheck]:
    """Restore ``archive`` into a scratch database and compare every table with the database at
    ``url`` (row counts and checksums). The scratch database is always dropped."""
    pg_restore = find_tool("pg_restore", server_major(url), pg_bin=pg_bin)
    check_archive(archive, pg_restore)
    dbname = dbname_of(url)
    with _exclusive(url, dbname):
        clean_leftovers(url, dbname)
        scratch = _scratch_name(dbname, "verify")
        scratch_url = _restore_into(url, scratch, archive, pg_restore)
        try:
            source, restored = fingerprints(url), fingerprints(scratch_url)
        finally:
            drop_database(url, scratch)
    tables = sorted(set(source) | set(restored))
    return [TableCheck(t, source.get(t), restored.get(t)) for t in tables]
