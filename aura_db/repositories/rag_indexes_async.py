"""The async rag_indexes repository: the source ``tools/async_to_sync.py`` generates
``rag_indexes_sync.py`` from. Its rows, checks and helpers are :mod:`.rag_indexes`'s, shared by both.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, LiteralString, cast

import psycopg
from psycopg import sql
from psycopg.rows import tuple_row

from .._compat_async import Event, join, spawn
from ..connection import unbounded
from ..errors import AuraError, PermissionDenied
from ..progress import Progress, Tracker, check_progress
from .base import own_call
from .base_async import reads, writes
from .checks import check_int, check_text
from .rag_calibration_async import AsyncRagCalibration
from .rag_indexes import _IDLE, _T, SearchIndex, _access_row, _index_row, logger
from .rag_search import check_dims, index_name

__all__ = ["AsyncRagIndexes"]


class AsyncRagIndexes(AsyncRagCalibration):
    """Search-index maintenance of ``db.rag_chunks`` (see the module's docstring for who may)."""

    @reads
    async def search_indexes(self) -> builtins.list[SearchIndex]:
        """The HNSW indexes of rag_chunks with their validity and options."""
        async with self._conn() as conn:
            return await self._q("search_indexes").amany(conn, _index_row)

    @writes
    async def drop_search_index(self, dims: int) -> None:
        """Drop the HNSW index of one size (searches of that size then take the exact path):
        CONCURRENTLY as the owner of rag_chunks, else through ``aura_drop_search_index``.
        Needs a Database, not a Transaction: raises :class:`AuraError` inside one."""
        check_dims(dims)
        async with self._maintenance("drop", dims) as (conn, owner):
            if owner:
                await conn.execute(sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(
                    sql.Identifier(index_name(dims))))
            else:
                await self._q("call_drop_search_index").ascalar(conn, dims=dims)

    @writes
    async def build_search_index(self, dims: int, *, m: int = 16, ef_construction: int = 64,
                                 maintenance_work_mem: str = "1GB", parallel_workers: int = 1,
                                 progress: Progress | None = None) -> None:
        """Create the HNSW index of one size, with ``maintenance_work_mem`` and
        ``max_parallel_maintenance_workers`` set for the build.

        No-op when it exists. As the owner of rag_chunks the build runs CONCURRENTLY (writers
        keep writing) and a failed build leaves no invalid index behind; as the application role
        it runs through ``aura_build_search_index`` (writes wait for it). Needs a Database
        (autocommit), not a Transaction. The build runs without statement_timeout. Then, when
        :attr:`SearchTuning.auto_calibrate`, the workspaces that search through the index are
        calibrated (:meth:`calibrate_workspaces`). Raises :class:`InvalidValue` for bad
        parameters and :class:`PermissionDenied` for a role that may not build. ``progress``
        hears the build (pg_stat_progress_create_index, twice a second) and the calibrations.
        """
        await self._build(dims, m, ef_construction, maintenance_work_mem, parallel_workers, rebuild=False,
                          progress=progress)
        await self._calibrate_built(dims, progress)

    @writes
    async def reindex_search_index(self, dims: int, *, m: int = 16, ef_construction: int = 64,
                                   maintenance_work_mem: str = "1GB", parallel_workers: int = 1,
                                   progress: Progress | None = None) -> None:
        """Rebuild the HNSW index of one size with new ``m`` / ``ef_construction`` without a
        moment without an index: build the new one under a temporary name, drop the old one,
        rename the new one into place (CONCURRENTLY as the owner; in one transaction through
        ``aura_reindex_search_index`` otherwise); then recalibrate as
        :meth:`build_search_index` does (the new graph has a new recall)."""
        await self._build(dims, m, ef_construction, maintenance_work_mem, parallel_workers, rebuild=True,
                          progress=progress)
        await self._calibrate_built(dims, progress)

    async def _calibrate_built(self, dims: int, progress: Progress | None) -> None:
        if self.tuning.auto_calibrate:
            await self.calibrate_workspaces(dims, progress=progress)

    @asynccontextmanager
    async def bulk_load(self, dims: int, **build: Any) -> AsyncIterator[AsyncRagIndexes]:
        """Drop the HNSW index of ``dims`` for the block, rebuild it on exit (also after an
        error): the fast way to load many chunks. ``build`` goes to :meth:`build_search_index`."""
        check_progress(build.get("progress"), _T)  # before the drop: bad input changes nothing
        await self.drop_search_index(dims)
        try:
            yield self
        finally:
            await self.build_search_index(dims, **build)

    async def _build(self, dims: int, m: int, ef_construction: int, memory: str, workers: int, *,
                     rebuild: bool, progress: Progress | None = None) -> None:
        check_dims(dims)
        check_progress(progress, _T)
        check_int(_T, "m", m, minimum=2, maximum=100, required=True)
        check_int(_T, "ef_construction", ef_construction, minimum=max(4, 2 * m), maximum=1000,
                  required=True)
        check_int(_T, "parallel_workers", workers, minimum=0, maximum=64, required=True)
        check_text(_T, "maintenance_work_mem", memory, max_len=20)
        async with self._maintenance("rebuild" if rebuild else "build", dims) as (conn, owner):
            # A build of 100k x 768 takes a minute or more: no statement_timeout for it. Set for
            # the session (CONCURRENTLY runs outside a transaction), or for the call's own
            # transaction behind a transaction pooler; the backend's pid is the server's (a
            # pooler gives the client a pid of its own).
            local = conn.info.transaction_status != _IDLE
            cur = await conn.execute("SELECT set_config('maintenance_work_mem', %s, %s), "
                                     "set_config('max_parallel_maintenance_workers', %s, %s), "
                                     "set_config('statement_timeout', '0', %s), pg_backend_pid()",
                                     (memory, local, str(workers), local, local))
            row = await cur.fetchone()
            assert row is not None
            task = f"{'rebuild' if rebuild else 'build'} {index_name(dims)}"
            try:
                # nor a client deadline: the build answers when it is done
                with unbounded(conn):
                    async with self._watch_build(int(row[3]), task, progress):
                        if owner:
                            await self._build_concurrently(conn, dims, m, ef_construction, rebuild)
                        else:
                            await self._q("call_reindex_search_index" if rebuild
                                          else "call_build_search_index").ascalar(
                                conn, dims=dims, m=m, ef_construction=ef_construction)
            finally:
                if not local:
                    await conn.execute("RESET maintenance_work_mem; RESET max_parallel_maintenance_workers; "
                                       "RESET statement_timeout")

    async def _build_concurrently(self, conn: psycopg.AsyncConnection[Any], dims: int, m: int,
                                  ef_construction: int, rebuild: bool) -> None:
        name = index_name(dims)
        built = name + "_new" if rebuild else name
        # The statement comes from foundation 0012's function (format() with %I and integers
        # only), the one definition of these indexes: it is SQL of our own, not user text.
        statement = await self._q("search_index_statement").ascalar(
            conn, dims=dims, m=m, ef_construction=ef_construction, staging=rebuild)
        try:
            await conn.execute(sql.SQL(cast(LiteralString, statement)))
        except psycopg.Error:
            await conn.execute(sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(sql.Identifier(built)))
            raise
        if rebuild:
            await conn.execute(sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(sql.Identifier(name)))
            await conn.execute(sql.SQL("ALTER INDEX {} RENAME TO {}").format(
                sql.Identifier(built), sql.Identifier(name)))
        await self._q("call_comment_search_index").ascalar(conn, dims=dims)  # a new index has no COMMENT

    @asynccontextmanager
    async def _watch_build(self, pid: int, task: str, progress: Progress | None) -> AsyncIterator[None]:
        """Report the index build of backend ``pid`` to ``progress`` from a second pooled
        connection, polled twice a second; no-op without ``progress``. A failing poll only
        stops the reports."""
        if progress is None:
            yield
            return
        stop = Event()
        tracker = Tracker(progress, task, None, "tuples")

        async def poll() -> None:
            try:
                async with self._conn() as conn:  # a repository borrow: autocommit already
                    while not await stop.wait_for(0.5):
                        row = await self._q("index_build_progress").aoptional(conn, tuple_row, pid=pid)
                        if row is not None:
                            phase, done, total, unit = row
                            tracker.unit = str(unit)
                            tracker.update(int(done or 0), phase=str(phase), total=int(total or 0) or None)
            except Exception as exc:  # progress is a courtesy: never fail the build over it
                logger.debug("progress of %s: %s", task, exc)

        watcher = spawn(poll, f"aura-db {task}")
        try:
            with tracker:
                yield
        finally:
            stop.set()
            await join(watcher, 5)

    @asynccontextmanager
    async def _maintenance(self, what: str,
                           dims: int) -> AsyncIterator[tuple[psycopg.AsyncConnection[Any], bool]]:
        """An autocommit connection and whether to run CONCURRENTLY (its role owns
        rag_chunks); PermissionDenied for a role that may neither own nor call the maintenance
        functions. Behind a transaction pooler there is no session to run CONCURRENTLY in: the
        functions run in the call's own transaction (a Database on the owner's direct URL,
        ``AURA_MIGRATION_URL``, builds CONCURRENTLY)."""
        async with self._conn() as conn:
            if not own_call(conn):
                raise AuraError(f"{_T}: index builds run CONCURRENTLY, which cannot run inside a "
                                f"transaction: call them on the Database, not in db.transaction()")
            access = await self._q("search_index_access").aone(conn, _access_row)
            if conn.info.transaction_status != _IDLE:  # the call's own transaction (pooler)
                if not access.maintainer:
                    raise PermissionDenied(
                        f"{_T}: role {access.role!r} may not {what} the search index of {dims} "
                        f"dimensions behind a transaction pooler: it may not call "
                        f"aura_{what}_search_index (`aura-db roles` grants that to the application "
                        f"role)")
                yield conn, False
                return
            if not (access.owner or access.maintainer):
                raise PermissionDenied(
                    f"{_T}: role {access.role!r} may not {what} the search index of {dims} "
                    f"dimensions: it neither owns rag_chunks nor may call aura_{what}_search_index "
                    f"(`aura-db roles` grants that to the application role); use the application "
                    f"role's URL (AURA_DATABASE_URL) or the owner's (AURA_MIGRATION_URL)")
            await conn.set_autocommit(True)
            try:
                yield conn, access.owner
            finally:
                await conn.set_autocommit(False)
