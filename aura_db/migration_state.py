"""What the database says about migrations: yoyo's rows, our fingerprints and failure notes, and
the INVALID indexes a failed non-transactional migration left behind. Reads only."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import psycopg

if TYPE_CHECKING:
    from .migration_files import MigrationInfo

__all__ = ["FileRecord", "MigrationStatus", "State", "index_names", "invalid_indexes", "read_state"]

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
