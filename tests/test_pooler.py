"""aura-db behind a real PgBouncer in transaction pooling mode (Debian's package, started by the
harness in front of the test server: tests/pgbouncer.py), with ``pooler="transaction"``.

PgBouncer lends each client transaction any of 3 server connections of the database, so several
clients share backends: what one of them leaves in a session, another would see. This is the
smoke the default run and CI keep; the pooled run (``.ci/pooled``) runs the repository suite
through PgBouncer.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest

from aura_db import Config, Database
from aura_db import errors as E
from aura_db.migrations import migrate
from aura_db.ops.backup import backup
from aura_db.ops.isolation import set_isolation
from aura_db.ops.restore import restore
from aura_db.pooler import behind_pooler
from aura_db.queries import Query
from aura_db.repositories import CodeEdge, CodeNode, NodeKey
from aura_db.repositories.rag_chunks import Chunk
from tests.fix_db import OWNER, PgServer, as_role


def _pooled(bouncer: Any, app_url: str, **settings: Any) -> Database:
    return Database(Config(url=bouncer.url(app_url), pooler="transaction", min_size=1, max_size=4,
                           connect_timeout=10, **settings))


def _unit(rng: np.random.Generator, dims: int) -> np.ndarray[Any, Any]:
    v = rng.standard_normal(dims).astype(np.float32)
    return v / np.linalg.norm(v)


def test_a_pooler_is_told_apart_from_the_server(pgbouncer: Any, app_url: str) -> None:
    with psycopg.connect(pgbouncer.url(app_url)) as through, psycopg.connect(app_url) as direct:
        assert behind_pooler(through) is True
        assert behind_pooler(direct) is False


def test_repository_work_through_pgbouncer(pgbouncer: Any, app_url: str, conn: psycopg.Connection[Any]) -> None:
    """Calls outside and inside transactions, the same statement many times (psycopg would
    prepare it by the 5th run, and the next transaction may land on a backend that never saw
    it), ingest with COPY, an index build, search and a graph walk: all through PgBouncer."""
    rng = np.random.default_rng(7)
    with _pooled(pgbouncer, app_url) as db:
        ws = db.workspaces.upsert("/src/pooled")
        ids = [db.stories.create(f"story {i}", repository_path=ws.path).id for i in range(12)]
        for _ in range(4):
            assert [db.stories.get(i).title for i in ids] == [f"story {i}" for i in range(12)]
        with db.transaction(actor="agent-7") as tx:
            tx.stories.update(ids[0], version=1, title="renamed")
            assert tx.stories.get(ids[0]).title == "renamed"
        assert conn.execute("SELECT title, updated_by FROM stories WHERE id = %s",
                            (ids[0],)).fetchone() == ("renamed", "agent-7")
        vectors = [_unit(rng, 384) for _ in range(40)]
        with db.rag_chunks.bulk_load(384):  # as the application role: through the functions
            assert db.rag_chunks.replace_content(ws.id, "a.py", [
                Chunk(content=f"chunk {i}", embedding=v, chunk_index=i) for i, v in enumerate(vectors)]) == 40
        assert {i.name: i.valid for i in db.rag_chunks.search_indexes()}["ix_rag_chunks_embedding_384"]
        assert db.rag_chunks.search(ws.id, vectors[3], 1)[0].content == "chunk 3"
        db.code_graph.upsert(ws.path, [CodeNode("f", "M.f", "Method"), CodeNode("g", "M.g", "Method")],
                             [CodeEdge(NodeKey("M.f", "Method"), NodeKey("M.g", "Method"), "Calls")])
        start = db.code_graph.find(ws.path, fully_qualified_name="M.g")[0].id
        assert [h.node.fully_qualified_name for h in db.code_graph.callers(start, 2)] == ["M.f"]
    assert conn.execute("SELECT count(*) FROM rag_chunks").fetchone() == (40,)


def test_many_clients_share_three_backends_without_errors(pgbouncer: Any, app_url: str) -> None:
    """8 threads on 2 Databases (8 client connections) over 3 server connections: every read
    answers right, with no prepared statement missing on the backend it lands on."""
    with _pooled(pgbouncer, app_url) as first, _pooled(pgbouncer, app_url) as second:
        ids = [first.stories.create(f"s{i}").id for i in range(20)]
        failures: list[BaseException] = []
        done = [0]
        lock = threading.Lock()

        def work(db: Database) -> None:
            try:
                for _ in range(10):
                    for n, i in enumerate(ids):
                        assert db.stories.get(i).title == f"s{n}"
                with lock:
                    done[0] += 1
            except BaseException as exc:
                failures.append(exc)

        threads = [threading.Thread(target=work, args=(db,)) for db in (first, second) * 4]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert failures == [] and done[0] == 8


def test_session_defaults_hold_in_every_transaction_and_stay_there(pgbouncer: Any, app_url: str) -> None:
    """The timeouts and the workspace scope are set transaction-locally in each transaction
    (calls outside one included): nothing is read from, or left in, the shared sessions."""
    with _pooled(pgbouncer, app_url, statement_timeout=1.5, lock_timeout=0.7,
                 idle_in_transaction_timeout=20) as db:
        with db.transaction() as tx:
            assert tx.execute("SELECT current_setting('statement_timeout'), current_setting('lock_timeout'), "
                              "current_setting('idle_in_transaction_session_timeout')").fetchone() == \
                ("1500ms", "700ms", "20s")
            with pytest.raises(E.StatementTimeout):
                tx.execute("SELECT pg_sleep(5)")
        with db.transaction(workspace="ab" * 8) as tx:
            assert tx.execute("SELECT current_setting('aura.workspace_id')").fetchone() == ("ab" * 8,)
        with db.transaction() as tx:  # whichever backend this lands on: no scope left behind
            assert tx.execute("SELECT current_setting('aura.workspace_id', true)").fetchone() in {("",), (None,)}
    with psycopg.connect(pgbouncer.url(app_url)) as raw:  # a client that sets nothing itself
        for _ in range(6):  # (3 server connections: each one seen)
            assert raw.execute("SELECT current_setting('statement_timeout')").fetchone() != ("1500ms",)
            raw.commit()


def test_the_workspace_scope_holds_for_calls_outside_a_transaction(pgbouncer: Any, app_url: str,
                                                                    db_url: str) -> None:
    with _pooled(pgbouncer, app_url) as db:
        a, b = db.workspaces.upsert("/src/a"), db.workspaces.upsert("/src/b")
    set_isolation(db_url, True)
    with _pooled(pgbouncer, app_url, workspace_id=a.id) as scoped, _pooled(pgbouncer, app_url) as unscoped:
        for _ in range(4):
            assert [w.id for w in scoped.workspaces.list()] == [a.id]
            assert unscoped.workspaces.list() == []  # no scope: nothing, even on a backend `scoped` used
            with unscoped.transaction(workspace=b.id) as tx:
                assert [w.id for w in tx.workspaces.list()] == [b.id]


def test_session_work_refuses_a_pooler_and_a_direct_config_is_told_what_to_set(
        pgbouncer: Any, pg_server: PgServer, db_url: str, app_url: str, tmp_path: Path) -> None:
    with pytest.raises(E.ConfigError, match=r"connection pooler.*AURA_MIGRATION_URL"):
        migrate(pgbouncer.url(db_url))
    archive, _ = backup(db_url, tmp_path / "archives", pg_bin=pg_server.bin_dir)
    with pytest.raises(E.ConfigError, match=r"a restore or verification needs a session .* connection pooler"):
        restore(pgbouncer.url(db_url), archive, backup_dir=tmp_path, yes=True, pg_bin=pg_server.bin_dir)
    with pytest.raises(E.ServerUnavailable, match=r"AURA_POOLER=transaction"):
        Database(Config(url=pgbouncer.url(app_url), connect_timeout=2))
    owner = as_role(db_url, OWNER)
    with Database(Config(url=pgbouncer.url(app_url), migration_url=owner, pooler="transaction",
                         connect_timeout=10)) as db:
        assert db.migrate() == []  # migrations go to the direct owner URL


def test_a_write_whose_connection_broke_before_its_commit_runs_again(
        pgbouncer: Any, app_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Direct, a write outside a transaction that lost its connection may have been applied
    (CommitOutcomeUnknown, not retried: tests/test_failures.py). Behind the pooler it ran in the
    call's own transaction, which the lost connection rolled back: it runs again, once."""
    runs = []
    original = Query.one

    def kill_after_first(self: Query, conn: Any, *args: Any, **kwargs: Any) -> Any:
        result = original(self, conn, *args, **kwargs)
        if self.name == "create_story":
            runs.append(1)
            if len(runs) == 1:
                conn.execute("SELECT pg_terminate_backend(pg_backend_pid())")
        return result

    with _pooled(pgbouncer, app_url) as db:
        monkeypatch.setattr(Query, "one", kill_after_first)
        story = db.stories.create("written once")
        monkeypatch.undo()
        assert len(runs) == 2
        assert [s.id for s in db.stories.list(title_contains="written once")] == [story.id]
