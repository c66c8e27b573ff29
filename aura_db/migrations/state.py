"""What the database says about migrations: yoyo's rows, our fingerprints and failure notes, and
the INVALID indexes a failed non-transactional migration left behind, and the applied migrations whose
files changed since (drift). Reads only."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg

from .files import SUPERSEDED, MigrationInfo

__all__ = ["Drift", "FileRecord", "MigrationStatus", "State", "find_drift", "index_names", "invalid_indexes",
           "read_state"]

_CREATE_INDEX = re.compile(
    r"\bCREATE\s+(?:UNIQUE\s+)?INDEX\s+(?:CONCURRENTLY\s+)?(?:IF\s+NOT\s+EXISTS\s+)?"
    r"((?:\"[^\"]+\"|\w+)(?:\.(?:\"[^\"]+\"|\w+))?)",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class FileRecord:
    """Our fingerprint row for one applied migration."""

    module: str
    up_sha256: str
    down_sha256: str | None
    applied_by: str
    duration_ms: int | None


@dataclass(frozen=True, slots=True)
class MigrationStatus:
    """A migration and whether (when, by whom, how fast) it is applied, or how it failed."""

    id: str
    module: str
    applied_at: datetime | None
    applied_by: str | None = None
    duration_ms: int | None = None
    failure: str | None = None  # a non-transactional migration that failed half-way
    invalid_indexes: tuple[str, ...] = ()
    missing_file: bool = False

    @property
    def pending(self) -> bool:
        return self.applied_at is None


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One apply or rollback as yoyo's log recorded it (what, when, by whom, how long)."""

    at: datetime  # UTC
    operation: str  # "apply" or "rollback" (or yoyo's "mark"/"unmark")
    migration_id: str
    module: str
    by: str
    duration_ms: int | None  # None: not recorded (non-transactional, or run by plain yoyo)


@dataclass
class State:
    """Applied migrations in the order applied, with our records about them."""

    applied: dict[str, datetime] = field(default_factory=dict)
    files: dict[str, FileRecord] = field(default_factory=dict)
    failures: dict[str, tuple[datetime, str]] = field(default_factory=dict)

    @property
    def applied_order(self) -> list[str]:
        return list(self.applied)

    def status_of(self, mid: str, info: MigrationInfo | None,
                  conn: psycopg.Connection[Any] | None = None) -> MigrationStatus:
        module = info.module if info else (self.files[mid].module if mid in self.files else "?")
        record = self.files.get(mid)
        failure = self.failures.get(mid)
        invalid = tuple(invalid_indexes(conn, info.up_statements())) if conn and info else ()
        return MigrationStatus(
            id=mid, module=module, applied_at=self.applied.get(mid),
            applied_by=record.applied_by if record else None,
            duration_ms=record.duration_ms if record else None,
            failure=f"failed at {failure[0]:%Y-%m-%d %H:%M:%S%z}: {failure[1]}" if failure else None,
            invalid_indexes=invalid, missing_file=info is None,
        )


def _exists(conn: psycopg.Connection[Any], table: str) -> bool:
    row = conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()
    return row is not None and row[0] is not None


def read_state(conn: psycopg.Connection[Any]) -> State:
    """The migration bookkeeping of the database on ``conn`` (empty where tables are missing)."""
    state = State()
    if not _exists(conn, 'public."_yoyo_migration"'):
        return state
    rows = conn.execute(
        'SELECT migration_id, applied_at_utc AT TIME ZONE \'UTC\' FROM "_yoyo_migration" '
        "ORDER BY applied_at_utc, migration_id"
    ).fetchall()
    state.applied = {mid: when for mid, when in rows}
    if _exists(conn, "aura_migration_files"):
        for mid, *rest in conn.execute(
            "SELECT migration_id, module, up_sha256, down_sha256, applied_by, duration_ms "
            "FROM aura_migration_files"
        ):
            state.files[mid] = FileRecord(*rest)
    if _exists(conn, "aura_migration_failures"):
        for mid, when, error in conn.execute(
            "SELECT migration_id, failed_at, error FROM aura_migration_failures"
        ):
            state.failures[mid] = (when, error)
    return state


def index_names(statements: Iterable[str]) -> list[str]:
    """Names of the indexes that ``CREATE INDEX`` statements create."""
    return [m.group(1) for s in statements for m in _CREATE_INDEX.finditer(s)]


def invalid_indexes(conn: psycopg.Connection[Any], statements: Iterable[str]) -> list[str]:
    """Those of the indexes ``statements`` create that exist and are INVALID (a failed
    CREATE INDEX CONCURRENTLY), as quoted names ready for DROP INDEX."""
    found = []
    for name in index_names(statements):
        row = conn.execute(
            "SELECT i.indexrelid::regclass::text FROM pg_index i "
            "WHERE i.indexrelid = to_regclass(%s) AND NOT i.indisvalid",
            (name,),
        ).fetchone()
        if row:
            found.append(str(row[0]))
    return found


@dataclass(frozen=True, slots=True)
class Drift:
    """An applied migration whose file changed: ``kind`` is edited, renamed or deleted."""

    kind: str
    migration_id: str
    message: str
    new_id: str | None = None  # for a rename: the id the same content now has


def find_drift(infos: list[MigrationInfo], state: State) -> list[Drift]:
    """Compare the applied migrations' recorded fingerprints with the files on disk."""
    by_id = {i.id: i for i in infos}
    unapplied_by_sha = {i.up_sha256: i for i in infos if i.id not in state.applied}
    drift: list[Drift] = []
    for mid in state.applied_order:
        record, info = state.files.get(mid), by_id.get(mid)
        if info is None:
            twin = unapplied_by_sha.get(record.up_sha256) if record else None
            if twin is not None:
                drift.append(Drift("renamed", mid, (
                    f"applied migration {mid!r} was renamed to {twin.id!r} ({twin.display}, same "
                    f"content): rename it back; it is not applied again"), new_id=twin.id))
            else:
                where = f"{record.module}/{mid}.sql" if record else f"{mid}.sql"
                drift.append(Drift("deleted", mid, (
                    f"the file of applied migration {mid!r} ({where}) was deleted: restore it from "
                    f"version control")))
        elif record is not None:
            drift.extend(_edits(info, record.up_sha256, record.down_sha256))
    return drift


def _edits(info: MigrationInfo, up: str, down: str | None) -> list[Drift]:
    out = []
    earlier = SUPERSEDED.get(info.id, frozenset())
    if info.up_sha256 != up and up not in earlier:
        out.append(Drift("edited", info.id, (
            f"applied migration {info.id!r} ({info.display}) was edited after it was applied "
            f"(sha256 {up[:12]} then, {info.up_sha256[:12]} now): revert the edit and put the "
            f"change in a new migration")))
    if info.down_sha256 != down and down not in earlier:
        name = f"{info.module}/{info.id}.rollback.sql"
        out.append(Drift("edited", info.id, (
            f"the rollback file of applied migration {info.id!r} ({name}) was "
            f"{'added' if down is None else 'deleted' if info.down_sha256 is None else 'edited'} "
            f"after it was applied: revert it, or roll back and re-apply with the new file")))
    return out
