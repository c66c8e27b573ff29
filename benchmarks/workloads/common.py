"""What the workloads share: ways to hold a connection for a batch, data set-up, checks."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from psycopg.rows import tuple_row
from sqlalchemy.orm import Session

from ..data import load_stories
from ..env import Bench
from ..harness import Batch, Case, Row, Stats, interleave, per_call

__all__ = [
    "AIOSQL",
    "AURA",
    "PSYCOPG",
    "SQLALCHEMY",
    "Hold",
    "check_same",
    "ensure_stories",
    "in_aiosql_tx",
    "in_aura_tx",
    "in_psycopg_tx",
    "in_session",
    "measure",
    "run_once",
]

AURA, PSYCOPG, SQLALCHEMY, AIOSQL = "aura-db", "psycopg", "sqlalchemy-orm", "aiosql"


def in_aura_tx(bench: Bench, call: Callable[[Any, Any], object]) -> Batch:
    """A batch inside one ``db.transaction()``: ``call(tx, item)`` per item."""
    def batch(items: Sequence[Any]) -> list[float]:
        with bench.db.transaction() as tx:
            return per_call(items, lambda item: call(tx, item))
    return batch


def in_psycopg_tx(bench: Bench, call: Callable[[Any, Any], object], row_factory: Any = tuple_row) -> Batch:
    """A batch inside one transaction on a plain-pool connection: ``call(cursor, item)``."""
    def batch(items: Sequence[Any]) -> list[float]:
        with bench.pool.connection() as conn, conn.cursor(row_factory=row_factory) as cur:
            return per_call(items, lambda item: call(cur, item))
    return batch


def in_aiosql_tx(bench: Bench, call: Callable[[Any, Any], object]) -> Batch:
    """A batch inside one transaction on a plain-pool connection: ``call(conn, item)``."""
    def batch(items: Sequence[Any]) -> list[float]:
        with bench.pool.connection() as conn:
            return per_call(items, lambda item: call(conn, item))
    return batch


def in_session(bench: Bench, call: Callable[[Session, Any], object]) -> Batch:
    """A batch inside one ORM session and transaction: ``call(session, item)``."""
    def batch(items: Sequence[Any]) -> list[float]:
        with Session(bench.engine) as session, session.begin():
            return per_call(items, lambda item: call(session, item))
    return batch


Hold = Callable[[Bench, Callable[[Any, Any], object]], Batch]


def run_once(bench: Bench, hold: Hold, call: Callable[[Any, Any], object], item: Any) -> object:
    """``call``'s result on one item, run the way ``hold`` runs a batch (to check answers)."""
    out: list[object] = []
    hold(bench, lambda handle, i: out.append(call(handle, i)))([item])
    return out[0]


def measure(case: Case, contenders: Mapping[str, Batch], batches: Sequence[Sequence[Any]],
            warmup: Sequence[Any]) -> Case:
    """Interleave ``contenders`` (keyed ``"contender: variant"``) and add one row each."""
    samples = interleave(contenders, batches, warmup)
    for key, values in samples.items():
        contender, _, variant = key.partition(": ")
        case.rows.append(Row(contender, variant, Stats.of(values)))
    return case


def check_same(what: str, results: Mapping[str, object]) -> None:
    """Every contender must have produced the same answer (same SQL, same data)."""
    distinct = {repr(v) for v in results.values()}
    if len(distinct) > 1:
        raise AssertionError(f"contenders disagree on {what}: {dict(results)!r}")


def ensure_stories(bench: Bench, count: int) -> None:
    """Grow the generated stories (``/src/repo-*``) to ``count``."""
    with bench.pool.connection() as conn:
        have = conn.execute(
            "SELECT count(*) FROM stories WHERE repository_path LIKE '/src/repo-%'").fetchone()
        current = int(have[0]) if have else 0
        if current < count:
            load_stories(conn, count - current, first=current)
    if current < count:
        with bench.pool.connection() as conn:
            conn.autocommit = True
            conn.execute("VACUUM ANALYZE stories")
