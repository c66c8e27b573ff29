"""Config, the pooled Database and the embedded server, on real servers."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pgvector import Vector

from aura_db import Config, ConfigError, Database, PgvectorMissing, PoolClosed, PoolForked, ServerUnavailable
from aura_db.config import mask_dsn, normalize_url
from aura_db.connection_sync import AuraConnection
from aura_db.migrations import migrate
from tests.fix_db import PgServer

SECRET = "s3cr3t-pw"


# -- configuration ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        (f"postgresql://alice:{SECRET}@db:5432/aura", "postgresql://alice:***@db:5432/aura"),
        (f"postgresql+psycopg://alice:{SECRET}@db/aura", "postgresql+psycopg://alice:***@db/aura"),
        (f"host=db password={SECRET} dbname=aura", "host=db password=*** dbname=aura"),
        (f"host=db password='{SECRET} x' user=a", "host=db password=*** user=a"),
        (f"postgresql://db/aura?user=a&password={SECRET}", "postgresql://db/aura?user=a&password=***"),
        ("postgresql://alice@db/aura", "postgresql://alice@db/aura"),
    ],
)
def test_mask_dsn(text: str, masked: str) -> None:
    assert mask_dsn(text) == masked


def test_sqlalchemy_style_url_is_accepted() -> None:
    assert normalize_url(f"postgresql+psycopg://u:{SECRET}@h:5/d") == f"postgresql://u:{SECRET}@h:5/d"


def test_unparsable_url_error_hides_the_password() -> None:
    with pytest.raises(ConfigError) as err:
        Config(url=f"postgresql+psycopg://user:{SECRET}@[bad/db")
    assert SECRET not in str(err.value)
    assert err.value.__cause__ is None and err.value.__suppress_context__
    assert str(err.value) == (
        "invalid database URL 'postgresql://user:***@[bad/db': end of string reached when looking "
        'for matching "]" in IPv6 host address in URI: "postgresql://user:***@[bad/db"'
    )


def test_config_from_env_reads_every_variable(tmp_path: Path) -> None:
    env = {
        "DATABASE_URL": "postgresql://fallback/x",
        "AURA_DATABASE_URL": "postgresql://primary/y",
        "AURA_DATA_DIR": str(tmp_path),
        "AURA_POOL_MIN_SIZE": "2",
        "AURA_POOL_MAX_SIZE": "7",
        "AURA_CONNECT_TIMEOUT": "4.5",
        "AURA_STATEMENT_TIMEOUT": "12",
        "AURA_IDLE_IN_TRANSACTION_TIMEOUT": "0",
        "AURA_APPLICATION_NAME": "aura-worker",
    }
    config = Config.from_env(env)
    assert (config.url, config.data_dir, config.min_size, config.max_size) == (
        "postgresql://primary/y", tmp_path, 2, 7)
    assert (config.connect_timeout, config.statement_timeout, config.idle_in_transaction_timeout) == (
        4.5, 12.0, 0.0)
    assert config.application_name == "aura-worker"
    assert Config.from_env({"DATABASE_URL": "postgresql://fallback/x"}).url == "postgresql://fallback/x"
    assert Config.from_env(env, max_size=3).max_size == 3
    assert Config.from_env({}).url is None


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"AURA_POOL_MAX_SIZE": "many"}, "AURA_POOL_MAX_SIZE must be a int, got 'many'"),
        ({"AURA_POOL_MIN_SIZE": "5", "AURA_POOL_MAX_SIZE": "2"}, "max_size must be >= min_size"),
        ({"AURA_CONNECT_TIMEOUT": "0"}, "connect_timeout must be > 0 seconds, got 0.0"),
        ({"AURA_STATEMENT_TIMEOUT": "-1"}, "statement_timeout must be >= 0 seconds, got -1.0"),
    ],
)
def test_bad_configuration_names_the_setting(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Config.from_env(env)


# -- the pool -----------------------------------------------------------------------------------


def test_health_reports_versions_pool_and_pending(db: Database) -> None:
    health = db.health()
    assert int(health.server_version.split(".")[0]) >= 15
    assert health.pgvector_version is not None and tuple(map(int, health.pgvector_version.split("."))) >= (0, 7)
    assert health.pending_migrations == 0
    assert health.pool["pool_min"] == 1 and health.pool["pool_max"] == 4
    lines = health.lines()
    assert lines[0].startswith("server: ")
    assert f"pgvector: {health.pgvector_version}" in lines


def test_sessions_get_the_configured_defaults(app_url: str) -> None:
    config = Config(url=app_url, statement_timeout=12.5, idle_in_transaction_timeout=0,
                    application_name="aura-test-app", max_size=1)
    with Database(config) as db, db.connection() as conn:
        row = conn.execute(
            "SELECT current_setting('application_name'), current_setting('statement_timeout'), "
            "current_setting('idle_in_transaction_session_timeout')"
        ).fetchone()
    assert row == ("aura-test-app", "12500ms", "0")


def test_reset_undoes_what_a_borrower_changed(app_url: str) -> None:
    with Database(Config(url=app_url, min_size=1, max_size=1)) as db:
        with db.connection() as conn:
            pid = conn.info.backend_pid
            conn.execute("SET search_path TO pg_catalog")
            conn.execute("SET statement_timeout = 1")
            conn.execute("SELECT pg_advisory_lock(42)")
        with db.connection() as conn:
            assert conn.info.backend_pid == pid
            row = conn.execute(
                "SELECT current_setting('search_path'), current_setting('statement_timeout'), "
                "(SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid())"
            ).fetchone()
    assert row == ('"$user", public', "30s", 0)


def test_killed_backend_never_reaches_the_caller(app_url: str, pg_server: PgServer) -> None:
    with Database(Config(url=app_url, min_size=1, max_size=1)) as db:
        with db.connection() as conn:
            old_pid = conn.info.backend_pid
        with psycopg.connect(pg_server.admin_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (old_pid,))
        time.sleep(0.2)
        with db.connection() as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
            assert conn.info.backend_pid != old_pid


def test_transaction_commits_together_or_not_at_all(db: Database, db_url: str) -> None:
    insert = ("INSERT INTO workspaces (id, name, path) VALUES (%s, %s, %s)")
    with pytest.raises(RuntimeError, match="boom"), db.transaction(actor="alice") as conn:
        conn.execute(insert, ("aaaaaaaaaaaaaaaa", "a", "/a"))
        raise RuntimeError("boom")
    with db.transaction(actor="alice") as conn:
        conn.execute(insert, ("bbbbbbbbbbbbbbbb", "b", "/b"))
    with psycopg.connect(db_url) as other:
        rows = other.execute("SELECT id, created_by FROM workspaces").fetchall()
    assert rows == [("bbbbbbbbbbbbbbbb", "alice")]


def test_vector_types_are_registered(db: Database) -> None:
    with db.connection() as conn:
        value = conn.execute("SELECT '[1,2,3]'::vector").fetchone()[0]  # type: ignore[index]
        halfvec = conn.execute("SELECT '[1,2]'::halfvec").fetchone()[0]  # type: ignore[index]
        echoed = conn.execute("SELECT %s::vector <=> %s::vector", (Vector([1, 0]), Vector([0, 1]))).fetchone()
    assert isinstance(value, Vector) and value.to_list() == [1.0, 2.0, 3.0]
    assert halfvec.to_list() == [1.0, 2.0]
    assert echoed == (1.0,)


def test_migrate_renews_connections_so_they_know_pgvector(empty_db_url: str) -> None:
    with Database(Config(url=empty_db_url, min_size=1, max_size=2)) as db:
        assert db.health().pending_migrations > 0
        assert db.health().pgvector_version is None
        applied = db.migrate()
        assert applied and applied[0] == "0001_workspaces"
        assert db.migrate() == []
        with db.connection() as conn:
            value = conn.execute("SELECT '[1,2]'::vector").fetchone()[0]  # type: ignore[index]
        assert isinstance(value, Vector)
        assert db.health().pending_migrations == 0


def test_forked_child_is_refused(db: Database) -> None:
    with db.connection() as conn:
        conn.execute("SELECT 1")
    pid = os.fork()
    if pid == 0:  # child: must refuse, and must not touch the parent's sockets
        code = 1
        try:
            with db.connection():
                pass
        except PoolForked as exc:
            code = 0 if "create a new Database in the child" in str(exc) else 2
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    with db.connection() as conn:  # the parent's pool still works
        assert conn.execute("SELECT 2").fetchone() == (2,)


def test_closed_port_gives_up_within_the_deadline_without_the_password() -> None:
    url = f"postgresql+psycopg://aura:{SECRET}@127.0.0.1:1/auradb"
    started = time.monotonic()
    with pytest.raises(ServerUnavailable) as err:
        Database(Config(url=url, connect_timeout=1.5))
    elapsed = time.monotonic() - started
    assert 1.0 <= elapsed < 8.0
    message = str(err.value)
    assert "could not connect to PostgreSQL at 127.0.0.1:1/auradb within 1.5s" in message
    assert "Connection refused" in message
    assert SECRET not in message
    assert err.value.__cause__ is None


def test_database_repr_masks_password(app_url: str) -> None:
    with Database(Config(url=app_url)) as db:
        assert "<Database 'aura' open" in repr(db)
    assert "closed" in repr(db)


# -- the embedded default server -----------------------------------------------------------------


def test_no_url_starts_the_embedded_server() -> None:
    root = Path(tempfile.mkdtemp(prefix="aura-embedded-"))  # outside pytest's pruned basetemp
    try:
        config = Config(url=None, data_dir=root / "aura-data", connect_timeout=20)
        with Database(config) as db:
            health = db.health()
            with db.connection() as conn:
                dbname = conn.execute("SELECT current_database()").fetchone()
        assert dbname == ("aura",)
        assert health.server == f"embedded server in {root / 'aura-data'}"
        assert health.pending_migrations > 0
        assert (root / "aura-data" / "pgdata" / "PG_VERSION").exists()
    finally:
        _stop_embedded(root / "aura-data" / "pgdata")
        shutil.rmtree(root, ignore_errors=True)


def _stop_embedded(pgdata: Path) -> None:
    from aura_db.embedded import start_server

    start_server(pgdata).cleanup()


# -- a server without pgvector (the machine's own PostgreSQL 15) ----------------------------------

PG15_BIN = Path("/usr/lib/postgresql/15/bin")


@pytest.fixture
def pg15_url(pg_server: PgServer) -> Iterator[str]:
    """A throwaway PostgreSQL 15 without pgvector, on a Unix socket in its own directory.
    (``pg_server`` first: as root, starting the embedded server creates the 'pgserver' user.)"""
    if not (PG15_BIN / "initdb").exists():
        pytest.fail(f"this test needs PostgreSQL 15 binaries in {PG15_BIN} (apt install postgresql-15)")
    root = Path(tempfile.mkdtemp(prefix="aura-pg15-"))  # not under pytest's 0700 tmp root
    user = "pgserver" if os.geteuid() == 0 else None  # initdb refuses to run as root
    if user:
        shutil.chown(root, user)
    data = root / "data"

    def run(*args: str) -> None:
        subprocess.run(args, check=True, capture_output=True, user=user, timeout=120)

    run(str(PG15_BIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust")
    run(str(PG15_BIN / "pg_ctl"), "-D", str(data), "-w", "-l", str(root / "log"),
        "-o", f"-k {root} -h '' -p 5415", "start")
    try:
        yield f"postgresql://postgres@/postgres?host={root}&port=5415"
    finally:
        run(str(PG15_BIN / "pg_ctl"), "-D", str(data), "-w", "-m", "immediate", "stop")
        shutil.rmtree(root, ignore_errors=True)


def test_server_without_pgvector_says_so_and_how_to_fix(pg15_url: str) -> None:
    with pytest.raises(PgvectorMissing) as err:
        migrate(pg15_url)
    message = str(err.value)
    assert "the pgvector extension is not available on the server" in message
    assert "(PostgreSQL 15." in message
    assert "apt install postgresql-15-pgvector" in message
    with psycopg.connect(pg15_url) as conn:  # nothing was applied
        assert conn.execute("SELECT count(*) FROM \"_yoyo_migration\"").fetchone() == (0,)
        assert conn.execute("SELECT to_regclass('workspaces')").fetchone() == (None,)




def test_close_waits_for_connections_in_use(app_url: str) -> None:
    import threading

    db = Database(Config(url=app_url, max_size=2))
    borrowed = threading.Event()
    finished: list[float] = []

    def work() -> None:
        with db.connection() as conn:
            borrowed.set()
            conn.execute("SELECT pg_sleep(0.5)")
        finished.append(time.monotonic())

    worker = threading.Thread(target=work)
    worker.start()
    assert borrowed.wait(5)
    db.close(timeout=10)
    closed_at = time.monotonic()
    worker.join(5)
    assert finished and finished[0] <= closed_at  # close returned only after the work was done
    assert db.closed
    with pytest.raises(PoolClosed, match="the pool 'aura' is closed or closing"), db.connection():
        pass


def test_close_gives_up_waiting_after_its_timeout(app_url: str) -> None:
    db = Database(Config(url=app_url, max_size=2))
    with db.connection() as conn:
        started = time.monotonic()
        db.close(timeout=0.3)
        assert 0.3 <= time.monotonic() - started < 2.0
        assert conn.execute("SELECT 1").fetchone() == (1,)  # the borrower is not cut off
    assert db.closed


# -- round trips on the pooled path (counted from libpq's protocol trace) ------------------------


def _messages(db: Database, work: Any) -> list[str]:
    path = Path(tempfile.mkdtemp()) / "trace"
    with open(path, "w") as trace:
        with db._connector() as conn:
            pgconn = conn.pgconn
        pgconn.trace(trace.fileno())
        pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)
        try:
            work()
        finally:
            pgconn.untrace()
    lines = path.read_text().splitlines()
    shutil.rmtree(path.parent)
    return lines


def test_a_repository_call_outside_a_transaction_is_one_round_trip(app_url: str) -> None:
    with Database(Config(url=app_url, min_size=1, max_size=1)) as db:
        story = db.stories.create("one round trip")
        for _ in range(8):
            db.stories.get(story.id)  # warm: psycopg prepares the statement on its 5th run
        lines = _messages(db, lambda: [db.stories.get(story.id) for _ in range(5)])
    assert sum("ReadyForQuery" in line for line in lines) == 5, lines
    assert not [line for line in lines if '"BEGIN"' in line or '"COMMIT"' in line or "DISCARD" in line]


def test_autocommit_is_switched_only_when_a_borrow_needs_the_other_mode(
        app_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A returned connection keeps its mode: repository calls in a row (autocommit) switch
    nothing, a transaction switches once, the call after it once again."""
    switches: list[bool] = []
    real = AuraConnection.set_autocommit

    def spy(self: AuraConnection, value: bool) -> None:
        switches.append(value)
        real(self, value)

    with Database(Config(url=app_url, min_size=1, max_size=1)) as db:
        story = db.stories.create("modes")
        monkeypatch.setattr(AuraConnection, "set_autocommit", spy)
        for _ in range(3):
            assert db.stories.get(story.id).title == "modes"
        assert switches == []
        with db.transaction() as tx:
            assert tx.stories.get(story.id).version == story.version
        assert switches == [False]
        db.stories.get(story.id)
        db.stories.get(story.id)
        assert switches == [False, True]


def test_raw_access_is_reset_and_an_idle_connection_is_checked(app_url: str) -> None:
    with Database(Config(url=app_url, min_size=1, max_size=1, check_after_idle=0)) as db:
        story = db.stories.create("checked")

        def raw_then_repository() -> None:
            with db.connection() as conn:  # raw access: DISCARD ALL when it goes back
                conn.execute("SELECT 1")
            db.stories.get(story.id)

        lines = _messages(db, raw_then_repository)
    queries = [line.split("Query", 1)[1].strip() for line in lines if "\tQuery\t" in line]
    # checkout check, BEGIN, SELECT 1, COMMIT, DISCARD ALL; then the repository call's check
    assert queries == ['""', '"BEGIN"', '"SELECT 1"', '"COMMIT"', '"DISCARD ALL"', '""'], queries


def test_a_transaction_using_only_repositories_skips_the_reset(app_url: str) -> None:
    with Database(Config(url=app_url, min_size=1, max_size=1)) as db:
        story = db.stories.create("tx")
        db.stories.get(story.id)

        def in_transaction() -> None:
            with db.transaction(actor="alice") as tx:
                tx.stories.get(story.id)

        lines = _messages(db, in_transaction)
    assert not [line for line in lines if "DISCARD" in line]
    assert sum("ReadyForQuery" in line for line in lines) == 4  # BEGIN, actor, SELECT, COMMIT


def test_the_pool_lends_the_connection_returned_last(app_url: str) -> None:
    """Last in, first out: calls in a row stay on one backend (a warm one) instead of rotating
    through every connection the pool holds; the others stay idle, the one idle longest first
    in line to be closed when the pool shrinks."""
    with Database(Config(url=app_url, min_size=3, max_size=3)) as db:
        pid = "SELECT pg_backend_pid()"
        with db._connector() as a, db._connector() as b, db._connector() as c:
            pids = [conn.execute(pid).fetchone()[0] for conn in (a, b, c)]  # type: ignore[index]
        # returned c, b, a (the with blocks end innermost first): a came back last
        seen = []
        for _ in range(5):
            with db._connector() as conn:
                seen.append(conn.execute(pid).fetchone()[0])  # type: ignore[index]
        assert len(set(pids)) == 3 and seen == [pids[0]] * 5
        with db._connector() as first, db._connector() as second:
            assert {first.execute(pid).fetchone()[0], second.execute(pid).fetchone()[0]} == {  # type: ignore[index]
                pids[0], pids[1]}  # the two returned last, not c, idle longest
