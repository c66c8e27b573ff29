"""``Database``: a psycopg_pool ConnectionPool with aura-db's session setup and health checks.

The pool already does the hard parts well (reconnect with exponential backoff, ``check`` on
checkout, ``reset`` on return, statistics); this module configures it and adds what it lacks:
one clear start-up error that never shows the password, pgvector type registration without a
query per connection, and a refusal to be used from a forked child.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.types import TypeInfo
from psycopg_pool import ConnectionPool, PoolTimeout

from . import migrations
from .config import Config, describe_server
from .embedded import embedded_url
from .errors import PoolClosed, PoolForked, ServerUnavailable
from .repositories import RepositoryAccess

__all__ = ["Database", "Health", "Transaction"]

logger = logging.getLogger(__name__)

_VECTOR_TYPES = ("vector", "halfvec", "sparsevec")


@dataclass(frozen=True, slots=True)
class Health:
    """A snapshot of the server and the pool."""

    server: str  # masked URL or embedded data directory
    server_version: str
    pgvector_version: str | None  # None when the extension is not installed in this database
    pool: dict[str, int]
    pending_migrations: int

    def lines(self) -> list[str]:
        """Human-readable ``key: value`` lines, as the CLI prints them."""
        pool = ", ".join(f"{k}={v}" for k, v in sorted(self.pool.items()))
        return [
            f"server: {self.server}",
            f"postgresql: {self.server_version}",
            f"pgvector: {self.pgvector_version or 'not installed (run aura-db migrate)'}",
            f"pending migrations: {self.pending_migrations}",
            f"pool: {pool}",
        ]


class _VectorTypes:
    """pgvector's TypeInfo, fetched once per database and registered on each new connection
    without a further query. Until the extension exists, each new connection looks again."""

    def __init__(self) -> None:
        self._infos: dict[str, TypeInfo] | None = None
        self._lock = threading.Lock()

    def register(self, conn: psycopg.Connection[Any]) -> None:
        from pgvector.psycopg.halfvec import register_halfvec_info
        from pgvector.psycopg.sparsevec import register_sparsevec_info
        from pgvector.psycopg.vector import register_vector_info

        infos = self._infos
        if infos is None:
            fetched = {name: TypeInfo.fetch(conn, name) for name in _VECTOR_TYPES}
            if any(info is None for info in fetched.values()):
                return  # extension not installed yet: plain types until a migrate drains the pool
            with self._lock:
                infos = self._infos = {k: v for k, v in fetched.items() if v is not None}
        register_vector_info(conn, infos["vector"])
        register_halfvec_info(conn, infos["halfvec"])
        register_sparsevec_info(conn, infos["sparsevec"])

    def forget(self) -> None:
        with self._lock:
            self._infos = None


class Transaction(RepositoryAccess):
    """One open transaction: its connection and the repositories bound to it.

    Everything done through ``tx.<repository>`` or ``tx.conn`` commits together when the
    ``with db.transaction()`` block ends, and rolls back together on an exception. As in
    PostgreSQL, a failed statement aborts the whole transaction; wrap a step in
    ``with tx.savepoint():`` to be able to catch its error and go on.
    """

    def __init__(self, conn: psycopg.Connection[Any],
                 on_raw_use: Callable[[psycopg.Connection[Any]], None] | None = None) -> None:
        self._conn = conn
        self._on_raw_use = on_raw_use

    @property
    def conn(self) -> psycopg.Connection[Any]:
        """The psycopg connection itself (whatever it is used for is undone on return to the
        pool: the session is RESET)."""
        if self._on_raw_use is not None:
            self._on_raw_use(self._conn)
        return self._conn

    def _connector(self) -> AbstractContextManager[psycopg.Connection[Any]]:
        return nullcontext(self._conn)

    def execute(self, query: Any, params: Any = None) -> psycopg.Cursor[Any]:
        """Run one statement on the transaction's connection (``conn.execute``)."""
        return self.conn.execute(query, params)

    @contextmanager
    def savepoint(self) -> Iterator[Transaction]:
        """A nested transaction (SAVEPOINT): an exception rolls back only the inner block."""
        with self._conn.transaction():
            yield self


class Database(RepositoryAccess):
    """A pool of connections to one PostgreSQL database.

    ``Database(config)`` opens the pool and waits (with the pool's exponential backoff) up to
    ``config.connect_timeout`` for the first connection; it raises :class:`ServerUnavailable`
    naming host, port and database — never the password — when the server does not answer.
    """

    def __init__(self, config: Config | None = None, *, name: str = "aura") -> None:
        self.config = config or Config.from_env()
        self.name = name
        self.url = self.config.url or embedded_url(self.config.data_dir)
        self._pid = os.getpid()
        self._closing = False
        self._types = _VectorTypes()
        # pooled connections that code with raw access touched (RESET on return), and when each
        # connection last came back (a recently used one needs no checkout round trip)
        self._touched: weakref.WeakSet[psycopg.Connection[Any]] = weakref.WeakSet()
        self._last_return: weakref.WeakKeyDictionary[psycopg.Connection[Any], float] = \
            weakref.WeakKeyDictionary()
        self._pool = ConnectionPool(
            self.url,
            name=name,
            min_size=self.config.min_size,
            max_size=self.config.max_size,
            open=False,
            timeout=self.config.connect_timeout,
            reconnect_timeout=max(self.config.connect_timeout, 60.0),
            kwargs={
                "application_name": self.config.application_name,
                "options": self.config.session_options(),
                "connect_timeout": max(1, int(min(self.config.connect_timeout, 10))),
            },
            configure=self._configure,
            check=self._check,
        )
        self._open()

    @classmethod
    def connect(cls, url: str | None = None, **overrides: Any) -> Database:
        """Open a Database from the environment (``AURA_DATABASE_URL``, else the embedded
        server); ``url`` and keyword arguments override single settings."""
        if url is not None:
            overrides["url"] = url
        return cls(Config.from_env(**overrides))

    def _open(self) -> None:
        try:
            self._pool.open(wait=True, timeout=self.config.connect_timeout)
        except PoolTimeout:
            self._pool.close(timeout=0)
            raise ServerUnavailable(
                f"could not connect to PostgreSQL at {describe_server(self.url)} "
                f"within {self.config.connect_timeout:g}s ({self._last_error()}): is the server "
                f"running and the URL right?"
            ) from None
        logger.info("pool %r open on %s", self.name, self.config.masked_url())

    def _last_error(self) -> str:
        try:
            with psycopg.connect(self.url, connect_timeout=2) as _:
                return "the server answers now"
        except psycopg.Error as exc:
            text = " ".join(str(exc).split())
            return self.config.redact(text)[:300] or type(exc).__name__

    # -- pool callbacks -----------------------------------------------------------------------

    def _configure(self, conn: psycopg.Connection[Any]) -> None:
        self._types.register(conn)
        if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            conn.rollback()  # TypeInfo.fetch may have opened a transaction

    def _check(self, conn: psycopg.Connection[Any]) -> None:
        """On checkout: a connection that sat idle longer than ``config.check_after_idle``
        seconds is checked with a round trip. A recently used one is checked without: libpq
        reads what the server sent meanwhile (twice, so that a server which wrote its FATAL
        message and closed the socket, as a killed backend or a restarting server does, is seen
        to have closed it). A killed backend or restarted server never reaches the caller.

        The read happens without releasing the GIL (PQconsumeInput never blocks). A
        ``select()`` on the socket would release and re-acquire it on every checkout, and with
        threads sharing the pool each re-acquisition waits its turn: it halved throughput at 8
        threads."""
        if conn.closed or conn.broken:
            raise psycopg.OperationalError("the connection is closed")
        last = self._last_return.get(conn)
        if last is None or time.monotonic() - last >= self.config.check_after_idle:
            ConnectionPool.check_connection(conn)
            return
        pgconn = conn.pgconn
        pgconn.consume_input()  # raises OperationalError when the server closed the connection
        pgconn.consume_input()

    @staticmethod
    def _reset(conn: psycopg.Connection[Any]) -> None:
        """On return: undo what code with raw access changed in the session (SET, advisory locks,
        LISTEN), in one round trip. Connections only repositories used are not reset:
        repositories change nothing beyond their transaction."""
        autocommit = conn.autocommit
        conn.autocommit = True  # RESET is transactional: run it outside a transaction
        try:
            conn.execute("RESET ALL; SELECT pg_advisory_unlock_all(); UNLISTEN *")
        finally:
            conn.autocommit = autocommit

    def _touch(self, conn: psycopg.Connection[Any]) -> None:
        self._touched.add(conn)

    # -- use ----------------------------------------------------------------------------------

    def _guard(self) -> None:
        if self._closing:
            raise PoolClosed(f"the pool {self.name!r} is closed or closing")
        if os.getpid() != self._pid:
            raise PoolForked(
                f"the pool {self.name!r} was opened in process {self._pid} and cannot be used in "
                f"forked process {os.getpid()}: create a new Database in the child"
            )

    @contextmanager
    def _borrow(self, *, autocommit: bool = False, raw: bool = False) -> Iterator[psycopg.Connection[Any]]:
        """Take a connection from the pool and give it back, committing (or rolling back on an
        exception) in between. The return is done here, not by a pool ``reset`` callback:
        psycopg_pool hands every return with such a callback to a worker thread, a handoff that
        cost more than the query itself and stopped aura-db scaling with threads."""
        self._guard()
        conn = self._pool.getconn()
        try:
            if raw:
                self._touch(conn)
            conn.autocommit = autocommit
            with conn:  # commit, or roll back on an exception (a pooled connection stays open)
                yield conn
        finally:
            self._give_back(conn)

    def _give_back(self, conn: psycopg.Connection[Any]) -> None:
        try:
            if not conn.closed:
                if conn in self._touched:
                    self._touched.discard(conn)
                    self._reset(conn)
                conn.autocommit = False
                self._last_return[conn] = time.monotonic()
        except psycopg.Error as exc:
            logger.warning("discarding a connection that failed its reset: %s", exc)
            conn.close()  # the pool replaces a closed connection
        finally:
            self._pool.putconn(conn)

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        """Borrow a connection; it commits on normal exit and rolls back on an exception.
        Session state it changes is RESET when it goes back to the pool."""
        with self._borrow(raw=True) as conn:
            yield conn

    def _connector(self) -> AbstractContextManager[psycopg.Connection[Any]]:
        """The borrow behind repository calls made outside a transaction: autocommit, so a
        one-statement call costs one round trip (no BEGIN/COMMIT). A repository method that runs
        several statements that must hold together opens ``conn.transaction()`` itself."""
        return self._borrow(autocommit=True)

    @contextmanager
    def transaction(self, actor: str | None = None) -> Iterator[Transaction]:
        """Borrow a connection inside one transaction; ``actor`` fills the audit columns
        (``created_by`` / ``updated_by``) through the transaction-local setting ``aura.actor``.

        Everything in the block commits together or rolls back together on an exception.
        """
        with self._borrow() as conn, conn.transaction():
            if actor is not None:
                conn.execute("SELECT set_config('aura.actor', %s, true)", (actor,))
            yield Transaction(conn, self._touch)

    def health(self) -> Health:
        """Server and pgvector versions, pool statistics and the pending-migration count."""
        with self.connection() as conn:
            row = conn.execute(
                "SELECT current_setting('server_version'), "
                "(SELECT extversion FROM pg_extension WHERE extname = 'vector')"
            ).fetchone()
        assert row is not None
        return Health(
            server=self.config.masked_url(),
            server_version=str(row[0]),
            pgvector_version=row[1],
            pool=dict(self._pool.get_stats()),
            pending_migrations=migrations.pending_count(self.url),
        )

    def migrate(self, settings: migrations.MigrationSettings | None = None) -> list[str]:
        """Apply pending migrations (see :func:`aura_db.migrations.migrate`), then renew the
        pool's connections so they see the new types."""
        self._guard()
        applied = migrations.migrate(self.url, settings=settings)
        if applied:
            self._types.forget()
            self._pool.drain()
        return applied

    def close(self, timeout: float | None = None) -> None:
        """Close the pool: refuse new borrows at once, wait up to ``timeout`` seconds (default
        ``config.close_timeout``) for connections in use to come back, then close every
        connection (one still in use after the wait is closed when it is returned)."""
        if os.getpid() != self._pid:
            return  # a forked child must not close the parent's sockets
        timeout = self.config.close_timeout if timeout is None else timeout
        self._closing = True
        deadline = time.monotonic() + timeout
        while (busy := self._in_use()) and time.monotonic() < deadline:
            time.sleep(0.01)
        if busy:
            logger.warning("closing pool %r with %d connection(s) still in use after %gs",
                           self.name, busy, timeout)
        self._pool.close(timeout=max(deadline - time.monotonic(), 0.0))

    def _in_use(self) -> int:
        if self._pool.closed:
            return 0
        stats = self._pool.get_stats()
        return int(stats.get("pool_size", 0)) - int(stats.get("pool_available", 0))

    @property
    def closed(self) -> bool:
        return self._pool.closed

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<Database {self.name!r} {state} {self.config.masked_url()}>"
