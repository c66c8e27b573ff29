"""The async flavour's own guarantees: the twin API, concurrency on a small pool, cancellation
safety with row accounting, and one server shared by sync and async users at once.

The repository suites run against both flavours through tests/async_bridge.py; these tests run
natively on an event loop (``asyncio.run`` per test), as an application would.
"""

from __future__ import annotations

import asyncio
import inspect
import random
import threading
from typing import Any

import psycopg
import pytest

import aura_db.repositories as repos
from aura_db import AsyncDatabase, AsyncTransaction, Config, Database, Transaction
from aura_db.errors import AuraError, NotFound


def _pairs() -> list[tuple[type, type]]:
    pairs: list[tuple[type, type]] = [(Database, AsyncDatabase), (Transaction, AsyncTransaction)]
    for name in repos.__all__:
        twin = getattr(repos, "Async" + name, None)
        if twin is not None and inspect.isclass(twin):
            pairs.append((getattr(repos, name), twin))
    return pairs


def _public(cls: type) -> dict[str, Any]:
    return {n: m for n, m in inspect.getmembers(cls) if not n.startswith("_") and callable(m)}


def _params(fn: Any) -> list[tuple[str, Any, Any]]:
    return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]


def test_every_public_sync_method_has_an_async_twin_with_the_same_signature() -> None:
    pairs = _pairs()
    names = {sync.__name__ for sync, _ in pairs}
    assert {"StoriesRepository", "RagChunksRepository", "CodeGraphRepository",
            "WorkspacesRepository", "ConversationsRepository"} <= names, names
    for sync, twin in pairs:
        sync_methods, async_methods = _public(sync), _public(twin)
        assert set(sync_methods) == set(async_methods), (sync.__name__, set(sync_methods) ^ set(async_methods))
        for name, method in sync_methods.items():
            assert _params(method) == _params(async_methods[name]), f"{sync.__name__}.{name}"
    # every repository a Database hands out, an AsyncDatabase hands out too
    def public(cls: type) -> set[str]:
        return {n for n in dir(cls) if not n.startswith("_")}

    assert "stories" in public(repos.RepositoryAccess)
    assert public(repos.RepositoryAccess) == public(repos.AsyncRepositoryAccess)


def test_connect_as_an_async_context_manager(app_url: str) -> None:
    async def main() -> None:
        async with AsyncDatabase.connect(app_url) as db:
            story = await db.stories.create("async story", repository_path="/r")
            assert (await db.stories.get(story.id)).title == "async story"
            async with db.transaction(actor="agent-1") as tx:
                updated = await tx.stories.update(story.id, version=story.version, title="renamed")
                assert updated.updated_by == "agent-1"
                async with tx.savepoint() as sp:
                    await sp.stories.create("kept in the savepoint")
            page = await db.stories.list(limit=10)
            assert sorted(s.title for s in page) == ["kept in the savepoint", "renamed"]
            with pytest.raises(NotFound, match="stories"):
                await db.stories.get("00000000-0000-0000-0000-000000000000")
        assert db.closed

    asyncio.run(main())


def test_200_concurrent_tasks_on_a_pool_of_10(app_url: str, db_url: str) -> None:
    seen_sizes: list[int] = []

    async def main() -> None:
        config = Config(url=app_url, min_size=2, max_size=10, connect_timeout=10, pool_wait=30)
        async with AsyncDatabase(config) as db:
            async def one(i: int) -> None:
                async with db.transaction(actor=f"task-{i}") as tx:
                    await tx.stories.create(f"task {i}")
                    await tx.execute("SELECT pg_sleep(0.005)")
                seen_sizes.append(db._pool.stats().get("pool_size", 0))

            await asyncio.gather(*(one(i) for i in range(200)))
            assert db._pool.in_use() == 0

    asyncio.run(main())
    with psycopg.connect(db_url) as conn:
        rows = conn.execute("SELECT title, created_by FROM stories").fetchall()
    assert sorted(rows) == sorted((f"task {i}", f"task-{i}") for i in range(200))
    assert max(seen_sizes) <= 10


async def _session_is_clean(db: AsyncDatabase) -> None:
    """The next borrower sees no transaction, no leftover setting, nothing running."""
    async with db.connection() as conn:
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        row = await (await conn.execute(
            "SELECT current_setting('aura.actor', true), "
            "(SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND pid <> pg_backend_pid() "
            " AND datname = current_database() AND query LIKE '%pg_sleep%')")).fetchone()
        assert row is not None
        assert row[0] in (None, ""), row
        assert row[1] == 0, "a cancelled statement is still running on the server"


def test_cancellation_at_random_points_loses_nothing_acknowledged(app_url: str, db_url: str) -> None:
    rng = random.Random(7)
    acknowledged: set[str] = set()
    at_commit: set[str] = set()  # the block's body ran to its end: the cancel hit the COMMIT
    cancelled = 0

    async def main() -> None:
        nonlocal cancelled
        config = Config(url=app_url, min_size=1, max_size=3, connect_timeout=10)
        async with AsyncDatabase(config) as db:
            async def work(title: str, sleep: float) -> None:
                async with db.transaction(actor="canceller") as tx:
                    await tx.stories.create(title)
                    await tx.execute("SELECT pg_sleep(%s)", (sleep,))
                    await tx.stories.create(title + " second")
                    at_commit.add(title)

            for i in range(40):
                title = f"t{i}"
                try:
                    async with asyncio.timeout(rng.uniform(0.0, 0.03)):
                        await work(title, rng.uniform(0.0, 0.03))
                except TimeoutError:
                    cancelled += 1  # the CancelledError came through: asyncio turned it into this
                else:
                    acknowledged.add(title)
                await _session_is_clean(db)
            # cancelled by the caller (not a timeout): CancelledError itself propagates, unwrapped
            task = asyncio.create_task(work("by-cancel", 5))
            await asyncio.sleep(0.2)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await _session_is_clean(db)
            assert db._pool.in_use() == 0
            assert (await db.stories.create("after")).title == "after"

    asyncio.run(main())
    with psycopg.connect(db_url) as conn:
        titles = {r[0] for r in conn.execute("SELECT title FROM stories")}
        running = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                               "AND state = 'active' AND query LIKE '%pg_sleep%' AND pid <> pg_backend_pid()").fetchone()
    assert 0 < cancelled < 40, cancelled
    # every acknowledged transaction is there whole; of the cancelled ones, none is there in
    # part, and only those whose cancel hit their COMMIT (an outcome the caller cannot know:
    # how many depends on the COMMIT's fsync time against the random timeouts, so the test
    # counts which they were instead of bounding how many) may be there whole
    firsts = {t for t in titles if not t.endswith(" second")} - {"after"}
    assert acknowledged <= firsts, acknowledged - firsts
    assert {t + " second" for t in firsts} <= titles, "half a transaction committed"
    assert titles == {t for f in firsts for t in (f, f + " second")} | {"after"}
    assert firsts - acknowledged <= at_commit - acknowledged, "a transaction cancelled in its body committed"
    mid_body = {f"t{i}" for i in range(40)} - at_commit
    assert len(mid_body) >= 5, "too few cancels landed inside the block to test its rollback"
    assert running == (0,)


def test_concurrent_calls_on_one_transaction_each_get_their_own_row(app_url: str) -> None:
    """Single-row queries reuse a cursor kept per connection: tasks sharing a transaction must
    still never read each other's result."""
    async def main() -> None:
        async with AsyncDatabase(Config(url=app_url, min_size=1, max_size=1)) as db, \
                db.transaction(actor="t") as tx:
            made = [await tx.stories.create(f"story {i}") for i in range(30)]
            got = await asyncio.gather(*(tx.stories.get(s.id) for s in made * 3))
            assert [g.title for g in got] == [s.title for s in made * 3]
            counts = await asyncio.gather(*(tx.stories.count() for _ in range(10)))
            assert counts == [30] * 10

    asyncio.run(main())


def test_shielded_work_finishes_when_its_caller_is_cancelled() -> None:
    from aura_db._compat_async import shielded

    done: list[str] = []

    async def quick(x: int) -> int:
        return x * 2  # waits on nothing: runs inline, no task

    async def slow(tag: str) -> str:
        await asyncio.sleep(0.05)
        done.append(tag)
        return tag

    async def main() -> None:
        before = len(asyncio.all_tasks())
        assert await shielded(quick, 21) == 42
        assert len(asyncio.all_tasks()) == before
        assert await shielded(slow, "whole") == "whole"
        caller = asyncio.create_task(shielded(slow, "cancelled caller"))
        await asyncio.sleep(0.01)
        caller.cancel()
        with pytest.raises(asyncio.CancelledError):
            await caller  # the caller's cancel comes through at once ...
        assert done == ["whole"]
        await asyncio.sleep(0.1)
        assert done == ["whole", "cancelled caller"]  # ... and the work went on to its end

    asyncio.run(main())


@pytest.mark.parametrize("hand_back", ["as is", "waiting"])
def test_cancels_landing_in_the_clean_up_of_a_cancel_leak_no_connection(app_url: str, hand_back: str) -> None:
    """A task cancelled again and again, so that later cancels land while the first one's
    rollback hands the connection back: the pool (of 2) ends with none of them lent, every
    connection usable, and the next borrower sees a clean session. "waiting": the pool's own
    hand-back waits a little first (as behind a contended pool lock), so that the cancels
    surely land in it."""
    rng = random.Random(11)

    async def settled(db: AsyncDatabase) -> int:
        for _ in range(200):  # a shielded give-back finishes after the cancelled task ends
            if db._pool.in_use() == 0:
                break
            await asyncio.sleep(0.01)
        return db._pool.in_use()

    async def main() -> None:
        config = Config(url=app_url, min_size=1, max_size=2, connect_timeout=10, pool_wait=3)
        async with AsyncDatabase(config) as db:
            if hand_back == "waiting":
                inner = db._pool._pool
                real = inner.putconn

                async def slow_putconn(conn: Any) -> None:
                    await asyncio.sleep(0.01)
                    await real(conn)
                inner.putconn = slow_putconn  # type: ignore[method-assign]

            async def work(i: int) -> None:
                async with db.transaction(actor="canceller") as tx:
                    await tx.stories.create(f"double {i}")
                    await tx.execute("SELECT pg_sleep(5)")

            for i in range(12):
                task = asyncio.create_task(work(i))
                await asyncio.sleep(rng.uniform(0.02, 0.08))
                while not task.done():  # keep cancelling through the clean-up
                    task.cancel()
                    await asyncio.sleep(rng.choice((0, 0, 0.0005, 0.002)))
                with pytest.raises(asyncio.CancelledError):
                    await task
                assert await settled(db) == 0, f"round {i}: a connection stayed lent"
                await _session_is_clean(db)
            stats = db._pool.stats()
            assert stats["pool_size"] <= 2, stats
            # both connections can be had at once: none is lost from the pool's count
            async with db.connection() as a, db.connection() as b:
                assert a is not b
                assert (await (await a.execute("SELECT 1")).fetchone()) == (1,)
                assert (await (await b.execute("SELECT 2")).fetchone()) == (2,)
            assert await db.stories.count() == 0  # no cancelled transaction committed

    asyncio.run(main())


def test_one_server_shared_by_sync_and_async_users(app_url: str, db_url: str) -> None:
    config = Config(url=app_url, min_size=1, max_size=4, connect_timeout=10)
    errors: list[BaseException] = []
    with Database(config) as sync_db:
        def sync_user() -> None:
            try:
                for i in range(50):
                    sync_db.stories.create(f"sync {i}")
            except BaseException as exc:  # reported below
                errors.append(exc)

        async def main() -> None:
            async with AsyncDatabase(config) as async_db:
                thread = threading.Thread(target=sync_user)
                thread.start()
                for i in range(50):
                    await async_db.stories.create(f"async {i}")
                await asyncio.to_thread(thread.join)
                page = await async_db.stories.list(limit=200)
                assert len(page) == 100

        asyncio.run(main())
        assert not errors, errors
        assert len(sync_db.stories.list(limit=200)) == 100
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM stories").fetchone() == (100,)


def test_errors_leaving_the_async_api_are_aura_errors(app_url: str) -> None:
    async def main() -> None:
        async with AsyncDatabase.connect(app_url) as db:
            with pytest.raises(AuraError, match="stories.title"):
                await db.stories.create("")
            async with db.transaction() as tx:
                with pytest.raises(AuraError):
                    await tx.execute("SELECT 1/0")
        with pytest.raises(AuraError, match="closed"):
            await db.stories.get("00000000-0000-0000-0000-000000000000")

    asyncio.run(main())
