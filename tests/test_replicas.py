"""Read replicas on a real streaming replica (tests/replica.py: ``pg_basebackup`` of the test
server, hot standby on its own socket): reads routed to it, writes and transactions to the
primary, read-your-writes, and the rotation — a replica that lags, dies or is promoted leaves
it, costs no failed read, and comes back.

The replica is shared by the run (every test database is on it); a test that stops, pauses or
promotes it puts it back, or uses one of its own.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest

from aura_db import Config, Database, ReplicaStatus
from aura_db import errors as E
from aura_db.repositories.rag_chunks import Chunk
from tests import replica as replicas
from tests.fix_db import PgServer, replicated


def _db(app_url: str, urls: list[str], **settings: Any) -> Database:
    return Database(Config(url=app_url, min_size=1, max_size=4, connect_timeout=10, **settings), replicas=urls)


def _reads(db: Database) -> int:
    return sum(r.reads for r in db.replica_status())


def _out_of_rotation(db: Database, timeout: float = 15) -> ReplicaStatus:
    """The first replica's status once it is out of rotation (polled: it is back in rotation,
    to be checked, as soon as its replica_retry is over)."""
    deadline = time.monotonic() + timeout
    while (status := db.replica_status()[0]).in_rotation:
        assert time.monotonic() < deadline, "the replica stayed in rotation"
        time.sleep(0.01)
    return status


def _until(condition: Callable[[], bool], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.fixture
def paused(replica: Any, pg_server: PgServer, app_url: str) -> Iterator[psycopg.Connection[Any]]:
    """The shared replica with its replay paused for the test (resumed after), once it has
    replayed the test's database and schema."""
    replica.wait_replayed(pg_server.admin_url)
    with replica.superuser(pg_server.admin_url) as su:
        su.execute("SELECT pg_wal_replay_pause()")
        try:
            yield su
        finally:
            su.execute("SELECT pg_wal_replay_resume()")


def test_reads_go_to_the_replica_and_everything_else_to_the_primary(
        replica: Any, pg_server: PgServer, app_url: str, conn: psycopg.Connection[Any]) -> None:
    urls = replicated(replica, pg_server, app_url)
    with _db(app_url, urls) as db:
        story = db.stories.create("on the primary")
        assert db.stories.get(story.id).title == "on the primary"
        assert [s.id for s in db.stories.list()] == [story.id] and db.stories.count() == 1
        assert _reads(db) == 3
        with db.transaction() as tx:  # a transaction reads the primary
            assert tx.execute("SELECT pg_is_in_recovery()").fetchone() == (False,)
            assert tx.stories.get(story.id).id == story.id
        with db.connection() as raw:
            assert raw.execute("SELECT pg_is_in_recovery()").fetchone() == (False,)
        assert _reads(db) == 3
        status = db.replica_status()[0]
        assert status.in_rotation and status.reason is None and status.lag is not None
        assert any(line.startswith(f"replica {status.server}: in rotation") for line in db.health().lines())
    with psycopg.connect(urls[0]) as direct:  # what the Database read from is a hot standby
        assert direct.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)


def test_a_read_sees_the_replica_and_a_commit_from_elsewhere_once_replayed(
        replica: Any, pg_server: PgServer, app_url: str, conn: psycopg.Connection[Any],
        paused: psycopg.Connection[Any]) -> None:
    """Proof that the read ran on the replica: a row another client committed on the primary is
    not there while the replica's replay is paused; a transaction (the primary) sees it."""
    with _db(app_url, [replica.url(app_url)]) as db:
        sid = conn.execute("INSERT INTO stories (title) VALUES ('elsewhere') RETURNING id").fetchone()[0]  # type: ignore[index]
        with pytest.raises(E.NotFound, match="stories: no row with id"):
            db.stories.get(sid)
        with db.transaction() as tx:
            assert tx.stories.get(sid).title == "elsewhere"
        paused.execute("SELECT pg_wal_replay_resume()")
        replica.wait_replayed(pg_server.admin_url)
        assert db.stories.get(sid).title == "elsewhere"


def test_read_your_writes_on_the_replica(replica: Any, pg_server: PgServer, app_url: str) -> None:
    """Each write followed at once by a read of it: every read finds it, and the replica (having
    replayed the commit) serves them."""
    with _db(app_url, replicated(replica, pg_server, app_url)) as db:
        for i in range(60):
            story = db.stories.create(f"story {i}")
            assert db.stories.get(story.id).title == f"story {i}"
            with db.transaction() as tx:
                tx.stories.update(story.id, version=story.version, title=f"renamed {i}")
            assert db.stories.get(story.id).title == f"renamed {i}"
        assert db.stories.count() == 60
        assert _reads(db) >= 100  # (a read whose replica took over 0.5 s to replay: the primary)


def test_read_your_writes_falls_back_to_the_primary_when_the_replica_is_behind(
        replica: Any, pg_server: PgServer, app_url: str, paused: psycopg.Connection[Any]) -> None:
    with _db(app_url, [replica.url(app_url)], replica_wait=0.3) as db:
        before = _reads(db)
        story = db.stories.create("mine")
        started = time.monotonic()
        assert db.stories.get(story.id).title == "mine"  # waited 0.3 s, then read the primary
        assert time.monotonic() - started >= 0.25
        assert _reads(db) == before
        assert db.replica_status()[0].in_rotation  # behind on this commit is not out of rotation


def test_a_lagging_replica_leaves_the_rotation_and_comes_back(
        replica: Any, pg_server: PgServer, app_url: str, conn: psycopg.Connection[Any],
        paused: psycopg.Connection[Any]) -> None:
    with _db(app_url, [replica.url(app_url)], replica_max_lag=0.3, replica_retry=0.5,
             replica_wait=0.05) as db:
        sid = db.stories.create("known").id
        deadline = time.monotonic() + 10
        while db.replica_status()[0].in_rotation and time.monotonic() < deadline:
            conn.execute("INSERT INTO stories (title) VALUES ('wal to replay')")  # another client's
            assert db.stories.count() >= 1
            time.sleep(0.1)
        status = db.replica_status()[0]
        assert not status.in_rotation
        assert status.reason is not None and "lagging" in status.reason and "replica_max_lag 0.3s" in status.reason
        reads = _reads(db)
        assert db.stories.get(sid).title == "known"  # the primary, at once
        assert _reads(db) == reads
        paused.execute("SELECT pg_wal_replay_resume()")
        replica.wait_replayed(pg_server.admin_url)
        time.sleep(0.6)  # replica_retry: tried again at the next read
        assert db.stories.count() == conn.execute("SELECT count(*) FROM stories").fetchone()[0]  # type: ignore[index]
        assert db.replica_status()[0].in_rotation and _reads(db) == reads + 1


def test_a_killed_replica_costs_no_failed_read_and_rejoins(
        replica: Any, pg_server: PgServer, app_url: str) -> None:
    """4 threads read (get, list, search) while the replica is killed (immediate shutdown: its
    connections die mid-use) and started again: every read answers, and right."""
    rng = np.random.default_rng(3)
    vectors = [v / np.linalg.norm(v) for v in rng.standard_normal((20, 384)).astype(np.float32)]
    with _db(app_url, replicated(replica, pg_server, app_url), replica_retry=0.5) as db:
        ws = db.workspaces.upsert("/src/replicated")
        ids = [db.stories.create(f"s{i}").id for i in range(10)]
        db.rag_chunks.replace_content(ws.id, "a.py", [
            Chunk(content=f"chunk {i}", embedding=v, chunk_index=i) for i, v in enumerate(vectors)])
        failures: list[BaseException] = []
        answered = [0]
        stop = threading.Event()
        lock = threading.Lock()

        def read() -> None:
            n = 0
            while not stop.is_set():
                try:
                    assert db.stories.get(ids[n % 10]).title == f"s{n % 10}"
                    assert len(db.stories.list(limit=50)) == 10
                    assert db.rag_chunks.search(ws.id, vectors[n % 20], 1)[0].content == f"chunk {n % 20}"
                except BaseException as exc:
                    failures.append(exc)
                    return
                n += 1
                with lock:
                    answered[0] += 3

        threads = [threading.Thread(target=read) for _ in range(4)]
        for t in threads:
            t.start()
        try:
            _until(lambda: _reads(db) > 0)
            served = _reads(db)
            replica.stop("immediate")
            status = _out_of_rotation(db)
            time.sleep(0.5)  # reads go on while it is down (it is retried every 0.5 s, in vain)
            replica.start()
            time.sleep(1.0)
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=60)
        assert failures == []
        assert served > 0 and answered[0] > served
        assert not status.in_rotation and status.reason is not None
        replica.wait_replayed(pg_server.admin_url)
        deadline = time.monotonic() + 10
        before = _reads(db)
        while _reads(db) == before and time.monotonic() < deadline:
            assert db.stories.get(ids[0]).title == "s0"
            time.sleep(0.1)
        assert _reads(db) > before and db.replica_status()[0].in_rotation  # back in rotation


def test_a_promoted_replica_leaves_the_rotation(pg_server: PgServer, app_url: str) -> None:
    if pg_server.kind != "embedded" or pg_server.bin_dir is None:
        pytest.skip("a local streaming replica needs the embedded server")
    own = replicas.make(pg_server.admin_url, pg_server.bin_dir)
    try:
        with _db(app_url, [own.url(app_url)], replica_retry=0.3) as db:
            sid = db.stories.create("before").id
            assert db.stories.get(sid).title == "before" and _reads(db) == 1
            own.promote()
            time.sleep(1.1)  # the next check is due
            assert db.stories.get(sid).title == "before"
            status = db.replica_status()[0]
            assert not status.in_rotation and status.reason is not None and "promoted" in status.reason
            time.sleep(0.4)
            assert db.stories.get(sid).title == "before"  # checked again: still not a replica
            assert not db.replica_status()[0].in_rotation and _reads(db) == 1
    finally:
        own.remove()


def test_a_replica_that_is_down_at_start_does_not_stop_the_database(app_url: str, tmp_path: Any) -> None:
    down = psycopg.conninfo.make_conninfo(app_url, host=str(tmp_path), password="s3cret-pw")
    with _db(app_url, [down], replica_retry=60) as db:
        sid = db.stories.create("primary only").id
        assert db.stories.get(sid).title == "primary only"
        status = db.replica_status()[0]
        assert not status.in_rotation and status.reason is not None and "unreachable" in status.reason
        assert "s3cret-pw" not in repr(db.config) and "s3cret-pw" not in status.reason
        assert "s3cret-pw" not in "\n".join(db.health().lines())


def test_replicas_from_the_environment() -> None:
    config = Config.from_env({"AURA_REPLICA_URLS": " postgresql://r1/db\npostgresql://u:pw@r2/db ",
                              "AURA_REPLICA_MAX_LAG": "2.5", "AURA_REPLICA_WAIT": "0",
                              "AURA_REPLICA_RETRY": "7"})
    assert config.replicas == ("postgresql://r1/db", "postgresql://u:pw@r2/db")
    assert (config.replica_max_lag, config.replica_wait, config.replica_retry) == (2.5, 0.0, 7.0)
    assert "pw@" not in repr(config)
    with pytest.raises(E.ConfigError, match="replica_max_lag must be > 0"):
        Config(replica_max_lag=0)
    with pytest.raises(E.ConfigError, match="replicas must be a list"):
        Config(replicas="postgresql://r1/db")  # type: ignore[arg-type]
    with pytest.raises(E.ConfigError, match="invalid database URL"):
        Config(replicas=("postgresql://u:pw@r1:notaport/db x=",))


def test_behind_pgbouncer_reads_go_to_the_replica_with_their_scope_set_per_transaction(
        replica: Any, pgbouncer: Any, pg_server: PgServer, app_url: str, db_url: str) -> None:
    """Primary through PgBouncer (pooler="transaction"), replica direct: a replica read runs in
    a transaction of its own that sets the statement timeout and the workspace scope (row-level
    security on), so a scoped Database sees its workspace alone on the replica too."""
    from aura_db.ops.isolation import set_isolation

    urls = replicated(replica, pg_server, app_url)
    settings: dict[str, Any] = {"url": pgbouncer.url(app_url), "pooler": "transaction", "min_size": 1,
                                "max_size": 4, "connect_timeout": 10, "statement_timeout": 7}
    with Database(Config(**settings), replicas=urls) as db:
        a, b = db.workspaces.upsert("/src/a"), db.workspaces.upsert("/src/b")
    set_isolation(db_url, True)
    replica.wait_replayed(pg_server.admin_url)
    with Database(Config(**settings, workspace_id=a.id), replicas=urls) as scoped:
        for _ in range(3):
            assert [w.id for w in scoped.workspaces.list()] == [a.id]
            assert scoped.workspaces.get(a.id).path == "/src/a"
            with pytest.raises(E.NotFound):
                scoped.workspaces.get(b.id)
        assert _reads(scoped) == 9
        with scoped._replicas.borrow(lambda: 0, "probe", autocommit=False) as conn:  # type: ignore[union-attr]
            assert conn is not None
            with scoped._pooled_call(nullcontext(conn)) as call:
                assert call.execute("SELECT pg_is_in_recovery(), current_setting('statement_timeout'), "
                                    "current_setting('aura.workspace_id')").fetchone() == (True, "7s", a.id)


def _replica_processes(replica: Any) -> list[int]:
    """The replica's postmaster and its children (the backends, the WAL receiver)."""
    postmaster = int((replica.data_dir / "postmaster.pid").read_text().split()[0])
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == postmaster:
            children.append(int(stat.parent.name))
    return [postmaster, *children]


def test_a_frozen_replica_costs_bounded_time_and_no_failed_read(
        replica: Any, pg_server: PgServer, app_url: str) -> None:
    """Every process of the replica stopped (SIGSTOP: it accepts connections and never
    answers): reads keep answering, each within the call deadline plus a connection wait, the
    replica leaves the rotation, and it comes back once it runs again."""
    with _db(app_url, replicated(replica, pg_server, app_url), call_deadline=1, replica_retry=0.5) as db:
        sid = db.stories.create("frozen").id
        assert db.stories.get(sid).title == "frozen" and _reads(db) == 1
        slowest, failures = [0.0], []

        def read() -> None:
            for _ in range(8):
                started = time.monotonic()
                try:
                    assert db.stories.get(sid).title == "frozen"
                except BaseException as exc:
                    failures.append(exc)
                slowest[0] = max(slowest[0], time.monotonic() - started)
                time.sleep(0.1)

        stopped = _replica_processes(replica)
        for pid in stopped:
            os.kill(pid, signal.SIGSTOP)
        try:
            threads = [threading.Thread(target=read) for _ in range(2)]
            for t in threads:
                t.start()
            status = _out_of_rotation(db)
            for t in threads:
                t.join(timeout=60)
        finally:
            for pid in stopped:
                os.kill(pid, signal.SIGCONT)
        assert failures == []
        assert slowest[0] < 3.5, slowest  # deadline (1 s) + a connection wait (1 s) + a retry
        assert not status.in_rotation and status.reason is not None
        replica.wait_replayed(pg_server.admin_url)
        deadline = time.monotonic() + 15
        while db.replica_status()[0].reads == 1 and time.monotonic() < deadline:
            assert db.stories.get(sid).title == "frozen"
            time.sleep(0.2)
        assert _reads(db) > 1 and db.replica_status()[0].in_rotation
