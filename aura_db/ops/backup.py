"""Backups (``pg_dump -Fc``) with retention, listing, archive inspection and table checksums.

A backup is written under a temporary name that carries the writer's pid, checked with
``pg_restore --list`` and only then given its final timestamped name; the next backup removes
the temporary files of writers that died. Retention (``keep``) covers the regular backups and,
separately, the safety backups restore and rollback take. ``fingerprints`` gives per-table row
counts and an order-independent sum of per-row hashes, so it runs in constant memory at any
table size. Restores and archive verification are in :mod:`aura_db.ops.restore`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from .._pgerrors import translate
from ..errors import AuraError, ToolError
from ..progress import Progress, Tracker, check_progress
from .pgtools import (
    PgTool,
    dbname_of,
    find_tool,
    server_major,
)

__all__ = [
    "FINGERPRINT",
    "BackupFile",
    "TableCheck",
    "archive_migrations",
    "backup",
    "check_archive",
    "fingerprints",
    "list_backups",
]

logger = logging.getLogger(__name__)

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
           label: str = "", progress: Progress | None = None) -> tuple[Path, list[Path]]:
    """Dump the database at ``url`` into ``directory`` as ``<db><label>-<UTC time>.dump``
    (custom format), check it lists cleanly, then keep only the newest ``keep`` of each kind
    (a regular backup prunes the safety backups too; a safety backup, ``label``, prunes its own
    kind). Returns the archive and the old archives (and dead partial files) removed.
    ``progress`` hears the MB of table data dumped (by the tables' on-disk sizes)."""
    if keep < 1:
        raise AuraError(f"keep must be >= 1, got {keep!r}")
    check_progress(progress, "backup")
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
        with _dump_progress(url, dbname, progress) as (on_line, dump_url):
            pg_dump.run(dump_url, ["--format=custom", *(["--verbose"] if on_line else []),
                                   f"--file={partial}"], on_line=on_line)
        check_archive(partial, pg_restore)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.rename(final)
    logger.info("backed up %s to %s", dbname, final)
    return final, removed + _prune(directory, dbname, keep, _LABELS if not label else (label,))


_MB = 1 << 20
_TABLE_SIZES = """
SELECT n.nspname, c.relname, pg_table_size(c.oid), c.reltuples::bigint
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
"""
# the rows pg_dump's COPY of the current table has sent (PostgreSQL 14+)
_COPY_PROGRESS = """
SELECT p.tuples_processed FROM pg_stat_progress_copy p JOIN pg_stat_activity a ON a.pid = p.pid
WHERE a.application_name = %s
"""
_DUMPING = re.compile(r'dumping contents of table "?([^"]+)"?$')


@dataclass(frozen=True, slots=True)
class _Table:
    size: int  # bytes on disk
    rows: int  # estimated (reltuples), counted when never analyzed


def _tables(conn: psycopg.Connection[Any]) -> dict[str, _Table]:
    out = {}
    for schema, name, size, reltuples in conn.execute(_TABLE_SIZES).fetchall():
        rows = int(reltuples)
        if rows < 0 and size > 8 * _MB:  # never analyzed (a fresh bulk load): count it
            counted = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(
                sql.Identifier(schema, name))).fetchone()
            rows = int(counted[0]) if counted else 0
        out[f"{schema}.{name}"] = _Table(int(size), max(rows, 0))  # as pg_dump --verbose names it
    return out


@contextmanager
def _dump_progress(url: str, dbname: str, progress: Progress | None
                   ) -> Iterator[tuple[Callable[[str], None] | None, str]]:
    """(the ``on_line`` of a pg_dump --verbose, the URL pg_dump connects with) reporting to
    ``progress`` the MB of table data dumped: finished tables by their size on disk, the
    current one by the rows its COPY has sent (pg_stat_progress_copy, polled twice a second)."""
    if progress is None:
        yield None, url
        return
    app = f"aura-db backup {os.getpid()}-{uuid.uuid4().hex[:6]}"
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            tables = _tables(conn)
    except psycopg.Error as exc:
        raise translate(exc, "database") from exc
    total = max(1, -(-sum(t.size for t in tables.values()) // _MB))
    finished, current = 0, ""
    stop = threading.Event()
    with Tracker(progress, f"backup {dbname}", total, "MB") as tracker:
        def report(sent: int = 0) -> None:
            table = tables.get(current)
            part = table.size * min(1.0, sent / table.rows) if table and table.rows else 0
            tracker.update(min(total, int((finished + part) // _MB)), phase=current or None)

        def on_line(line: str) -> None:
            nonlocal finished, current
            if m := _DUMPING.search(line):
                finished += tables[current].size if current in tables else 0
                current = m.group(1)
                report()

        def poll() -> None:
            with contextlib.suppress(psycopg.Error), psycopg.connect(url, autocommit=True) as conn:
                while not stop.wait(0.5):
                    row = conn.execute(_COPY_PROGRESS, (app,)).fetchone()
                    if row is not None and current:
                        report(int(row[0]))

        watcher = threading.Thread(target=poll, name="aura-db backup progress", daemon=True)
        watcher.start()
        try:
            yield on_line, make_conninfo(url, application_name=app)
        finally:
            stop.set()
            watcher.join(timeout=5)


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

