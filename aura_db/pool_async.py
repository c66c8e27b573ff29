"""The connection pool behind a Database: psycopg_pool's pool, configured for aura-db and
hardened at the edges (see :mod:`aura_db.pool`)."""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
import psycopg_pool
from psycopg._preparing import PrepareManager
from psycopg.adapt import AdaptersMap
from psycopg.rows import tuple_row
from psycopg.types import TypeInfo
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from psycopg_pool.base import AttemptWithBackoff

from ._compat_async import Lock, shielded
from ._pgerrors import translate
from ._query_run_async import SPARES
from .config import Config, describe_server
from .connection_async import AsyncAuraConnection
from .errors import PoolClosed, PoolExhausted, ServerUnavailable
from .pool import IDLE, VECTOR_TYPES, QuickReconnect

__all__ = ["AsyncPool"]

logger = logging.getLogger(__name__)


class _Pool(AsyncConnectionPool[AsyncAuraConnection]):
    """psycopg_pool's pool with quicker reconnects, remembering whether connects fail, lending
    the connection returned last first. (``_add_connection``, ``_connect``,
    ``_get_ready_connection`` and the ``_pool`` deque are psycopg_pool internals:
    tests/test_pool.py pins them.)"""

    connects_failing = False  # the last connect attempt failed

    async def _get_ready_connection(self, timeout: float | None) -> AsyncAuraConnection | None:
        """Last in, first out: psycopg_pool lends the connection idle longest (returns go to the
        right of its deque, loans come from the left), so calls in a row rotate through every
        connection the pool ever opened, each backend cold (CPU caches, its own catalog caches
        and prepared statements): a vector search measured 0.5-1.4 ms slower on a pool of 4
        than on a pool of 1. The one returned last is moved to the left end and lent; the rest
        keep their order, so the connection idle longest stays the one the pool closes when it
        shrinks (from the left). Runs under the pool's lock."""
        if len(self._pool) > 1:
            self._pool.rotate(1)
        return await super()._get_ready_connection(timeout)

    async def _add_connection(self, attempt: AttemptWithBackoff | None, growing: bool = False) -> None:
        await super()._add_connection(attempt or QuickReconnect(timeout=self.reconnect_timeout), growing)

    async def _connect(self, timeout: float | None = None) -> AsyncAuraConnection:
        try:
            conn = await super()._connect(timeout)
        except psycopg.Error:
            self.connects_failing = True
            raise
        self.connects_failing = False
        return conn


class _VectorTypes:
    """pgvector's TypeInfo, fetched once per database and registered on each new connection
    without a further query. Until the extension exists, each new connection looks again."""

    def __init__(self) -> None:
        self._infos: dict[str, TypeInfo] | None = None
        self._lock = Lock()

    async def register(self, conn: psycopg.AsyncConnection[Any]) -> None:
        from pgvector.psycopg.halfvec import register_halfvec_info
        from pgvector.psycopg.sparsevec import register_sparsevec_info
        from pgvector.psycopg.vector import register_vector_info

        infos = self._infos
        if infos is None:
            fetched = {name: await TypeInfo.fetch(conn, name) for name in VECTOR_TYPES}
            if any(info is None for info in fetched.values()):
                return  # extension not installed yet: plain types until a migrate drains the pool
            async with self._lock:
                infos = self._infos = {k: v for k, v in fetched.items() if v is not None}
        register_vector_info(conn, infos["vector"])
        register_halfvec_info(conn, infos["halfvec"])
        register_sparsevec_info(conn, infos["sparsevec"])

    async def forget(self) -> None:
        async with self._lock:
            self._infos = None


class AsyncPool:
    """Lends :class:`AsyncAuraConnection` s of one database; see the module docstring."""

    def __init__(self, url: str, config: Config, name: str) -> None:
        self.url, self.config, self.name = url, config, name
        self.types = _VectorTypes()
        # connections code with raw access touched (cleaned on return), and when each came back
        self._touched: weakref.WeakSet[psycopg.AsyncConnection[Any]] = weakref.WeakSet()
        self._last_return: weakref.WeakKeyDictionary[psycopg.AsyncConnection[Any], float] = \
            weakref.WeakKeyDictionary()
        self._purging = Lock()
        self._pool = _Pool(
            url, name=name, min_size=config.min_size, max_size=config.max_size, open=False,
            timeout=config.wait_for_connection, reconnect_timeout=max(config.connect_timeout, 60.0),
            kwargs=config.connect_kwargs(), configure=self._configure,
            connection_class=AsyncAuraConnection,
        )

    async def open(self, wait: bool = True) -> None:
        """Open the pool; ``wait``: until its first connection (``config.connect_timeout``)."""
        await self._pool.open(wait=wait, timeout=self.config.connect_timeout)

    # -- pool callbacks -----------------------------------------------------------------------

    async def _configure(self, conn: AsyncAuraConnection) -> None:
        conn.deadline = self.config.deadline
        await self.types.register(conn)
        if conn.info.transaction_status != IDLE:
            await conn.rollback()  # TypeInfo.fetch may have opened a transaction
        conn.pristine_adapters = AdaptersMap(conn.adapters)  # copy-on-write: free until changed

    async def _alive(self, conn: psycopg.AsyncConnection[Any]) -> bool:
        """On checkout: a connection that sat idle longer than ``config.check_after_idle``
        seconds is checked with a round trip; a recently used one without (libpq reads what
        the server sent meanwhile, twice, so that a server which wrote its FATAL message and
        then closed the socket is seen to have closed it). The read does not release the GIL
        (PQconsumeInput never blocks); a select() would, and with threads sharing the pool
        each re-acquisition queues: it halved throughput at 8 threads."""
        if conn.closed or conn.broken:
            return False
        try:
            last = self._last_return.get(conn)
            if last is None or time.monotonic() - last >= self.config.check_after_idle:
                await AsyncConnectionPool.check_connection(conn)
            else:
                pgconn = conn.pgconn
                pgconn.consume_input()  # raises OperationalError when the server closed it
                pgconn.consume_input()
        except psycopg.Error as exc:
            logger.info("pool %r: discarding a dead connection (%s)", self.name, exc)
            return False
        return True

    # -- lending ------------------------------------------------------------------------------

    async def getconn(self) -> AsyncAuraConnection:
        """A live connection, within ``config.wait_for_connection`` seconds."""
        wait = self.config.wait_for_connection
        deadline = time.monotonic() + wait
        while True:
            try:
                conn = await self._pool.getconn(timeout=max(deadline - time.monotonic(), 0.001))
            except PoolTimeout:
                raise self._no_connection(wait) from None
            except psycopg_pool.PoolClosed:
                raise PoolClosed(f"the pool {self.name!r} is closed") from None
            try:
                alive = await self._alive(conn)
            except BaseException:  # cancelled (or interrupted) mid-check: not lent after all
                await shielded(self._discard, conn)
                raise
            if alive:
                return conn
            await shielded(self._discard, conn)
            await self._purge()

    async def _discard(self, conn: AsyncAuraConnection) -> None:
        """Close ``conn`` and hand it back: the pool opens a replacement at once."""
        try:
            await conn.close()
        finally:
            await self._pool.putconn(conn)

    async def _purge(self) -> None:
        """Check every idle connection now (one dead connection seldom dies alone)."""
        if self._purging.locked():
            return  # another caller is at it
        async with self._purging:
            await self._pool.check()

    def _no_connection(self, wait: float) -> ServerUnavailable | PoolExhausted:
        stats = self._pool.get_stats()
        size, idle = int(stats.get("pool_size", 0)), int(stats.get("pool_available", 0))
        if size >= self.config.max_size and idle == 0 and not self._pool.connects_failing:
            return PoolExhausted(
                f"no free connection in pool {self.name!r} within {wait:g}s: all {size} are in use "
                f"(raise AURA_POOL_MAX_SIZE, or hold connections for less time)")
        return ServerUnavailable(
            f"no connection to {describe_server(self.url)} within {wait:g}s: the server does not "
            f"accept connections (down, restarting or unreachable)")

    async def putconn(self, conn: AsyncAuraConnection) -> None:
        """Give a connection back: rolled back if a transaction is open, cleaned if raw code
        touched it, closed if that fails; run to its end even if the caller is cancelled again
        meanwhile (:func:`shielded`: a cancelled query's rollback is where a second cancel
        lands)."""
        await shielded(self._give_back, conn)

    async def _give_back(self, conn: AsyncAuraConnection) -> None:
        try:
            if not conn.closed:
                if conn.info.transaction_status != IDLE:
                    await conn.rollback()
                if conn in self._touched:
                    self._touched.discard(conn)
                    await self._clean(conn)
                self._last_return[conn] = time.monotonic()
        except psycopg.Error as exc:
            logger.warning("pool %r: discarding a connection that could not be cleaned: %s", self.name, exc)
            await conn.close()  # the pool replaces a closed connection
        finally:
            await self._pool.putconn(conn)

    def touch(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """Note that code outside aura-db has (or had) this connection in hand."""
        self._touched.add(conn)

    async def _clean(self, conn: AsyncAuraConnection) -> None:
        """Undo everything raw use may have changed, server-side (DISCARD ALL, in one round
        trip, outside a transaction) and client-side (the psycopg connection's settings,
        adapters and handlers)."""
        await conn.set_autocommit(True)
        await conn.execute("DISCARD ALL")
        # psycopg clears its prepared-statement cache on the first DISCARD ALL it sees on a
        # connection only (later ones are cached as "seen" and skip the check): start afresh
        conn._prepared = PrepareManager()  # a psycopg internal: tests/test_pool.py pins it
        await conn.set_read_only(None)
        await conn.set_isolation_level(None)
        await conn.set_deferrable(None)
        conn.row_factory = tuple_row
        conn.prepare_threshold = self.config.prepare_threshold
        conn.deadline = self.config.deadline
        # client-side state, psycopg internals (tests/test_failures.py pins them): the adapters
        # as configured, no handlers a borrower added, no cursor made with the old adapters
        if conn.pristine_adapters is not None:
            conn._adapters = AdaptersMap(conn.pristine_adapters)
        conn._notice_handlers.clear()
        conn._notify_handlers.clear()
        vars(conn).pop(SPARES, None)

    @asynccontextmanager
    async def borrowed(self, *, autocommit: bool, raw: bool, what: str,
                       conn: AsyncAuraConnection | None = None) -> AsyncIterator[AsyncAuraConnection]:
        """A connection for the block (``conn``, already taken with :meth:`getconn`, or the next
        free one): committed at its end (rolled back on an exception) and given back. psycopg
        errors leaving the block are translated (``what`` names it)."""
        conn = await self.getconn() if conn is None else conn
        body_done = False
        try:
            if raw:
                self.touch(conn)
            if conn.autocommit != autocommit:  # left as the last borrower had it: a repository
                await conn.set_autocommit(autocommit)  # call after another one switches nothing
            async with conn:  # commit, or roll back on an exception (a pooled connection stays open)
                yield conn
                body_done = True
        except psycopg.Error as exc:
            raise translate(exc, what, committing=body_done and not autocommit) from exc
        finally:
            await self.putconn(conn)

    # -- the rest -----------------------------------------------------------------------------

    def stats(self) -> dict[str, int]:
        return dict(self._pool.get_stats())

    async def drain(self) -> None:
        await self._pool.drain()

    def in_use(self) -> int:
        if self._pool.closed:
            return 0
        stats = self._pool.get_stats()
        return int(stats.get("pool_size", 0)) - int(stats.get("pool_available", 0))

    @property
    def closed(self) -> bool:
        return self._pool.closed

    async def close(self, timeout: float) -> None:
        await self._pool.close(timeout=timeout)
