"""Workloads 2 and 7: single-row insert + commit, and mixed read/write from several threads."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy.orm import Session

from .. import raw_sql
from ..data import sample_story_ids
from ..env import POOL_SIZE, Bench
from ..harness import Batch, Case, each, split
from ..orm import Message, Story
from .common import AIOSQL, AURA, PSYCOPG, SQLALCHEMY, ensure_stories, measure

__all__ = ["concurrency", "insert"]

Op = Callable[[Any], object]


# -- 2. single-row insert + commit ----------------------------------------------------------------


def insert(bench: Bench) -> list[Case]:
    """Append a message to a conversation, one transaction (commit) per call."""
    n = bench.size.insert_calls
    contents = [f"message {i}: the agent looked at src/app.py and proposes a change" for i in range(n)]
    case = Case("insert", f"append one message + commit, {n:,} calls", "call",
                notes=["each call borrows a pooled connection, inserts one row with RETURNING, "
                       "commits", "the ORM inserts without aura-db's live-conversation check "
                       "(INSERT ... SELECT FROM conversations): its natural statement"])
    ops = _append_ops(bench)
    contenders: dict[str, Batch] = {k: each(op) for k, op in ops.items()}
    return [measure(case, contenders, split(contents, bench.size.rounds), contents[: max(10, n // 20)])]


def _append_ops(bench: Bench) -> dict[str, Op]:
    db, pool, aq = bench.db, bench.pool, bench.aq
    conv = {k: db.conversations.create(title=f"bench {k}").id for k in (AURA, PSYCOPG, "aura-pool",
                                                                      SQLALCHEMY, AIOSQL)}

    def raw(connection: Callable[[], Any], owner: Any) -> Op:
        def op(content: Any) -> object:
            with connection() as conn:
                return conn.execute(raw_sql.APPEND_MESSAGE, {
                    "conversation_id": owner, "role": "user", "content": content, "model": None,
                    "tokens_used": None}).fetchone()
        return op

    def aiosql_op(content: Any) -> object:
        with pool.connection() as conn:
            return aq.append_message(conn, conversation_id=conv[AIOSQL], role="user",
                                     content=content, model=None, tokens_used=None)

    def sa_op(content: Any) -> object:
        with Session(bench.engine) as s:
            message = Message(conversation_id=conv[SQLALCHEMY], role="user", content=content)
            s.add(message)
            s.commit()
            return message

    return {
        f"{AURA}: db.messages.append": lambda c: db.messages.append(conv[AURA], "user", c),
        f"{PSYCOPG}: plain pool": raw(pool.connection, conv[PSYCOPG]),
        f"{PSYCOPG}: aura-db's pool (check + reset)": raw(db.connection, conv["aura-pool"]),
        f"{SQLALCHEMY}: Session per call, add + commit": sa_op,
        f"{AIOSQL}: plain pool": aiosql_op,
    }


# -- 7. concurrency ------------------------------------------------------------------------------


def concurrency(bench: Bench) -> list[Case]:
    """Threads sharing each contender's pool (8 connections), 4 point reads for every insert;
    each sample is wall time / operations of one run."""
    size = bench.size
    ensure_stories(bench, size.stories[-1])
    with bench.pool.connection() as conn:
        ids = sample_story_ids(conn, size.ops_per_thread * max(size.threads))
    ops = _mixed_ops(bench)
    rounds = max(3, size.rounds // 4)
    cases = []
    for threads in size.threads:
        work = [_work(ids, threads, size.ops_per_thread)]
        case = Case("concurrency", f"{threads} thread{'s' * (threads > 1)}, "
                    f"{threads * size.ops_per_thread:,} operations a run", "op",
                    notes=[f"pools of {POOL_SIZE} connections; 80% point reads, 20% inserts, "
                           "a connection borrowed per operation"])
        contenders = {k: _threaded(op, threads) for k, op in ops.items()}
        cases.append(measure(case, contenders, work * rounds, work[0]))
    return cases


def _work(ids: list[Any], threads: int, per_thread: int) -> list[list[Any]]:
    return [ids[t * per_thread:(t + 1) * per_thread] for t in range(threads)]


def _threaded(op: Op, threads: int) -> Batch:
    def batch(work: Any) -> list[float]:
        start = threading.Barrier(threads + 1)

        def run(items: list[Any]) -> None:
            start.wait()
            for n, item in enumerate(items):
                op(("w", item) if n % 5 == 4 else ("r", item))

        with ThreadPoolExecutor(threads) as pool:
            futures = [pool.submit(run, items) for items in work]
            start.wait()
            began = time.perf_counter()
            for f in futures:
                f.result()
            elapsed = time.perf_counter() - began
        return [elapsed / sum(len(items) for items in work)]
    return batch


def _mixed_ops(bench: Bench) -> dict[str, Op]:
    appends = _append_ops(bench)
    keys = [k for k in appends if "check + reset" not in k]
    db, pool, aq = bench.db, bench.pool, bench.aq

    def raw_read(i: Any) -> object:
        with pool.connection() as conn:
            return conn.execute(raw_sql.GET_STORY, (i,)).fetchone()

    def aiosql_read(i: Any) -> object:
        with pool.connection() as conn:
            return aq.get_story(conn, id=i)

    def sa_read(i: Any) -> object:
        with Session(bench.engine) as s:
            return s.get(Story, i)

    reads: list[Op] = [db.stories.get, raw_read, sa_read, aiosql_read]
    return {f"{key.split(': ')[0]}: a connection borrowed per op": _mix(read, appends[key])
            for key, read in zip(keys, reads, strict=True)}


def _mix(read: Op, write: Op) -> Op:
    def op(item: tuple[str, Any]) -> object:
        kind, value = item
        return write(f"concurrent write after {value}") if kind == "w" else read(value)
    return op
