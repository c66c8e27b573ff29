# WARNING: generated from database_async.py by tools/async_to_sync.py: do not edit.
# Change the async source and run `python tools/async_to_sync.py`.
"""``Database``: the application's entry point — a pool of connections
(:mod:`aura_db.pool`), the repositories bound to it, transactions, and migrate(). The sync
``Database`` is generated from it (tools/async_to_sync.py).

Every error that leaves it is an :class:`~aura_db.errors.AuraError`. Work that is safe to run
again is retried on its own (see :mod:`aura_db.retry`): repository reads and idempotent writes
outside a transaction, and whole transactions through :meth:`Database.run_transaction`.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
from collections.abc import Iterator, Awaitable, Callable
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any, LiteralString, TypeVar

import psycopg
from psycopg_pool import PoolTimeout

from . import migrations
from ._compat_sync import sleep, to_thread
from ._pgerrors import translate
from ._retry_sync import retrying
from .config import Config, describe_server
from .connection_sync import AuraConnection
from .embedded import embedded_url
from .errors import CommitOutcomeUnknown, ConnectionLost, PoolClosed, PoolForked, ServerUnavailable
from .health import Health
from .pool_sync import Pool
from .pooler import pooler_hint
from .replicas import REPLAY_TARGET, ReplicaStatus
from .replicas_sync import Replicas
from .repositories.access_sync import RepositoryAccess
from .repositories.base import ROUTE
from .repositories.base_sync import Held
from .repositories.checks import check_workspace_id
from .retry import RetryPolicy

__all__ = ["Database", "Transaction"]

logger = logging.getLogger("aura_db.database")
T = TypeVar("T")


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
        pool: the session is cleaned with DISCARD ALL)."""
        if self._on_raw_use is not None:
            self._on_raw_use(self._conn)
        return self._conn

    def _connector(self) -> AbstractContextManager[psycopg.Connection[Any]]:
        return nullcontext(self._conn)

    def _retry_policy(self) -> RetryPolicy | None:
        return None  # a call inside a transaction is not retried alone: the transaction is

    def _repository_connector(self) -> Held:
        return Held(self._conn)  # the repositories use the connection directly

    def execute(self, query: Any, params: Any = None) -> psycopg.Cursor[Any]:
        """Run one statement on the transaction's connection (``conn.execute``)."""
        try:
            return self.conn.execute(query, params)
        except psycopg.Error as exc:
            raise translate(exc, "transaction") from exc

    @contextmanager
    def savepoint(self) -> Iterator[Transaction]:
        """A nested transaction (SAVEPOINT): an exception rolls back only the inner block."""
        try:
            with self._conn.transaction():
                yield self
        except psycopg.Error as exc:
            raise translate(exc, "savepoint") from exc


# A transaction's actor and workspace; unset ones keep the session's (config.workspace_id)
_SCOPE: LiteralString = (
    "SELECT set_config('aura.actor', coalesce(%s, current_setting('aura.actor', true), ''), true), "
    "set_config('aura.workspace_id', coalesce(%s, current_setting('aura.workspace_id', true), ''), true)")
# Behind a transaction pooler: the same and the session defaults, all transaction-local
_POOLED_SCOPE: LiteralString = (
    "SELECT set_config('aura.actor', coalesce(%s, ''), true), "
    "set_config('aura.workspace_id', coalesce(%s, ''), true), "
    "set_config('statement_timeout', %s, true), set_config('lock_timeout', %s, true), "
    "set_config('idle_in_transaction_session_timeout', %s, true)")


Work = Callable[[Transaction], T]
"""The body :meth:`Database.run_transaction` runs (and may run again)."""


class Database(RepositoryAccess):
    """A pool of connections to one PostgreSQL database.

    ``with Database(config)`` (or ``db.open()``) opens the pool and waits up
    to ``config.connect_timeout`` for the first connection (the sync ``Database(config)`` opens
    it at once); it raises :class:`ServerUnavailable` naming host, port and database —
    never the password — when the server does not answer. ``replicas`` (URLs of streaming
    read replicas, over ``config.replicas``) take the reads that tolerate staleness, with
    read-your-writes: see :mod:`aura_db.replicas`.
    """

    def __init__(self, config: Config | None = None, *, name: str = "aura",
                 replicas: list[str] | tuple[str, ...] | None = None) -> None:
        self.config = config or Config.from_env()
        if replicas is not None:
            self.config = dataclasses.replace(self.config, replicas=tuple(replicas))
        self.name = name
        self.url = self.config.url or embedded_url(self.config.data_dir)
        self.migration_url = self.config.migration_url or self.url  # the owner's, for migrate()
        self._pid = os.getpid()
        self._closing = False
        self.retry = RetryPolicy(attempts=self.config.retry_attempts, backoff=self.config.retry_backoff,
                                 deadline=self.config.retry_deadline)
        self._pool = Pool(self.url, self.config, name)
        self._replicas = (Replicas(self.config.replicas, self.config, name)
                          if self.config.replicas else None)
        # read-your-writes: commits counted, and the primary's WAL position after the last seen
        self._commits = 0
        self._target_commits = 0
        self._target_lsn = 0
        self._commits_lock = threading.Lock()  # held for no await: a thread lock serves both
        self._opened = False
        self.open()

    def open(self) -> None:
        """Open the pool (once; ``with`` does it): see the class docstring."""
        if not self._opened:
            self._open()
            self._opened = True

    @classmethod
    def connect(cls, url: str | None = None, **overrides: Any) -> Database:
        """A Database from the environment (``AURA_DATABASE_URL``, else the embedded server);
        ``url`` and keyword arguments override single settings. The sync one is open; an async
        one opens when entered (``with Database.connect() as db``) or awaited open."""
        if url is not None:
            overrides["url"] = url
        return cls(Config.from_env(**overrides))

    def _open(self) -> None:
        try:
            self._pool.open()
        except PoolTimeout:
            self._pool.close(timeout=0)
            raise ServerUnavailable(
                f"could not connect to PostgreSQL at {describe_server(self.url)} "
                f"within {self.config.connect_timeout:g}s ({self._last_error()}): is the server "
                f"running and the URL right?"
            ) from None
        if self._replicas is not None:
            self._replicas.open()
        logger.info("pool %r open on %s", self.name, self.config.masked_url())

    def _last_error(self) -> str:
        try:  # connected as the pool connects: a pooler refusing its options says so here
            kwargs: dict[str, Any] = {**self.config.connect_kwargs(), "connect_timeout": 2}
            with psycopg.Connection.connect(self.url, **kwargs) as _:
                return "the server answers now"
        except psycopg.Error as exc:
            text = " ".join(str(exc).split())
            return (self.config.redact(text)[:300] or type(exc).__name__) + pooler_hint(text)

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
    def _borrow(self, *, autocommit: bool = False, raw: bool = False, what: str = "database",
                reads: bool = False) -> Iterator[AuraConnection]:
        """A primary connection; unless the borrower ``reads`` only, what it did counts as a
        commit replica reads must see (read-your-writes)."""
        self._guard()
        try:
            with self._pool.borrowed(autocommit=autocommit, raw=raw, what=what) as conn:
                yield conn
        finally:
            if not reads and self._replicas is not None:
                with self._commits_lock:
                    self._commits += 1

    def _replay_target(self) -> int:
        """The WAL position (bytes) a replica must have replayed to show this Database's
        commits: the primary's, asked once after each batch of commits."""
        commits = self._commits
        if commits == self._target_commits:
            return self._target_lsn
        with self._borrow(autocommit=True, reads=True) as conn:
            row = conn.execute(REPLAY_TARGET).fetchone()
        with self._commits_lock:
            if commits > self._target_commits:
                self._target_commits = commits
                self._target_lsn = max(self._target_lsn, int(row[0]) if row else 0)
            return self._target_lsn

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        """Borrow a connection; it commits on normal exit and rolls back on an exception.
        Whatever the block changes in the session is undone (DISCARD ALL) when it goes back."""
        with self._borrow(raw=True, what="connection") as conn:
            yield conn

    def _connector(self) -> AbstractContextManager[psycopg.Connection[Any]]:
        """The borrow behind repository calls made outside a transaction: autocommit, so a
        one-statement call costs one round trip (no BEGIN/COMMIT). A repository method that runs
        several statements that must hold together opens ``conn.transaction()`` itself.
        A read (``ROUTE``) goes to a replica in rotation when there is one. Behind a
        transaction pooler: :meth:`_pooled_call`."""
        if self._replicas is not None and ROUTE.get() == "replica":
            return self._replica_call()
        if self.config.transaction_pooled:
            return self._pooled_call(self._borrow(what="database"))
        return self._borrow(autocommit=True)

    @contextmanager
    def _replica_call(self) -> Iterator[AuraConnection]:
        """A read on a replica that has replayed this Database's commits, else on the primary."""
        self._guard()
        assert self._replicas is not None
        pooled = self.config.transaction_pooled
        with self._replicas.borrow(self._replay_target, "replica", autocommit=not pooled) as conn:
            if conn is None:
                with (self._pooled_call(self._borrow(what="database", reads=True)) if pooled
                      else self._borrow(autocommit=True, reads=True)) as primary:
                    yield primary
            elif pooled:
                with self._pooled_call(nullcontext(conn)) as scoped:
                    yield scoped
            else:
                yield conn

    @contextmanager
    def _pooled_call(self, borrow: AbstractContextManager[AuraConnection],
                     ) -> Iterator[AuraConnection]:
        """A call outside a transaction, behind a transaction pooler: the session defaults
        cannot live in the session, so the call runs in a transaction of its own that sets them
        first (BEGIN and the settings sent together: one round trip more than direct, plus the
        COMMIT). ``conn.call_transaction`` tells repository code that this transaction is the
        call's own, not the caller's."""
        with borrow as conn:
            with conn.pipeline():
                self._scope(conn, None, None)
            conn.call_transaction = True
            try:
                yield conn
            except ConnectionLost as exc:
                # broken before this transaction's COMMIT: nothing the call did was applied, a
                # write included, so it may run again (aura_db.retry.retryable)
                exc.rolled_back = not isinstance(exc, CommitOutcomeUnknown)
                raise
            finally:
                conn.call_transaction = False

    def _scope(self, conn: AuraConnection, actor: str | None, workspace: str | None) -> None:
        """Set a new transaction's ``aura.actor`` and ``aura.workspace_id``; behind a
        transaction pooler also the session defaults (timeouts, ``config.workspace_id``), none
        of them read from the session, which other clients of the pooler share."""
        if self.config.transaction_pooled:
            conn.execute(_POOLED_SCOPE, (actor, workspace or self.config.workspace_id,
                                         *self.config.transaction_settings()))
        elif actor is not None or workspace is not None:
            conn.execute(_SCOPE, (actor, workspace))

    def _retry_policy(self) -> RetryPolicy | None:
        return self.retry

    @contextmanager
    def transaction(self, actor: str | None = None, *,
                    workspace: str | None = None) -> Iterator[Transaction]:
        """Borrow a connection inside one transaction; ``actor`` fills the audit columns
        (``created_by`` / ``updated_by``) through the transaction-local setting ``aura.actor``;
        ``workspace`` (a workspace id) scopes it for row-level security (``aura.workspace_id``,
        over ``config.workspace_id``): with ``aura-db isolation on``, the block sees and writes
        that workspace's rows only.

        Everything in the block commits together or rolls back together on an exception. When
        the connection breaks during the COMMIT, :class:`CommitOutcomeUnknown` says so.
        """
        if workspace is not None:
            check_workspace_id(workspace)
        with self._borrow(what="transaction") as conn:
            body_done = False
            try:
                with conn.transaction():
                    self._scope(conn, actor, workspace)
                    yield Transaction(conn, self._pool.touch)
                    body_done = True
            except psycopg.Error as exc:
                raise translate(exc, "transaction", committing=body_done) from exc

    def run_transaction(self, work: Work[T], *, actor: str | None = None,
                        workspace: str | None = None, attempts: int | None = None) -> T:
        """Run ``work(tx)`` in a transaction and return its result, running it again (in a new
        transaction) when the server rolled it back — serialization failure, deadlock, lock
        timeout — or the connection was lost before COMMIT; never after a COMMIT whose outcome
        is unknown. ``work`` must be safe to run more than once (no side effects outside the
        database). Attempts, backoff and total time follow ``config.retry_*``."""
        policy = self.retry if attempts is None else RetryPolicy(
            attempts=attempts, backoff=self.retry.backoff, max_backoff=self.retry.max_backoff,
            deadline=self.retry.deadline)
        result: T = retrying(policy, self._once, (work, actor, workspace), {}, wrote=False,
                             what="run_transaction")
        return result

    def _once(self, work: Work[T], actor: str | None, workspace: str | None) -> T:
        with self.transaction(actor, workspace=workspace) as tx:
            return work(tx)

    def health(self) -> Health:
        """Server and pgvector versions, pool statistics and the pending-migration count."""
        with self.connection() as conn:
            cur = conn.execute(
                "SELECT current_setting('server_version'), "
                "(SELECT extversion FROM pg_extension WHERE extname = 'vector')")
            row = cur.fetchone()
        assert row is not None
        return Health(
            server=self.config.masked_url(),
            server_version=str(row[0]),
            pgvector_version=row[1],
            pool=self._pool.stats(),
            pending_migrations=to_thread(self._guarded, lambda: migrations.pending_count(self.url)),
            replicas=tuple(self.replica_status()),
        )

    def replica_status(self) -> list[ReplicaStatus]:
        """Each read replica: in rotation or why not, its lag at the last check, reads served."""
        return self._replicas.status() if self._replicas is not None else []

    def migrate(self, settings: migrations.MigrationSettings | None = None) -> list[str]:
        """Apply pending migrations (see :func:`aura_db.migrations.migrate`), then renew the
        pool's connections so they see the new types. (Async: yoyo runs on a worker thread.)"""
        self._guard()
        applied: list[str] = to_thread(
            self._guarded, lambda: migrations.migrate(self.migration_url, settings=settings))
        if applied:
            self._pool.types.forget()
            self._pool.drain()
            if self._replicas is not None:
                self._replicas.forget_types()
        return applied

    @staticmethod
    def _guarded(work: Callable[[], T]) -> T:
        try:
            return work()
        except psycopg.Error as exc:
            raise translate(exc, "migrations") from exc

    def close(self, timeout: float | None = None) -> None:
        """Close the pool: refuse new borrows at once, wait up to ``timeout`` seconds (default
        ``config.close_timeout``) for connections in use to come back, then close every
        connection (one still in use after the wait is closed when it is returned)."""
        if os.getpid() != self._pid:
            return  # a forked child must not close the parent's sockets
        timeout = self.config.close_timeout if timeout is None else timeout
        self._closing = True
        deadline = time.monotonic() + timeout
        while (busy := self._pool.in_use()) and time.monotonic() < deadline:
            sleep(0.01)
        if busy:
            logger.warning("closing pool %r with %d connection(s) still in use after %gs",
                           self.name, busy, timeout)
        self._pool.close(timeout=max(deadline - time.monotonic(), 0.0))
        if self._replicas is not None:
            self._replicas.close(timeout=max(deadline - time.monotonic(), 0.0))

    @property
    def closed(self) -> bool:
        return self._pool.closed

    def __enter__(self) -> Database:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<Database {self.name!r} {state} {self.config.masked_url()}>"

