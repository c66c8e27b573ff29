"""Backups (``pg_dump -Fc``) with retention, and restores that never leave a half-restored target.

A backup is written under a temporary name, checked with ``pg_restore --list`` and only then
given its final timestamped name. A restore checks the archive, takes a safety backup of the
target, restores into a fresh database in one transaction and only then swaps it in place of
the target: a bad archive leaves the target untouched. ``verify_archive`` restores into a scratch
database and compares per-table row counts and checksums with the source.
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from ..errors import AuraError, ToolError
from .pgtools import (
    PgTool,
    create_database,
    database_exists,
    dbname_of,
    drop_database,
    find_tool,
    rename_database,
    server_major,
)

__all__ = ["TableCheck", "backup", "check_archive", "fingerprints", "restore", "verify_archive"]

logger = logging.getLogger(__name__)

_TABLES = """
SELECT format('%I.%I', n.nspname, c.relname),
       coalesce((SELECT string_agg(format('t.%I', a.attname), ', ' ORDER BY k.ord)
                 FROM pg_index i CROSS JOIN unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
                 JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
                 WHERE i.indrelid = c.oid AND i.indisprimary), 't::text')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg_toast%'
  AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                  AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1
"""


@dataclass(frozen=True, slots=True)
class TableCheck:
    """One table compared between a source database and a restored copy."""

    table: str
    source: tuple[int, str] | None  # (rows, md5) or None when missing
    restored: tuple[int, str] | None

    @property
    def ok(self) -> bool:
        return self.source == self.restored

    def line(self) -> str:
        def show(v: tuple[int, str] | None) -> str:
            return "missing" if v is None else f"{v[0]} rows md5 {v[1][:12]}"
        verdict = "ok" if self.ok else "DIFFERENT"
        return f"{self.table}: source {show(self.source)}, restored {show(self.restored)}: {verdict}"


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


def _prune(directory: Path, dbname: str, keep: int) -> list[Path]:
    ours = re.compile(rf"^{re.escape(dbname)}-\d{{8}}T\d{{12}}Z\.dump$")
    archives = sorted(p for p in directory.iterdir() if ours.match(p.name))
    doomed = archives[:-keep] if keep > 0 else archives
    for path in doomed:
        path.unlink()
        logger.info("removed old backup %s", path)
    return doomed


def backup(url: str, directory: Path, *, keep: int = 7, pg_bin: Path | None = None,
           label: str = "") -> tuple[Path, list[Path]]:
    """Dump the database at ``url`` into ``directory`` as ``<db>-<UTC time>.dump`` (custom
    format), check it lists cleanly, then keep only the newest ``keep``. Returns the archive
    and the old archives removed."""
    if keep < 1:
        raise AuraError(f"keep must be >= 1, got {keep!r}")
    pg_dump, pg_restore = _tools(url, pg_bin)
    directory.mkdir(parents=True, exist_ok=True)
    dbname = dbname_of(url)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    final = directory / f"{dbname}{label}-{stamp}Z.dump"
    partial = final.with_suffix(".partial")
    try:
        pg_dump.run(url, ["--format=custom", f"--file={partial}"])
        check_archive(partial, pg_restore)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.rename(final)
    logger.info("backed up %s to %s", dbname, final)
    return final, ([] if label else _prune(directory, dbname, keep))


def _restore_into(url: str, name: str, archive: Path, pg_restore: PgTool) -> str:
    target = make_conninfo(url, dbname=name)
    create_database(url, name)
    try:
        pg_restore.run(target, ["--single-transaction", "--exit-on-error", "--no-owner", str(archive)])
    except BaseException:
        drop_database(url, name)
        raise
    return target


def restore(url: str, archive: Path, *, backup_dir: Path, yes: bool = False,
            pg_bin: Path | None = None) -> Path | None:
    """Replace the database at ``url`` with the contents of ``archive``.

    Refuses without ``yes``. Checks the archive, backs the target up into ``backup_dir`` (the
    returned safety backup; None when the target did not exist), restores into a fresh database
    in one transaction, and only then drops the target and renames the fresh one in its place.
    """
    dbname = dbname_of(url)
    if not yes:
        raise AuraError(f"restoring replaces the database {dbname!r}: pass --yes to confirm")
    major = server_major(make_conninfo(url, dbname="postgres"))
    pg_restore = find_tool("pg_restore", major, pg_bin=pg_bin)
    check_archive(archive, pg_restore)
    safety = None
    if database_exists(url, dbname):
        safety, _ = backup(url, backup_dir, pg_bin=pg_bin, label="-pre-restore")
    fresh = f"{dbname[:40]}_restore_{uuid.uuid4().hex[:8]}"
    _restore_into(url, fresh, archive, pg_restore)
    drop_database(url, dbname)
    rename_database(url, fresh, dbname)
    logger.info("restored %s from %s (safety backup: %s)", dbname, archive, safety)
    return safety


def fingerprints(url: str) -> dict[str, tuple[int, str]]:
    """Per user table: (row count, md5 of every row's text in primary-key order)."""
    out: dict[str, tuple[int, str]] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        for table, order in conn.execute(_TABLES).fetchall():
            query = sql.SQL(
                "SELECT count(*), md5(coalesce(string_agg(t::text, E'\\n' ORDER BY {}), '')) FROM {} t"
            ).format(sql.SQL(order), sql.SQL(table))
            row: Any = conn.execute(query).fetchone()
            out[table] = (int(row[0]), str(row[1]))
    return out


def verify_archive(url: str, archive: Path, *, pg_bin: Path | None = None) -> list[TableCheck]:
    """Restore ``archive`` into a scratch database and compare every table with the database at
    ``url`` (row counts and checksums). The scratch database is always dropped."""
    pg_restore = find_tool("pg_restore", server_major(url), pg_bin=pg_bin)
    check_archive(archive, pg_restore)
    scratch = f"{dbname_of(url)[:40]}_verify_{uuid.uuid4().hex[:8]}"
    scratch_url = _restore_into(url, scratch, archive, pg_restore)
    try:
        source, restored = fingerprints(url), fingerprints(scratch_url)
    finally:
        drop_database(url, scratch)
    tables = sorted(set(source) | set(restored))
    return [TableCheck(t, source.get(t), restored.get(t)) for t in tables]
