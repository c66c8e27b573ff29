"""Workload 9: the async API — aura-db's ``AsyncDatabase`` against raw psycopg async and asyncpg.

Every contender runs on one event loop (made here, driven by ``run_until_complete`` once per
batch, so the harness interleaves them round by round as it does the sync ones), through its
own pool of :data:`POOL` connections opened before timing:

- aura-db: ``AsyncDatabase`` (``psycopg_pool.AsyncConnectionPool`` underneath);
- raw psycopg: a plain ``psycopg_pool.AsyncConnectionPool``, aura-db's SQL written out by hand
  (``benchmarks/raw_sql.py``), tuple rows;
- asyncpg: ``asyncpg.create_pool``, the same SQL with ``$n`` placeholders (asyncpg prepares and
  caches every statement; its rows are ``Record`` s, its JSON stays text).

Cases: a point read and a list page in one transaction, a top-10 vector search (one call at a
time), and the throughput of 100 searches in flight at once on the pool of 10.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
import psycopg
from pgvector.asyncpg import register_vector as asyncpg_vector
from pgvector.psycopg import register_vector_async
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import AsyncConnectionPool

from aura_db import AsyncDatabase, Config

from .. import raw_sql
from ..data import embeddings, sample_story_ids
from ..env import Bench
from ..harness import Batch, Case, split
from ..rag import default_ef_search
from .common import AURA, PSYCOPG, check_same, ensure_stories, measure
from .reads import LIST_NULLS, LIST_STATUSES, PAGE, SAME_BACKEND, keyset
from .vectors import K, hnsw_settings, search_data

__all__ = ["ASYNCPG", "CONCURRENT", "POOL", "async_api"]

ASYNCPG = "asyncpg"
POOL = 10  # connections in every contender's pool
CONCURRENT = 100  # searches in flight at once in the throughput case


def async_api(bench: Bench) -> list[Case]:
    """The four async cases, every contender interleaved with the others on one event loop."""
    size = bench.size
    ensure_stories(bench, size.stories[-1])
    with bench.pool.connection() as conn:
        ids = sample_story_ids(conn, size.point_calls, seed=13)
    workspace, vectors, _ = search_data(bench)
    queries = list(embeddings(size.search_queries, seed=5151))
    route = bench.db.rag_chunks.explain_search(workspace, queries[0], K)
    loop = asyncio.new_event_loop()
    try:
        peers = loop.run_until_complete(_Peers.open(bench, route.path, route.ef_search))
        try:
            return _cases(bench, loop, peers, ids, workspace, queries, len(vectors), route.path)
        finally:
            loop.run_until_complete(peers.close())
    finally:
        loop.close()


def _cases(bench: Bench, loop: asyncio.AbstractEventLoop, peers: _Peers, ids: list[Any],
           workspace: str, queries: list[Any], chunks: int, path: str) -> list[Case]:
    size = bench.size

    def run(factory: AsyncBatch) -> Batch:
        return lambda items: loop.run_until_complete(factory(items))

    once = loop.run_until_complete
    points, pagers, searches = peers.point_ops(), peers.page_ops(), peers.search_ops()
    check_same("an async point read", {k: once(peers.first(k, op)(ids[0])) for k, op in points.items()})
    check_same("an async first page", {k: once(peers.first(k, op)(None))[1] for k, op in pagers.items()})
    check_same("an async search", {k: once(op(workspace, queries[0])) for k, op in searches.items()})

    point = Case("async", f"async point read, one transaction, {len(ids):,} calls", "call", notes=[
        f"stories table: {size.stories[-1]:,} rows; each call reads a different id; one "
        f"transaction per batch (aura-db: async with db.transaction(); psycopg: a pooled "
        f"connection's implicit transaction; asyncpg: conn.transaction())",
        f"aura-db and `{SAME_BACKEND}` share one connection (one server backend, as in the sync "
        "point read: placement moves a read by up to ±30% between connections); the goal is "
        "checked against it"])
    measure(point, {k: run(_in_transaction(peers, k, op)) for k, op in points.items()},
             split(ids, size.rounds), ids[: max(10, len(ids) // 20)])

    pages = list(range(size.pages))
    listing = Case("async", f"async list page of {PAGE}, {size.stories[-1]:,} stories, first "
                   f"{size.pages} pages of status in {LIST_STATUSES}", "page", notes=[
                       "each sample is one page, following the keyset cursor from the previous "
                       "one, in one transaction per walk"])
    measure(listing, {k: run(_in_transaction(peers, k, _walker(op))) for k, op in pagers.items()},
             [pages] * size.rounds, pages[: max(2, size.pages // 4)])

    where = (f"aura-db routed it to the {path} path; the peers send that path's statement "
             f"with its settings (given to their search pools' connections at startup)")
    one = Case("async", f"async top-{K} vector search of {chunks:,} x 768, one at a time", "query",
               notes=[where, "each search borrows a pooled connection and gives it back"])
    measure(one, {k: run(_each(_bound(op, workspace))) for k, op in searches.items()},
             split(queries, size.rounds), queries[: max(3, len(queries) // 20)])

    waves = [[queries[(w * CONCURRENT + i) % len(queries)] for i in range(CONCURRENT)]
             for w in range(max(3, size.rounds))]
    burst = Case("async", f"throughput: {CONCURRENT} concurrent top-{K} searches on a pool of {POOL}",
                 "query", notes=[where, f"each sample: the wall time of {CONCURRENT} searches "
                                 f"started at once (asyncio.gather) divided by {CONCURRENT}; "
                                 f"{POOL} connections per pool"])
    measure(burst, {k: run(_gathered(_bound(op, workspace))) for k, op in searches.items()},
             [[w] for w in waves], [waves[0]])
    return [point, listing, one, burst]


# -- per-call timing on the loop ------------------------------------------------------------------

Op = Callable[..., Awaitable[Any]]
AsyncBatch = Callable[[Sequence[Any]], Coroutine[Any, Any, list[float]]]


def _in_transaction(peers: _Peers, key: str, op: Op) -> AsyncBatch:
    """Every item of a batch through ``op(handle, item)``, inside one transaction of ``key``'s."""
    async def batch(items: Sequence[Any]) -> list[float]:
        async with peers.transaction(key) as handle:
            return await _per_call(items, lambda item: op(handle, item))
    return batch


def _bound(op: Callable[[Any, Any], Awaitable[Any]], workspace: Any) -> Callable[[Any], Awaitable[Any]]:
    """``op`` searching ``workspace``: ``query -> op(workspace, query)``."""
    return lambda query: op(workspace, query)


def _each(op: Callable[[Any], Awaitable[Any]]) -> AsyncBatch:
    async def batch(items: Sequence[Any]) -> list[float]:
        return await _per_call(items, op)
    return batch


def _gathered(op: Callable[[Any], Awaitable[Any]]) -> AsyncBatch:
    """One sample per wave: the wall time of all its items in flight at once, per item."""
    async def batch(waves: Sequence[Any]) -> list[float]:
        out = []
        for wave in waves:
            start = time.perf_counter()
            done = await asyncio.gather(*(op(q) for q in wave))
            out.append((time.perf_counter() - start) / len(wave))
            assert all(len(hits) == K for hits in done)
        return out
    return batch


async def _per_call(items: Sequence[Any], call: Callable[[Any], Awaitable[Any]]) -> list[float]:
    clock = time.perf_counter
    out: list[float] = []
    append = out.append
    for item in items:
        start = clock()
        await call(item)
        append(clock() - start)
    return out


def _walker(page: Op) -> Op:
    """Fetches the next page on each item (page 0 starts a new walk)."""
    after: list[Any] = [None]

    async def call(handle: Any, n: Any) -> object:
        after[0] = (await page(handle, None if n == 0 else after[0]))[0]
        return after[0]
    return call


# -- the contenders ------------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"%\((\w+)\)s|%s")


def dollar(query: str) -> tuple[str, list[str]]:
    """``query`` with psycopg's placeholders as asyncpg's ``$n``, and the parameter names in
    ``$n`` order (a named parameter used twice keeps its one number)."""
    names: list[str] = []

    def number(m: re.Match[str]) -> str:
        name = m.group(1) or f"_{len(names)}"
        if name not in names or not m.group(1):
            names.append(name)
        return f"${names.index(name) + 1}"
    return _PLACEHOLDER.sub(number, query).replace("%%", "%"), names


_GET_STORY, _ = dollar(raw_sql.GET_STORY)
_LIST_STORIES, _LIST_NAMES = dollar(raw_sql.LIST_STORIES)
_SEARCH, _SEARCH_NAMES = dollar(raw_sql.SEARCH_CHUNKS)


def _path_settings(path: str, ef: int | None) -> dict[str, str]:
    """The settings of aura-db's ``path`` for a peer that sends its statement, given to its
    search connections at startup."""
    if path == "hnsw":
        return hnsw_settings(ef or default_ef_search())
    return {"plan_cache_mode": "force_custom_plan", "enable_indexscan": "off",
            "enable_bitmapscan": "off", "enable_seqscan": "on", "enable_sort": "on"}


@dataclass
class _Peers:
    """Every contender's pools: the peers have one for reads and one for searches, whose
    connections start with the search path's settings (startup options: asyncpg's pool runs
    RESET ALL on every release, which keeps them)."""

    db: AsyncDatabase
    one: AsyncDatabase  # one connection: aura-db's point reads and pages, and SAME_BACKEND's
    pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]]
    search_pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]]
    apg: asyncpg.Pool
    search_apg: asyncpg.Pool
    stack: AsyncExitStack

    @classmethod
    async def open(cls, bench: Bench, path: str, ef: int | None) -> _Peers:
        settings = _path_settings(path, ef)
        options = " ".join(f"-c {k}={v}" for k, v in settings.items())
        stack = AsyncExitStack()
        config = Config(url=bench.url, min_size=POOL, max_size=POOL, connect_timeout=30)
        db = await stack.enter_async_context(AsyncDatabase(config, name="bench-async"))
        one = await stack.enter_async_context(AsyncDatabase(
            Config(url=bench.url, min_size=1, max_size=1, connect_timeout=30), name="bench-async-one"))

        async def psycopg_pool(kwargs: dict[str, Any]) -> AsyncConnectionPool[psycopg.AsyncConnection[Any]]:
            pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]] = AsyncConnectionPool(
                bench.url, min_size=POOL, max_size=POOL, configure=register_vector_async, open=False,
                kwargs=kwargs)
            await pool.open(wait=True, timeout=30)
            stack.push_async_callback(pool.close)
            return pool

        async def asyncpg_pool(server_settings: dict[str, str]) -> asyncpg.Pool:
            apg = await asyncpg.create_pool(min_size=POOL, max_size=POOL, init=asyncpg_vector,
                                            server_settings=server_settings, **_asyncpg_args(bench.url))
            stack.push_async_callback(apg.close)
            return apg

        return cls(db, one, await psycopg_pool({}), await psycopg_pool({"options": options}),
                   await asyncpg_pool({}), await asyncpg_pool(settings), stack)

    async def close(self) -> None:
        await self.stack.aclose()

    @asynccontextmanager
    async def transaction(self, key: str) -> AsyncIterator[Any]:
        if key.startswith(AURA):
            async with self.one.transaction() as tx:
                yield tx
        elif key.startswith(SAME_BACKEND):
            async with self.one.transaction() as tx, tx.conn.cursor() as cur:
                yield cur
        elif key.startswith(PSYCOPG):
            async with self.pool.connection() as conn, conn.cursor() as cur:
                yield cur
        else:
            async with self.apg.acquire() as conn, conn.transaction():
                yield conn

    def point_ops(self) -> dict[str, Op]:
        async def aura(tx: Any, i: Any) -> object:
            return (await tx.stories.get(i)).title

        async def raw(cur: Any, i: Any) -> object:
            await cur.execute(raw_sql.GET_STORY, (i,))
            row = await cur.fetchone()
            return row and row[1]

        async def apg(conn: Any, i: Any) -> object:
            row = await conn.fetchrow(_GET_STORY, i)
            return row and row[1]

        return {f"{AURA}: tx.stories.get": aura, SAME_BACKEND: raw, f"{PSYCOPG}: tuple rows": raw,
                f"{ASYNCPG}: conn.fetchrow": apg}

    def page_ops(self) -> dict[str, Op]:
        async def aura(tx: Any, after: Any) -> tuple[Any, Any]:
            page = await tx.stories.list(statuses=LIST_STATUSES, limit=PAGE, cursor=after)
            return page.next_cursor, page[0].id if page else None

        def params(after: Any) -> dict[str, Any]:
            return {"statuses": LIST_STATUSES, **LIST_NULLS, "after_created_at": after and after[0],
                    "after_id": after and after[1], "limit": PAGE + 1}

        async def raw(cur: Any, after: Any) -> tuple[Any, Any]:
            await cur.execute(raw_sql.LIST_STORIES, params(after))
            rows = await cur.fetchall()
            return keyset(rows, [d.name for d in cur.description].index("created_at"))

        async def apg(conn: Any, after: Any) -> tuple[Any, Any]:
            p = params(after)
            rows = await conn.fetch(_LIST_STORIES, *(p[n] for n in _LIST_NAMES))
            return keyset(rows, list(rows[0].keys()).index("created_at") if rows else 0)

        return {f"{AURA}: tx.stories.list": aura, SAME_BACKEND: raw, f"{PSYCOPG}: tuple rows": raw,
                f"{ASYNCPG}: conn.fetch": apg}

    def search_ops(self) -> dict[str, Callable[[str, Any], Awaitable[list[tuple[str, int]]]]]:
        db, pool, apg = self.db, self.search_pool, self.search_apg

        async def aura(workspace: str, q: Any) -> list[tuple[str, int]]:
            return [(h.content_id, h.chunk_index) for h in await db.rag_chunks.search(workspace, q, K)]

        def params(workspace: str, q: Any) -> dict[str, Any]:
            return {**raw_sql.NO_FILTERS, "embedding": q, "workspace_id": workspace, "limit": K}

        async def raw(workspace: str, q: Any) -> list[tuple[str, int]]:
            async with pool.connection() as conn:
                cur = await conn.execute(raw_sql.SEARCH_CHUNKS, params(workspace, q))
                return [(r[1], r[2]) for r in await cur.fetchall()]

        async def via_asyncpg(workspace: str, q: Any) -> list[tuple[str, int]]:
            p = params(workspace, q)
            rows = await apg.fetch(_SEARCH, *(p[n] for n in _SEARCH_NAMES))
            return [(r[1], r[2]) for r in rows]

        return {f"{AURA}: db.rag_chunks.search": aura, f"{PSYCOPG}: AsyncConnectionPool": raw,
                f"{ASYNCPG}: pool.fetch": via_asyncpg}

    def first(self, key: str, op: Op) -> Callable[[Any], Awaitable[Any]]:
        async def once(item: Any) -> Any:
            async with self.transaction(key) as handle:
                return await op(handle, item)
        return once


def _asyncpg_args(url: str) -> dict[str, Any]:
    """asyncpg's connect arguments for a libpq conninfo string or URL (it reads no conninfo)."""
    info = conninfo_to_dict(url)
    args: dict[str, Any] = {"host": info.get("host"), "database": info.get("dbname"),
                            "user": info.get("user"), "password": info.get("password")}
    if info.get("port"):
        args["port"] = int(str(info["port"]))
    return {k: v for k, v in args.items() if v is not None}

