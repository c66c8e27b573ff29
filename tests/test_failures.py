"""The failure contract: every PostgreSQL failure reaches the caller as its aura-db class (with
psycopg's error as ``__cause__`` and its SQLSTATE readable), safe work is retried and unsafe work
is not, transactions run again through ``run_transaction``, and nothing one borrower does to a
session is seen by the next."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql

from aura_db import Config, Database
from aura_db import errors as E
from aura_db._retry_sync import retrying
from aura_db.queries import Query
from aura_db.retry import RetryPolicy, retryable
from tests.fix_db import POOLED

# -- the taxonomy --------------------------------------------------------------------------------

TAXONOMY = [
    # SQLSTATE, message, aura-db class, retried (reads and idempotent writes outside a transaction)
    ("40001", "could not serialize access", E.SerializationConflict, True),
    ("40P01", "deadlock detected", E.Deadlock, True),
    ("55P03", "canceling statement due to lock timeout", E.LockTimeout, True),
    ("57014", "canceling statement due to statement timeout", E.StatementTimeout, False),
    ("57014", "canceling statement due to user request", E.QueryCanceled, False),
    ("42501", "permission denied for table stories", E.PermissionDenied, False),
    ("25P03", "terminating connection due to idle-in-transaction timeout", E.IdleInTransactionTimeout, False),
    ("57P01", "terminating connection due to administrator command", E.ConnectionLost, True),
    ("57P03", "the database system is starting up", E.ConnectionLost, True),
    ("08006", "connection failure", E.ConnectionLost, True),
    ("23505", "duplicate key value violates unique constraint", E.AlreadyExists, False),
    ("23503", "insert or update violates foreign key constraint", E.NotFound, False),
    ("23514", "new row violates check constraint", E.InvalidValue, False),
    ("22P02", "invalid input syntax", E.InvalidValue, False),
    ("53100", "could not extend file: No space left on device", E.DatabaseError, False),
]


def _raise(code: str, message: str) -> sql.Composed:
    return sql.SQL("DO $$ BEGIN RAISE EXCEPTION USING ERRCODE = {}, MESSAGE = {}; END $$").format(
        sql.Literal(code), sql.Literal(message))


@pytest.mark.parametrize(("code", "message", "cls", "retried"), TAXONOMY,
                         ids=[f"{t[0]}-{t[2].__name__}" for t in TAXONOMY])
def test_each_sqlstate_becomes_its_class(db: Database, code: str, message: str, cls: type[E.AuraError],
                                         retried: bool) -> None:
    for where in ("connection", "transaction"):
        with pytest.raises(E.AuraError) as caught:
            if where == "connection":
                with db.connection() as conn:
                    conn.execute(_raise(code, message))
            else:
                with db.transaction() as tx:
                    tx.execute(_raise(code, message))
        err = caught.value
        assert type(err) is cls, (where, type(err), err)
        assert isinstance(err.__cause__, psycopg.Error)
        assert err.sqlstate == code
        assert retryable(err, wrote=False) is retried
        assert retryable(err, wrote=True) is (retried and issubclass(cls, E.TransactionConflict | E.LockTimeout))
    assert db.health().server_version  # the pool is fine afterwards


def test_the_classes_are_also_the_builtin_errors_callers_expect() -> None:
    assert issubclass(E.InvalidValue, ValueError)
    for timeout in (E.StatementTimeout, E.LockTimeout, E.PoolExhausted, E.DeadlineExceeded,
                    E.IdleInTransactionTimeout):
        assert issubclass(timeout, E.AuraTimeout) and issubclass(timeout, TimeoutError)
    assert issubclass(E.CommitOutcomeUnknown, E.ConnectionLost)
    assert issubclass(E.ConnectionLost, E.ServerUnavailable)
    assert not E.CommitOutcomeUnknown.retryable


def test_real_timeouts_are_typed(app_url: str) -> None:
    with Database(Config(url=app_url, min_size=1, max_size=2, statement_timeout=0.5, lock_timeout=0.1)) as db:
        with pytest.raises(E.StatementTimeout, match="statement timeout") as caught, db.connection() as conn:
            conn.execute("SELECT pg_sleep(3)")
        assert caught.value.sqlstate == "57014"
        story = db.stories.create("locked")
        with db.transaction() as holder:
            holder.execute("SELECT * FROM stories WHERE id = %s FOR UPDATE", (story.id,))
            started = time.monotonic()
            with pytest.raises(E.LockTimeout):
                db.stories.update(story.id, version=story.version, title="waits")
            assert time.monotonic() - started < 2  # tried a few times, each bounded by lock_timeout
        assert db.stories.get(story.id).title == "locked"


def test_permission_denied_is_typed(db: Database) -> None:
    # the application role may not create anything, so this is a real 42501
    with pytest.raises(E.PermissionDenied, match="permission denied for schema public") as caught, \
            db.connection() as conn:
        conn.execute("CREATE TABLE not_allowed (i int)")
    assert caught.value.sqlstate == "42501"


def test_pool_exhaustion_is_typed_and_bounded(app_url: str) -> None:
    with Database(Config(url=app_url, min_size=1, max_size=1, pool_wait=0.3)) as db:
        with db.connection():
            started = time.monotonic()
            with pytest.raises(E.PoolExhausted, match="all 1 are in use"):
                db.stories.count()
            assert 0.25 < time.monotonic() - started < 1.5
        assert db.stories.count() == 0


# -- retries ---------------------------------------------------------------------------------------

@pytest.fixture
def kill_first(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """Make the first run of one named query lose its connection: before it (``when="before"``)
    or after it ran and committed (``"after"``)."""
    plan: dict[str, Any] = {"query": None, "when": "before", "runs": 0}
    for method in ("optional", "one"):
        original = getattr(Query, method)

        def wrapped(self: Query, conn: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            if self.name != plan["query"]:
                return _original(self, conn, *args, **kwargs)
            plan["runs"] += 1
            if plan["runs"] == 1 and plan["when"] == "before":
                conn.execute("SELECT pg_terminate_backend(pg_backend_pid())")
            result = _original(self, conn, *args, **kwargs)
            if plan["runs"] == 1 and plan["when"] == "after":
                conn.execute("SELECT pg_terminate_backend(pg_backend_pid())")
            return result

        monkeypatch.setattr(Query, method, wrapped)
    yield plan


def test_a_read_that_lost_its_connection_is_retried(db: Database, kill_first: dict[str, Any]) -> None:
    story = db.stories.create("read me")
    kill_first["query"] = "get_story"
    assert db.stories.get(story.id).title == "read me"
    assert kill_first["runs"] == 2


@pytest.mark.skipif(POOLED, reason="behind a transaction pooler the write runs in a transaction of its own, "
                    "which the kill rolls back: tests/test_pooler.py proves it is then run again")
def test_a_write_that_lost_its_connection_is_not_retried_and_says_so(
        db: Database, kill_first: dict[str, Any]) -> None:
    kill_first.update(query="create_story", when="after")
    with pytest.raises(E.CommitOutcomeUnknown, match="may or may not have been applied"):
        db.stories.create("written once")
    assert kill_first["runs"] == 1
    # it had been applied (autocommit): exactly once
    assert db.stories.count(title_contains="written once") == 1


def test_retries_are_bounded(app_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def always_lost(*args: Any, **kwargs: Any) -> Any:
        calls.append(time.monotonic())
        raise psycopg.errors.AdminShutdown("terminating connection due to administrator command")

    with Database(Config(url=app_url, min_size=1, max_size=2, retry_attempts=3, retry_backoff=0.05)) as db:
        story = db.stories.create("x")
        monkeypatch.setattr(Query, "optional", always_lost)
        with pytest.raises(E.ConnectionLost):
            db.stories.get(story.id)
    assert len(calls) == 3
    assert calls[-1] - calls[0] < 1.0


def test_retry_policy_respects_its_deadline() -> None:
    policy = RetryPolicy(attempts=100, backoff=0.05, max_backoff=0.05, deadline=0.3)
    tries = []

    def lost() -> None:
        tries.append(1)
        raise E.ConnectionLost("gone")

    started = time.monotonic()
    with pytest.raises(E.ConnectionLost):
        retrying(policy, lost, (), {}, wrote=False, what="test")
    assert time.monotonic() - started < 0.5
    assert 3 <= len(tries) < 100


def test_run_transaction_runs_the_body_again_after_a_conflict(db: Database) -> None:
    attempts = []

    def work(tx: Any) -> str:
        attempts.append(1)
        story = tx.stories.create(f"attempt {len(attempts)}")
        if len(attempts) == 1:
            tx.execute(_raise("40001", "could not serialize access due to concurrent update"))
        return story.title

    assert db.run_transaction(work, actor="bob") == "attempt 2"
    stories = db.stories.list()
    assert [s.title for s in stories] == ["attempt 2"]  # the first attempt rolled back
    assert stories[0].created_by == "bob"


def test_run_transaction_runs_again_after_the_connection_was_lost_before_commit(db: Database) -> None:
    attempts = []

    def work(tx: Any) -> None:
        attempts.append(1)
        tx.configurations.set("n", len(attempts))
        if len(attempts) == 1:
            tx.execute("SELECT pg_terminate_backend(pg_backend_pid())")

    db.run_transaction(work)
    assert len(attempts) == 2
    assert db.configurations.get("n") == 2


def test_run_transaction_gives_up_after_its_attempts(db: Database) -> None:
    attempts = []

    def work(tx: Any) -> None:
        attempts.append(1)
        tx.execute(_raise("40P01", "deadlock detected"))

    with pytest.raises(E.Deadlock):
        db.run_transaction(work, attempts=2)
    assert len(attempts) == 2


def test_run_transaction_does_not_retry_other_errors(db: Database) -> None:
    attempts = []

    def work(tx: Any) -> None:
        attempts.append(1)
        raise KeyError("the caller's own bug")

    with pytest.raises(KeyError):
        db.run_transaction(work)
    assert len(attempts) == 1


def test_a_real_deadlock_is_resolved_by_run_transaction(db: Database) -> None:
    db.configurations.set("a", 0)
    db.configurations.set("b", 0)
    barrier = threading.Barrier(2, timeout=10)
    attempts: dict[str, int] = {"ab": 0, "ba": 0}
    errors: list[BaseException] = []

    def transfer(order: str) -> None:
        def work(tx: Any) -> None:
            attempts[order] += 1
            first, second = order[0], order[1]
            tx.execute("UPDATE configurations SET value = to_jsonb(value::int + 1) WHERE key = %s", (first,))
            if attempts[order] == 1:
                barrier.wait()
            tx.execute("UPDATE configurations SET value = to_jsonb(value::int + 1) WHERE key = %s", (second,))

        try:
            db.run_transaction(work)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=transfer, args=(o,)) for o in ("ab", "ba")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    assert sorted(attempts.values()) == [1, 2]  # the deadlock victim ran again
    assert db.configurations.get("a") == 2 and db.configurations.get("b") == 2


# -- nothing survives a borrower ------------------------------------------------------------------

@pytest.fixture
def one(app_url: str) -> Iterator[Database]:
    """A pool of one connection, so the next borrower gets the same session."""
    with Database(Config(url=app_url, min_size=1, max_size=1)) as db:
        yield db


def _pid(db: Database) -> int:
    with db.connection() as conn:
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
    assert row is not None
    return int(row[0])


def test_a_temp_table_does_not_shadow_the_real_one_for_the_next_borrower(one: Database, db_url: str) -> None:
    pid = _pid(one)
    with one.connection() as conn:
        conn.execute("CREATE TEMP TABLE configurations (LIKE public.configurations INCLUDING ALL)")
    row = one.configurations.set("x", 1)  # acknowledged ...
    assert row.value == 1
    with psycopg.connect(db_url) as plain:  # ... and in the real table
        assert plain.execute("SELECT value FROM public.configurations WHERE key = 'x'").fetchone() == (1,)
    assert _pid(one) == pid  # the same session, cleaned — not a new connection


def test_session_state_is_discarded_between_borrowers(admin_url: str) -> None:
    # SET SESSION AUTHORIZATION needs a superuser's session: this pool is the superuser's
    with Database(Config(url=admin_url, min_size=1, max_size=1)) as one:
        _session_state_is_discarded(one)


def _session_state_is_discarded(one: Database) -> None:
    role = f"aura_leak_{uuid.uuid4().hex[:8]}"
    with one.connection() as conn:
        conn.execute(sql.SQL("CREATE ROLE {}").format(sql.Identifier(role)))
        me = conn.execute("SELECT current_user").fetchone()
    pid = _pid(one)
    with one.connection() as conn:
        conn.execute("PREPARE leaked AS SELECT 1")
        conn.execute("DECLARE held CURSOR WITH HOLD FOR SELECT 1")
        conn.execute("SET search_path = pg_catalog")
        conn.execute("SET statement_timeout = 0")
        conn.execute("SELECT pg_advisory_lock(4242)")
        conn.execute("LISTEN leak_channel")
        conn.execute(sql.SQL("SET SESSION AUTHORIZATION {}").format(sql.Identifier(role)))
    with one.transaction() as tx:  # raw access inside a transaction counts too
        tx.conn.execute("SET SESSION default_transaction_read_only = on")
    with one.connection() as conn:
        state = conn.execute(
            "SELECT current_user, session_user, current_setting('search_path'),"
            " current_setting('statement_timeout'), current_setting('default_transaction_read_only'),"
            " (SELECT count(*) FROM pg_prepared_statements WHERE name = 'leaked'),"
            " (SELECT count(*) FROM pg_cursors WHERE name = 'held'),"
            " (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()),"
            " (SELECT count(*) FROM pg_listening_channels()), pg_backend_pid()").fetchone()
    assert me is not None and state is not None
    assert state[0] == me[0] and state[1] == me[0]
    assert state[2] == '"$user", public'
    assert state[3] == "30s"  # the configured default, not the borrower's 0
    assert state[4] == "off"
    assert state[5:9] == (0, 0, 0, 0)
    assert state[9] == pid
    assert one.stories.create("after the leaks").title == "after the leaks"
    with one.connection() as conn:
        conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_client_side_state_is_reset_between_borrowers(one: Database) -> None:
    """What raw code sets on the psycopg connection itself (loaders, dumpers, notice and
    notify handlers) is undone too: the next borrower gets the pool's connection as it was."""
    from psycopg.types.string import TextLoader

    story = one.stories.create("client state")
    assert one.stories.get(story.id).current_wave == 0  # a spare cursor now holds int4's loader
    pid = _pid(one)
    with one.connection() as conn:
        vector = type(conn.execute("SELECT '[1,2]'::vector").fetchone()[0])
    assert vector is not str  # pgvector's loader, registered by the pool
    heard: list[str] = []
    with one.connection() as conn:
        conn.adapters.register_loader("int4", TextLoader)  # int4 columns come back as str
        conn.add_notice_handler(lambda diag: heard.append(str(diag.message_primary)))
        conn.add_notify_handler(lambda note: heard.append(note.payload))
        assert conn.execute("SELECT 7").fetchone() == ("7",)
    row = one.stories.get(story.id)
    assert row.current_wave == 0 and type(row.current_wave) is int
    with one.connection() as conn:
        assert conn.execute("SELECT 7").fetchone() == (7,)
        assert type(conn.execute("SELECT '[1,2]'::vector").fetchone()[0]) is vector
        conn.execute("DO $$ BEGIN RAISE NOTICE 'to nobody'; END $$")
    assert heard == []
    assert _pid(one) == pid  # the same session, cleaned


def test_psycopg_prepared_statements_survive_repeated_cleaning(one: Database) -> None:
    """DISCARD ALL drops the server's prepared statements; psycopg must forget its own every
    time (it notices only the first DISCARD ALL on a connection by itself)."""
    story = one.stories.create("prepared")
    for _ in range(4):
        for _ in range(8):  # prepared from the 5th run on
            assert one.stories.get(story.id).id == story.id
        with one.connection() as conn:
            conn.execute("SELECT 1")


def test_a_connection_returned_mid_transaction_is_rolled_back(one: Database, db_url: str) -> None:
    with pytest.raises(RuntimeError), one.connection() as conn:
        conn.execute("INSERT INTO configurations (key, value) VALUES ('half', '1')")
        raise RuntimeError("the caller failed")
    assert one.configurations.find("half") is None
    with one.connection() as conn:
        assert conn.execute("SELECT count(*) FROM configurations WHERE key = 'half'").fetchone() == (0,)


# -- the client deadline ----------------------------------------------------------------------------

def test_the_deadline_ends_a_wait_and_unbounded_lifts_it(app_url: str) -> None:
    from aura_db.connection import unbounded

    with Database(Config(url=app_url, min_size=1, max_size=1, statement_timeout=0, call_deadline=0.3)) as db:
        started = time.monotonic()
        with pytest.raises(E.DeadlineExceeded, match="deadline"), db.connection() as conn:
            conn.execute("SELECT pg_sleep(2)")
        assert time.monotonic() - started < 1.3
        with db.connection() as conn, unbounded(conn):
            assert conn.execute("SELECT pg_sleep(0.5), 1").fetchone() == ("", 1)
        assert db.stories.count() == 0  # the pool replaced the abandoned connection


def test_an_index_build_is_not_cut_off_by_the_call_deadline(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # as the owner, whose builds run CONCURRENTLY on the pooled connection itself
    with Database(Config(url=db_url, min_size=1, max_size=2)) as db:
        _index_build_is_unbounded(db, monkeypatch)


def _index_build_is_unbounded(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    from aura_db.connection import AuraConnection

    seen: list[float | None] = []
    original = AuraConnection.execute

    def spy(self: AuraConnection, query: Any, *args: Any, **kwargs: Any) -> Any:
        text = query.as_string(self) if isinstance(query, sql.Composable) else str(query)
        if text.startswith("CREATE INDEX"):
            seen.append(self.deadline)
        return original(self, query, *args, **kwargs)

    monkeypatch.setattr(AuraConnection, "execute", spy)
    db.rag_chunks.drop_search_index(384)
    db.rag_chunks.build_search_index(384)
    assert seen == [None]
    assert db.config.deadline is not None
    from aura_db.repositories.rag_search import index_name

    assert [i.valid for i in db.rag_chunks.search_indexes() if i.name == index_name(384)] == [True]
