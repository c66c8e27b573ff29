"""Workloads 1, 3 and 4: point reads, keyset-paginated listing, an aggregate with children."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from psycopg.rows import class_row
from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session, joinedload, selectinload

from aura_db import Config, Database
from aura_db.connection import AuraConnection
from aura_db.queries import default_catalog
from aura_db.repositories import StoryRow
from aura_db.repositories.stories import _row as story_row

from .. import raw_sql
from ..data import sample_story_ids, stories_with_steps
from ..env import Bench, MachineryOff
from ..harness import Batch, Case, per_call, split
from ..orm import Story, StoryStep
from .common import (
    AIOSQL,
    AURA,
    PSYCOPG,
    SQLALCHEMY,
    Hold,
    check_same,
    ensure_stories,
    in_aiosql_tx,
    in_aura_tx,
    in_psycopg_tx,
    in_session,
    measure,
    run_once,
)

__all__ = ["MACHINERY_DEFAULT", "MACHINERY_OFF", "SAME_BACKEND", "aggregate", "list_pages", "point_read"]

PAGE = 50
LIST_STATUSES = ["Executing", "Planned"]
MACHINERY_DEFAULT = f"{AURA}: db.stories.get, default (retries on, deadline on)"
MACHINERY_OFF = f"{AURA}: db.stories.get, machinery off"


# -- 1. point read -------------------------------------------------------------------------------


def point_read(bench: Bench) -> list[Case]:
    """Read one story by primary key, N times: inside one transaction, one pooled connection
    borrowed per call, and the latter with aura-db's retry and deadline machinery on and off."""
    size = bench.size
    ensure_stories(bench, size.stories[-1])
    with bench.pool.connection() as conn:
        ids = sample_story_ids(conn, size.point_calls)
    _check_point(bench, ids[0])
    batches, warmup = split(ids, size.rounds), ids[: max(10, len(ids) // 20)]
    in_tx = Case("point_read", f"one transaction, {len(ids):,} calls", "call",
                 notes=[f"stories table: {size.stories[-1]:,} rows; each call reads a different id"])
    pooled = Case("point_read", f"a pooled connection borrowed per call, {len(ids):,} calls", "call",
                  notes=["each call borrows a connection from its pool and gives it back (commit)"])
    in_tx.notes.append(
        f"aura-db and `{SAME_BACKEND}` run on one connection (a Database of one): the same server "
        "backend, whose placement by the scheduler moves a point read by up to ±30% from one "
        "connection to another on 2 cores (measured: identical code on five connections); the goal "
        "is checked against it. The other psycopg rows use connections of their own pool")
    with Database(Config(url=bench.url, min_size=1, max_size=1, connect_timeout=30)) as one:
        return [measure(in_tx, _point_in_tx(bench, one), batches, warmup),
                measure(pooled, _point_pooled(bench), batches, warmup),
                _point_machinery(bench)]


SAME_BACKEND = f"{PSYCOPG}: tuple rows, on aura-db's connection"


def _point_in_tx(bench: Bench, one: Database) -> dict[str, Batch]:
    q, query = bench.aq.get_story, default_catalog()["get_story"]

    def raw_on(db: Database) -> Batch:
        def batch(items: Sequence[Any]) -> list[float]:
            with db.transaction() as tx, tx.conn.cursor() as cur:
                return per_call(items, lambda i: cur.execute(raw_sql.GET_STORY, (i,)).fetchone())
        return batch

    def aura_on(db: Database, call: Callable[[Any, Any], object]) -> Batch:
        def batch(items: Sequence[Any]) -> list[float]:
            with db.transaction() as tx:
                return per_call(items, lambda i: call(tx, i))
        return batch

    return {
        f"{AURA}: tx.stories.get": aura_on(one, lambda tx, i: tx.stories.get(i)),
        f"{AURA}: Query.optional (the named-query layer alone)": aura_on(
            one, lambda tx, i: query.optional(tx.conn, story_row, id=i)),
        SAME_BACKEND: raw_on(one),
        f"{PSYCOPG}: tuple rows": in_psycopg_tx(
            bench, lambda cur, i: cur.execute(raw_sql.GET_STORY, (i,)).fetchone()),
        f"{PSYCOPG}: conn.execute (a cursor per call)": in_psycopg_tx(
            bench, lambda cur, i: cur.connection.execute(raw_sql.GET_STORY, (i,)).fetchone()),
        f"{PSYCOPG}: class_row(StoryRow)": in_psycopg_tx(
            bench, lambda cur, i: cur.execute(raw_sql.GET_STORY, (i,)).fetchone(), class_row(StoryRow)),
        f"{SQLALCHEMY}: session.get": in_session(bench, lambda s, i: s.get(Story, i)),
        f"{SQLALCHEMY}: select()": in_session(bench, _sa_select_story),
        f"{AIOSQL}: get_story": in_aiosql_tx(bench, lambda conn, i: q(conn, id=i)),
    }


def _sa_select_story(session: Session, story_id: Any) -> Story | None:
    stmt = select(Story).where(Story.id == story_id, Story.deleted_at.is_(None))
    return session.scalars(stmt).one_or_none()


def _point_pooled(bench: Bench) -> dict[str, Batch]:
    db, pool, q = bench.db, bench.pool, bench.aq.get_story

    def raw(connection: Callable[[], Any]) -> Callable[[Any], object]:
        def call(i: Any) -> object:
            with connection() as conn:
                return conn.execute(raw_sql.GET_STORY, (i,)).fetchone()
        return call

    def aiosql_call(i: Any) -> object:
        with pool.connection() as conn:
            return q(conn, id=i)

    def sa_call(i: Any) -> object:
        with Session(bench.engine) as s:
            return s.get(Story, i)

    return {
        f"{AURA}: db.stories.get": lambda items: per_call(items, db.stories.get),
        f"{PSYCOPG}: plain pool": lambda items: per_call(items, raw(pool.connection)),
        f"{PSYCOPG}: aura-db's pool (check + reset)": lambda items: per_call(items, raw(db.connection)),
        f"{SQLALCHEMY}: Session per call": lambda items: per_call(items, sa_call),
        f"{AIOSQL}: plain pool": lambda items: per_call(items, aiosql_call),
    }


def _point_machinery(bench: Bench) -> Case:
    """The pooled point read on two fresh Databases of the same configuration and pool size:
    aura-db's defaults, and the same with the retry policy and the deadline taken out. What
    they differ by is ~1 µs a call: more calls, cut into more (smaller) rounds than elsewhere."""
    size = bench.size
    with bench.pool.connection() as conn:
        ids = sample_story_ids(conn, size.machinery_calls, seed=11)
    batches, warmup = split(ids, size.machinery_rounds), ids[: max(10, len(ids) // 20)]
    case = Case("point_read_machinery", f"a pooled connection borrowed per call, {len(ids):,} calls",
                "call", notes=[
                    "default: Config's defaults, as the Database of the other cases: retry_attempts=3, "
                    "so every repository call runs through its RetryPolicy; every wait on the server "
                    "is AuraConnection.wait with the call deadline (statement_timeout + 2 s)",
                    "machinery off (benchmarks/env.py MachineryOff): retry_attempts=1 and no "
                    "RetryPolicy on the repositories (the decorator calls the method straight away), "
                    "call_deadline=0, plain psycopg.Connection (psycopg's own wait())",
                    f"both opened for this case only (default first); each call borrows a connection "
                    f"and gives it back; {len(batches)} interleaved rounds"])
    config = bench.db.config
    with Database(config, name="default") as default, MachineryOff(config) as off:
        _check_machinery(default, off, ids[0])
        contenders: dict[str, Batch] = {
            MACHINERY_DEFAULT: lambda items: per_call(items, default.stories.get),
            MACHINERY_OFF: lambda items: per_call(items, off.stories.get),
        }
        return measure(case, contenders, batches, warmup)


def _check_machinery(default: Database, off: Database, story_id: Any) -> None:
    """Both read the same row, and each has the machinery it is named for (or none of it)."""
    check_same("a point read, machinery on and off",
               {"default": default.stories.get(story_id), "off": off.stories.get(story_id)})
    assert default.stories._retry is not None and off.stories._retry is None
    with default._pool.borrowed(autocommit=True, raw=False, what="check") as conn:
        assert isinstance(conn, AuraConnection) and conn.deadline is not None
    with off._pool.borrowed(autocommit=True, raw=False, what="check") as conn:
        assert type(conn) is psycopg.Connection


def _check_point(bench: Bench, story_id: Any) -> None:
    with bench.pool.connection() as conn:
        raw = conn.execute(raw_sql.GET_STORY, (story_id,)).fetchone()
        via_aiosql = bench.aq.get_story(conn, id=story_id)
    with Session(bench.engine) as s:
        orm = s.get(Story, story_id)
    check_same("a point read", {
        AURA: bench.db.stories.get(story_id).title, PSYCOPG: raw and raw[1],
        SQLALCHEMY: orm and orm.title, AIOSQL: via_aiosql and via_aiosql[1]})


# -- 3. list with keyset pagination --------------------------------------------------------------


def list_pages(bench: Bench) -> list[Case]:
    """Walk the first pages of a filtered listing, 50 rows a page, following the keyset
    cursor, at each table size."""
    size = bench.size
    cases = []
    for count in size.stories:
        ensure_stories(bench, count)
        pagers = _pagers(bench)
        check_same("the first page", {k: run_once(bench, hold, pager, None)[1]  # type: ignore[index]
                                      for k, (hold, pager) in pagers.items()})
        pages = list(range(size.pages))
        case = Case("list", f"{count:,} stories, first {size.pages} pages of status in "
                    f"{LIST_STATUSES}", "page",
                    notes=[f"{PAGE} rows a page; each sample is one page, following the cursor "
                           f"from the previous one, in one transaction per walk"])
        walkers = {k: hold(bench, _walker(pager)) for k, (hold, pager) in pagers.items()}
        measure(case, walkers, [pages] * size.rounds, pages[: max(2, size.pages // 4)])
        cases.append(case)
    return cases


Pager = Callable[[Any, Any], tuple[Any, Any]]  # (handle, after) -> (next after, first id)


def _walker(pager: Pager) -> Callable[[Any, Any], object]:
    """A call that fetches the next page on each item: page 0 starts a new walk."""
    after: list[Any] = [None]

    def call(handle: Any, page: Any) -> object:
        after[0] = pager(handle, None if page == 0 else after[0])[0]
        return after[0]
    return call


def _pagers(bench: Bench) -> dict[str, tuple[Hold, Pager]]:
    return {
        f"{AURA}: tx.stories.list": (in_aura_tx, _aura_page),
        f"{PSYCOPG}: tuple rows": (in_psycopg_tx, _raw_page),
        f"{SQLALCHEMY}: select() + tuple_ keyset": (in_session, _sa_page),
        f"{AIOSQL}: list_stories": (in_aiosql_tx, lambda c, a: _aiosql_page(bench, c, a)),
    }


def _aura_page(tx: Any, after: Any) -> tuple[Any, Any]:
    page = tx.stories.list(statuses=LIST_STATUSES, limit=PAGE, cursor=after)
    return page.next_cursor, page[0].id if page else None


LIST_NULLS = {"repository_path": None, "created_from": None, "created_before": None,
               "title_like": None}


def keyset(rows: Sequence[Any], created_at: int) -> tuple[Any, Any]:
    """A page's next cursor (the last row's created_at and id, when there is a next page) and
    its first id, from the PAGE + 1 rows fetched for it."""
    more = len(rows) > PAGE
    last = rows[PAGE - 1] if more else None
    return ((last[created_at], last[0]) if last is not None else None), rows[0][0] if rows else None


def _raw_page(cur: Any, after: Any) -> tuple[Any, Any]:
    rows = cur.execute(raw_sql.LIST_STORIES, {
        "statuses": LIST_STATUSES, **LIST_NULLS, "after_created_at": after and after[0],
        "after_id": after and after[1], "limit": PAGE + 1}).fetchall()
    return keyset(rows, [d.name for d in cur.description].index("created_at"))


def _aiosql_page(bench: Bench, conn: Any, after: Any) -> tuple[Any, Any]:
    rows = list(bench.aq.list_stories(conn, statuses=LIST_STATUSES, **LIST_NULLS,
                                 after_created_at=after and after[0], after_id=after and after[1],
                                 limit=PAGE + 1))
    return keyset(rows, _CREATED_AT)


_CREATED_AT = [c.name for c in Story.__table__.columns].index("created_at")


def _sa_page(session: Session, after: Any) -> tuple[Any, Any]:
    stmt = select(Story).where(Story.deleted_at.is_(None), Story.status.in_(LIST_STATUSES))
    if after is not None:
        stmt = stmt.where(tuple_(Story.created_at, Story.id) < tuple_(*after))
    stmt = stmt.order_by(Story.created_at.desc(), Story.id.desc()).limit(PAGE + 1)
    rows = session.scalars(stmt).all()
    more = len(rows) > PAGE
    last = rows[PAGE - 1] if more else None
    return ((last.created_at, last.id) if last is not None else None), rows[0].id if rows else None


# -- 4. aggregate with children ------------------------------------------------------------------


def aggregate(bench: Bench) -> list[Case]:
    """Load a story with all its steps (and their tasks): one pipelined round trip, hand-written
    pipelines, ORM lazy loading (N+1), selectinload and joinedload."""
    size = bench.size
    cases = []
    for steps in size.agg_steps:
        with bench.pool.connection() as conn:
            ids = stories_with_steps(conn, size.agg_calls, steps)
        calls = _agg_calls(bench)
        check_same(f"a story with {steps} steps",
                   {k: run_once(bench, hold, call, ids[0]) for k, (hold, call) in calls.items()})
        case = Case("aggregate", f"story + {steps} steps, {len(ids):,} calls", "call",
                    notes=["one transaction per batch; every call loads a different story"])
        contenders = {k: hold(bench, call) for k, (hold, call) in calls.items()}
        measure(case, contenders, split(ids, bench.size.rounds), ids[: max(5, len(ids) // 20)])
        cases.append(case)
    return cases


def _agg_calls(bench: Bench) -> dict[str, tuple[Hold, Callable[[Any, Any], int]]]:
    aq = bench.aq
    return {
        f"{AURA}: tx.stories.get_with_steps (1 round trip)": (
            in_aura_tx, lambda tx, i: len(tx.stories.get_with_steps(i).steps)),
        f"{PSYCOPG}: 3 queries, pipelined": (in_psycopg_tx, _raw_aggregate),
        f"{SQLALCHEMY}: lazy loading (N+1)": (in_session, _sa_lazy),
        f"{SQLALCHEMY}: selectinload": (in_session, lambda s, i: _sa_loaded(s, i, selectinload)),
        f"{SQLALCHEMY}: joinedload": (in_session, lambda s, i: _sa_loaded(s, i, joinedload)),
        f"{AIOSQL}: 3 queries": (in_aiosql_tx, lambda c, i: _aiosql_aggregate(aq, c, i)),
    }


def _raw_aggregate(cur: Any, story_id: Any) -> int:
    conn = cur.connection
    params = {"story_id": story_id}
    with conn.pipeline():
        story = conn.execute(raw_sql.GET_STORY, (story_id,))
        steps = conn.execute(raw_sql.LIST_STEPS, {**params, "wave": None})
        tasks = conn.execute(raw_sql.LIST_TASKS, params)
    story.fetchone()
    step_rows, task_rows = steps.fetchall(), tasks.fetchall()
    by_step: dict[Any, list[Any]] = {}
    for task in task_rows:
        by_step.setdefault(task[1], []).append(task)
    return len([(s, by_step.get(s[0], [])) for s in step_rows])


def _sa_lazy(session: Session, story_id: Any) -> int:
    story = session.get(Story, story_id)
    assert story is not None
    return len([(step, step.tasks) for step in story.steps])


def _sa_loaded(session: Session, story_id: Any, loader: Any) -> int:
    stmt = select(Story).where(Story.id == story_id, Story.deleted_at.is_(None)).options(
        loader(Story.steps).options(loader(StoryStep.tasks)))
    story = session.scalars(stmt).unique().one()
    return len([(step, step.tasks) for step in story.steps])


def _aiosql_aggregate(aq: Any, conn: Any, story_id: Any) -> int:
    aq.get_story(conn, id=story_id)
    steps = aq.list_story_steps(conn, story_id=story_id, wave=None)
    tasks = aq.list_story_tasks_of_story(conn, story_id=story_id)
    by_step: dict[Any, list[Any]] = {}
    for task in tasks:
        by_step.setdefault(task[1], []).append(task)
    return len([(s, by_step.get(s[0], [])) for s in steps])
