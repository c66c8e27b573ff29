"""Row-level security per workspace (foundation 0013, developer 0005, ``aura-db isolation``):
a transaction scoped to workspace A cannot read, search, traverse or write workspace B's rows;
forgetting the scope returns nothing; the owner is exempt; off by default."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import psycopg
import pytest

from aura_db import Config, Database
from aura_db import errors as E
from aura_db.cli import main
from aura_db.ops.isolation import isolation_state, set_isolation
from aura_db.repositories import CodeEdge, CodeNode, NodeKey
from aura_db.repositories.rag_chunks import Chunk


@dataclass
class World:
    id: str
    path: str
    node: uuid.UUID
    conversation: uuid.UUID
    message: uuid.UUID
    story: uuid.UUID
    step: uuid.UUID
    execution: uuid.UUID


def _vector(seed: int) -> np.ndarray[Any, Any]:
    v = np.random.default_rng(seed).standard_normal(384).astype(np.float32)
    return v / np.linalg.norm(v)


def _world(db: Database, path: str, seed: int) -> World:
    ws = db.workspaces.upsert(path)
    db.rag_chunks.replace_content(ws.id, "doc", [
        Chunk(content=f"needle haystack {i} of {path}", embedding=_vector(seed * 10 + i), chunk_index=i)
        for i in range(3)])
    db.code_graph.upsert(path, [CodeNode("f", "M.f", "Method"), CodeNode("g", "M.g", "Method")],
                         [CodeEdge(NodeKey("M.f", "Method"), NodeKey("M.g", "Method"), "Calls")])
    node = db.code_graph.find(path, fully_qualified_name="M.f")[0].id
    db.index_metadata.record(path, "rag", {"a.py": "ab" * 32})
    conversation = db.conversations.create(title="chat", repository_path=path)
    message = db.messages.append(conversation.id, "user", "hello")
    story = db.stories.create("story", repository_path=path)
    step = db.story_steps.add(story.id, name="n", capability="c")
    execution = db.agent_executions.record("agent", "prompt", success=True, conversation_id=conversation.id)
    return World(ws.id, ws.path, node, conversation.id, message.id, story.id, step.id, execution.id)


@pytest.fixture
def worlds(db: Database, db_url: str) -> Iterator[tuple[World, World]]:
    a, b = _world(db, "/src/alpha", 1), _world(db, "/src/beta", 2)
    state = set_isolation(db_url, True)  # the owner switches it on
    assert state.on and len(state.tables) == 14
    yield a, b


def test_isolation_is_off_until_the_owner_switches_it_on(db: Database, db_url: str) -> None:
    assert not isolation_state(db_url).on and not isolation_state(db_url).mixed
    a = db.workspaces.upsert("/src/visible")
    assert [w.id for w in db.workspaces.list()] == [a.id]  # no scope needed while off


def test_a_scoped_transaction_sees_only_its_workspace(db: Database, worlds: tuple[World, World]) -> None:
    a, b = worlds
    probe = _vector(20)  # B's first chunk: the best hit if B's rows could be seen
    with db.transaction(workspace=a.id) as tx:
        assert [w.id for w in tx.workspaces.list()] == [a.id]
        with pytest.raises(E.NotFound):
            tx.workspaces.get(b.id)
        assert tx.rag_chunks.search(b.id, probe, 5) == []
        assert tx.rag_chunks.search(b.id, probe, 5, exact=True) == []
        assert {h.content for h in tx.rag_chunks.search(a.id, probe, 5)} == {
            f"needle haystack {i} of /src/alpha" for i in range(3)}
        assert tx.rag_chunks.hybrid_search(b.id, "needle", probe, 5) == []
        assert len(tx.rag_chunks.hybrid_search(a.id, "needle", probe, 5)) == 3
        assert tx.rag_chunks.hybrid_search(b.id, "needle", probe, 5, vector_weight=0.0) == []  # text only
        assert tx.code_graph.find(b.path) == [] and len(tx.code_graph.find(a.path)) == 2
        with pytest.raises(E.NotFound):
            tx.code_graph.get(b.node)
        assert tx.code_graph.callees(b.node) == []
        assert [h.node.fully_qualified_name for h in tx.code_graph.callees(a.node)] == ["M.g"]
        assert tx.index_metadata.list(b.path, "rag") == [] and len(tx.index_metadata.list(a.path, "rag")) == 2  # a.py and the chunks' doc
        with pytest.raises(E.NotFound):
            tx.conversations.get(b.conversation)
        with pytest.raises(E.NotFound):
            tx.stories.get(b.story)
        with pytest.raises(E.NotFound):
            tx.story_steps.get(b.step)
        with pytest.raises(E.NotFound):
            tx.agent_executions.get(b.execution)
        assert tx.stories.get(a.story).id == a.story and tx.agent_executions.get(a.execution).id == a.execution
        rows = tx.execute("SELECT (SELECT count(*) FROM messages), (SELECT count(*) FROM code_edges), "
                          "(SELECT count(*) FROM story_steps), (SELECT count(*) FROM rag_chunks)").fetchone()
        assert rows == (1, 1, 1, 3)


def test_a_scoped_transaction_cannot_write_another_workspace(db: Database, worlds: tuple[World, World]) -> None:
    a, b = worlds
    attempts = [
        lambda tx: tx.rag_chunks.replace_content(b.id, "new", [Chunk("x", _vector(9), 0)]),
        lambda tx: tx.stories.create("sneaky", repository_path=b.path),
        lambda tx: tx.conversations.create(title="sneaky", repository_path=b.path),
        lambda tx: tx.messages.append(b.conversation, "user", "sneaky"),
        lambda tx: tx.story_steps.add(b.story, name="sneaky", capability="c"),
        lambda tx: tx.code_graph.upsert(b.path, [CodeNode("h", "M.h", "Method")]),
        lambda tx: tx.workspaces.upsert(b.path + "/child"),
    ]
    for attempt in attempts:
        with pytest.raises((E.PermissionDenied, E.NotFound)), db.transaction(workspace=a.id) as tx:
            attempt(tx)
    with db.transaction(workspace=a.id) as tx:  # an UPDATE or DELETE of B's rows changes nothing
        assert tx.execute("UPDATE stories SET title = 'x' WHERE id = %s", (b.story,)).rowcount == 0
        assert tx.execute("DELETE FROM rag_chunks WHERE workspace_id = %s", (b.id,)).rowcount == 0
    with db.transaction(workspace=b.id) as tx:  # B's rows are all there, unchanged
        assert tx.stories.get(b.story).title == "story" and len(tx.rag_chunks.search(b.id, _vector(20), 5)) == 3
        assert tx.story_steps.list(b.story)[0].name == "n"


def test_forgetting_the_scope_returns_nothing(db: Database, worlds: tuple[World, World], app_url: str) -> None:
    a, _ = worlds
    assert db.workspaces.list() == [] and db.rag_chunks.search(a.id, _vector(10), 5) == []
    with db.transaction() as tx:
        assert tx.execute("SELECT count(*) FROM rag_chunks").fetchone() == (0,)
        with pytest.raises(E.PermissionDenied, match="row-level security"):
            tx.execute("INSERT INTO workspaces (id, name, path) VALUES (%s, 'x', '/x')", ("0" * 16,))
    with psycopg.connect(app_url) as raw:  # the plain role, without aura-db at all
        assert raw.execute("SELECT count(*) FROM stories").fetchone() == (0,)


def test_a_database_wide_default_scope_and_the_owner_exemption(worlds: tuple[World, World], app_url: str,
                                                               db_url: str) -> None:
    a, b = worlds
    with Database(Config(url=app_url, workspace_id=a.id, min_size=1, max_size=1)) as scoped:
        assert [w.id for w in scoped.workspaces.list()] == [a.id]  # outside any transaction too
        with scoped.transaction(workspace=b.id) as tx:  # a transaction may name another one
            assert [w.id for w in tx.workspaces.list()] == [b.id]
        assert [w.id for w in scoped.workspaces.list()] == [a.id]  # ... for that transaction only
        with scoped.connection() as conn:
            conn.execute("SET aura.workspace_id = ''")
        assert [w.id for w in scoped.workspaces.list()] == [a.id]  # a borrower's change does not stay
    with Database(Config(url=db_url, min_size=1, max_size=1)) as owner:
        assert len(owner.workspaces.list()) == 2  # the owner is not subject to the policies


def test_bad_scopes_are_invalid_and_change_nothing(db: Database) -> None:
    for bad in ("", "ABCDEF0123456789", "x" * 16, "0" * 15, 42):
        with pytest.raises(E.InvalidValue, match="workspace id"), db.transaction(workspace=bad) as _:  # type: ignore[arg-type]
            pass
    with pytest.raises(E.ConfigError, match="workspace_id"):
        Config(url="postgresql:///x", workspace_id="not-an-id")


def test_the_isolation_command_switches_and_reports(db_url: str, app_url: str,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--url", db_url, "isolation", "on"]) == 0
    assert "workspace isolation: on (14 tables)" in capsys.readouterr().out
    assert main(["--url", app_url, "isolation", "off"]) == 1  # the application may not switch it
    assert "must be owner" in capsys.readouterr().err
    assert main(["--url", app_url, "isolation", "status"]) == 0
    assert "workspace isolation: on" in capsys.readouterr().out
    assert main(["--url", db_url, "isolation", "off"]) == 0
    assert not isolation_state(db_url).on
