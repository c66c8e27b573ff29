"""What a migration run executes, as data: one :class:`Operation` per migration and direction.

The runner executes exactly these statements and ``aura-db plan`` prints exactly these statements,
so what a DBA reviews is what runs. A transactional operation runs its statements and its
bookkeeping (yoyo's mark and log rows and our fingerprint row) in ONE transaction: the DDL and the
record that it happened commit together or not at all. A non-transactional one (``--
transactional: false``) runs each statement on its own, then records itself in a transaction.
"""

from __future__ import annotations

import getpass
import hashlib
import logging
import socket
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import psycopg
from psycopg import sql

__all__ = [
    "BOOKKEEPING_DDL",
    "BOOKKEEPING_TABLES",
    "Operation",
    "applied_by",
    "bookkeeping",
    "execute",
    "render_plan",
]

logger = logging.getLogger(__name__)

Direction = Literal["apply", "rollback"]

# Tables the runner owns (never created by a migration; left out of schema dumps).
BOOKKEEPING_TABLES = ("_yoyo_migration", "_yoyo_log", "_yoyo_version", "yoyo_lock",
                      "aura_migration_files", "aura_migration_failures")

# yoyo 9's own schema (internal version 2), so that a plan run through psql on an empty
# database leaves what yoyo's init would; our two tables follow.
_YOYO_DDL = """\
CREATE TABLE IF NOT EXISTS "_yoyo_migration" ("migration_hash" VARCHAR(64), "migration_id" VARCHAR(255),
    "applied_at_utc" TIMESTAMP, PRIMARY KEY ("migration_hash"));
CREATE TABLE IF NOT EXISTS "_yoyo_log" ("id" VARCHAR(36), "migration_hash" VARCHAR(64),
    "migration_id" VARCHAR(255), "operation" VARCHAR(10), "username" VARCHAR(255),
    "hostname" VARCHAR(255), "comment" VARCHAR(255), "created_at_utc" TIMESTAMP, PRIMARY KEY ("id"));
CREATE TABLE IF NOT EXISTS "_yoyo_version" ("version" INT NOT NULL PRIMARY KEY, "installed_at_utc" TIMESTAMP);
INSERT INTO "_yoyo_version" SELECT 2, now() AT TIME ZONE 'UTC' WHERE NOT EXISTS (SELECT FROM "_yoyo_version");
CREATE TABLE IF NOT EXISTS "yoyo_lock" ("locked" INT DEFAULT 1, "ctime" TIMESTAMP, "pid" INT NOT NULL,
    PRIMARY KEY ("locked"));
"""
AURA_DDL = """\
CREATE TABLE IF NOT EXISTS aura_migration_files (
    migration_id text PRIMARY KEY,
    module       text NOT NULL,
    up_sha256    text NOT NULL,
    down_sha256  text,
    applied_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    applied_by   text NOT NULL,
    duration_ms  integer
);
CREATE TABLE IF NOT EXISTS aura_migration_failures (
    migration_id text PRIMARY KEY,
    failed_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    failed_by    text NOT NULL,
    error        text NOT NULL
);
"""
BOOKKEEPING_DDL = _YOYO_DDL + AURA_DDL

# Elapsed time of the current transaction, for transactional operations.
_TX_DURATION = sql.SQL("(extract(epoch FROM clock_timestamp() - now()) * 1000)::integer")



def applied_by() -> str:
    """Who runs this: ``user@host``, recorded with every applied migration."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


@dataclass(frozen=True, slots=True)
class Operation:
    """One migration applied or rolled back: the statements of one file and its bookkeeping."""

    migration_id: str
    module: str
    direction: Direction
    transactional: bool
    path: Path | None  # the file whose statements run (None: rollback with no down file)
    statements: tuple[str, ...]
    up_sha256: str
    down_sha256: str | None

    @property
    def title(self) -> str:
        mode = "transactional" if self.transactional else "NON-transactional"
        return f"{self.direction} {self.module}/{self.migration_id} ({mode})"


def yoyo_hash(migration_id: str) -> str:
    # yoyo's "hash" is a hash of the id (yoyo.migrations.get_migration_hash)
    return hashlib.sha256(migration_id.encode("utf-8")).hexdigest()


def bookkeeping(op: Operation, who: str, duration: sql.Composable, *,
                operation: str | None = None) -> list[sql.Composed]:
    """The statements recording ``op``: yoyo's mark/unmark and log rows and our file row;
    ``operation`` is what the log says (default the direction; ``mark`` for a baseline)."""
    h, mid = sql.Literal(yoyo_hash(op.migration_id)), sql.Literal(op.migration_id)
    log = sql.SQL(
        'INSERT INTO "_yoyo_log" (id, migration_hash, migration_id, operation, username, hostname, '
        "comment, created_at_utc) VALUES (gen_random_uuid()::text, {}, {}, {}, {}, {}, "
        "'duration_ms=' || coalesce(({})::text, '?'), clock_timestamp() AT TIME ZONE 'UTC')"
    ).format(h, mid, sql.Literal(operation or op.direction), sql.Literal(who.split("@")[0]),
             sql.Literal(who.split("@")[-1]), duration)
    clear_failure = sql.SQL("DELETE FROM aura_migration_failures WHERE migration_id = {}").format(mid)
    if op.direction == "rollback":
        return [
            sql.SQL('DELETE FROM "_yoyo_migration" WHERE migration_hash = {}').format(h),
            log,
            sql.SQL("DELETE FROM aura_migration_files WHERE migration_id = {}").format(mid),
            clear_failure,
        ]
    return [
        sql.SQL('INSERT INTO "_yoyo_migration" (migration_hash, migration_id, applied_at_utc) '
                "VALUES ({}, {}, clock_timestamp() AT TIME ZONE 'UTC')").format(h, mid),
        log,
        sql.SQL(
            "INSERT INTO aura_migration_files (migration_id, module, up_sha256, down_sha256, "
            "applied_by, duration_ms) VALUES ({}, {}, {}, {}, {}, {})"
        ).format(mid, sql.Literal(op.module), sql.Literal(op.up_sha256),
                 sql.Literal(op.down_sha256), sql.Literal(who), duration),
        clear_failure,
    ]


def _terminated(statement: str) -> str:
    statement = statement.strip()
    return statement if statement.endswith(";") else statement + ";"


def render_plan(ops: Sequence[Operation], *, lock_timeout: float, statement_timeout: float,
                header: str, who: str, cleanup: Mapping[str, Sequence[str]] | None = None) -> str:
    """One psql script doing what the runner would do for ``ops``, in order; ``cleanup`` names
    the INVALID indexes a half-failed non-transactional migration left, which the runner drops
    before running it again."""
    lines = [
        f"-- {header}",
        f"-- {len(ops)} operation(s); generated by aura-db plan for {who}",
        "\\set ON_ERROR_STOP on",
        f"SET lock_timeout = '{int(lock_timeout * 1000)}ms';",
        f"SET statement_timeout = '{int(statement_timeout * 1000)}ms';",
        "",
        "-- bookkeeping tables (the runner creates them on first use; no-ops when present)",
        BOOKKEEPING_DDL,
    ]
    for n, op in enumerate(ops, 1):
        lines.append(f"-- [{n}/{len(ops)}] {op.title}")
        lines.append(f"-- file: {op.path or '(no rollback file: bookkeeping only)'}")
        record = [_terminated(s.as_string()) for s in bookkeeping(op, who, _duration_sql(op))]
        for name in (cleanup or {}).get(op.migration_id, ()):
            lines.append(f"DROP INDEX CONCURRENTLY IF EXISTS {name};  -- INVALID, left by a failed run")
        if op.transactional:
            lines += ["BEGIN;", *map(_terminated, op.statements), *record, "COMMIT;", ""]
        else:
            lines += [*map(_terminated, op.statements), "BEGIN;", *record, "COMMIT;", ""]
    return "\n".join(lines)


def _duration_sql(op: Operation) -> sql.Composable:
    return _TX_DURATION if op.transactional else sql.NULL


def execute(conn: psycopg.Connection[Any], op: Operation, who: str) -> int:
    """Run ``op`` on ``conn`` (autocommit mode) and return how long it took in milliseconds.

    A transactional operation either commits statements and bookkeeping together or leaves
    nothing behind; psycopg errors propagate unchanged for the caller to classify.
    """
    started = time.monotonic()
    if op.transactional:
        with conn.transaction():
            for statement in op.statements:
                conn.execute(statement)
            for record in bookkeeping(op, who, _TX_DURATION):
                conn.execute(record)
        return int((time.monotonic() - started) * 1000)
    for statement in op.statements:
        conn.execute(statement)
    elapsed = int((time.monotonic() - started) * 1000)
    with conn.transaction():
        for record in bookkeeping(op, who, sql.Literal(elapsed)):
            conn.execute(record)
    return elapsed


def record_failure(conn: psycopg.Connection[Any], op: Operation, who: str, error: str) -> None:
    """Remember that a non-transactional ``op`` failed half-way (shown by ``status``)."""
    conn.execute(
        "INSERT INTO aura_migration_failures (migration_id, failed_by, error) VALUES (%s, %s, %s) "
        "ON CONFLICT (migration_id) DO UPDATE SET failed_at = clock_timestamp(), "
        "failed_by = EXCLUDED.failed_by, error = EXCLUDED.error",
        (op.migration_id, who, error),
    )
