"""db.index_metadata on a real server: diff, record, forget, clear, bad input."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from aura_db import Database
from aura_db.errors import InvalidValue
from aura_db.repositories import FileChanges, IndexMetadataRow, IndexType
from tests.fix_db import statements_sent

WS = "/src/app"


def h(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def count(db: Database) -> int:
    with db.connection() as conn:
        row = conn.execute("SELECT count(*) FROM index_metadata").fetchone()
    assert row is not None
    return int(row[0])




def test_record_then_list(db: Database) -> None:
    at = datetime(2026, 2, 1, 8, 0, tzinfo=UTC)
    assert db.index_metadata.record(WS, "rag", {"b.py": h("b"), "a.py": h("a")}, indexed_at=at) == 2
    rows = db.index_metadata.list(WS, IndexType.RAG)
    assert all(isinstance(r, IndexMetadataRow) for r in rows)
    assert [(r.file_path, r.content_hash, r.indexed_at, r.index_type, r.workspace_path) for r in rows] == [
        ("a.py", h("a"), at, IndexType.RAG, WS), ("b.py", h("b"), at, IndexType.RAG, WS)]
    assert db.index_metadata.list(WS, "graph") == []
    assert db.index_metadata.record(WS, "rag", {}) == 0


def test_record_upserts_and_normalizes_the_workspace_path(db: Database) -> None:
    db.index_metadata.record(WS, "graph", {"a.py": h("a")})
    assert db.index_metadata.record("/src//app/./", "graph", {"a.py": h("a2"), "c.py": h("c")}) == 2
    rows = db.index_metadata.list(WS + "/", "graph")
    assert [(r.file_path, r.content_hash) for r in rows] == [("a.py", h("a2")), ("c.py", h("c"))]
    assert rows[0].indexed_at.tzinfo is not None
    assert count(db) == 2


def test_changes_reports_new_changed_and_deleted_in_one_call(db: Database) -> None:
    db.index_metadata.record(WS, "rag", {"same.py": h("s"), "edit.py": h("e"), "gone.py": h("g")})
    db.index_metadata.record(WS, "graph", {"other.py": h("o")})  # another index type: ignored
    db.index_metadata.record("/src/other", "rag", {"x.py": h("x")})  # another workspace: ignored
    changes = db.index_metadata.changes(WS, "rag", {
        "same.py": h("s"), "edit.py": h("e2"), "new2.py": h("n2"), "new1.py": h("n1")})
    assert changes == FileChanges(new=["new1.py", "new2.py"], changed=["edit.py"], deleted=["gone.py"])
    assert changes
    nothing = db.index_metadata.changes(WS, "rag", {"same.py": h("s"), "edit.py": h("e"), "gone.py": h("g")})
    assert nothing == FileChanges([], [], []) and not nothing
    everything_gone = db.index_metadata.changes(WS, "rag", {})
    assert everything_gone.deleted == ["edit.py", "gone.py", "same.py"]
    fresh = db.index_metadata.changes("/src/new", "graph", {"a.py": h("a")})
    assert fresh == FileChanges(new=["a.py"], changed=[], deleted=[])


def test_forget_and_clear(db: Database) -> None:
    db.index_metadata.record(WS, "rag", {"a.py": h("a"), "b.py": h("b"), "c.py": h("c")})
    db.index_metadata.record(WS, "graph", {"a.py": h("a")})
    assert db.index_metadata.forget(WS, "rag", ["a.py", "missing.py"]) == 1
    assert [r.file_path for r in db.index_metadata.list(WS, "rag")] == ["b.py", "c.py"]
    assert db.index_metadata.forget(WS, "rag", []) == 0
    assert db.index_metadata.clear(WS, "rag") == 2
    assert db.index_metadata.list(WS, "rag") == []
    assert [r.file_path for r in db.index_metadata.list(WS, "graph")] == ["a.py"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((WS, "rag", {"a.py": "ABC"}), r"index_metadata.content_hash: 'ABC' for 'a.py' is not 64 hex digits"),
        ((WS, "rag", {"a.py": "g" * 64}), r"index_metadata.content_hash: .* is not 64 hex digits"),
        ((WS, "rag", {"a.py": h("a") + "\n"}), r"index_metadata.content_hash: .* is not 64 hex digits"),
        ((WS, "rag", {"a.py": None}), r"index_metadata.content_hash: None for 'a.py'"),
        ((WS, "vector", {"a.py": h("a")}), r"index_metadata.index_type: 'vector' is not one of rag, graph"),
        (("src/app", "rag", {"a.py": h("a")}), r"index_metadata.workspace_path: must be absolute"),
        ((WS, "rag", {"a\x00.py": h("a")}), r"index_metadata.file_path: text must not contain NUL bytes"),
        ((WS, "rag", {"x" * 1001: h("a")}), r"index_metadata.file_path: 1001 characters is longer than"),
        ((WS, "rag", [("a.py", h("a"))]), r"index_metadata: expected a mapping of path -> content hash"),
    ],
)
def test_bad_input_is_refused_before_any_write(db: Database, args: tuple[Any, ...], message: str) -> None:
    db.index_metadata.record(WS, "rag", {"keep.py": h("k")})
    with pytest.raises(InvalidValue, match=message):
        db.index_metadata.record(*args)
    with pytest.raises(InvalidValue, match=message):
        db.index_metadata.changes(*args)
    assert [(r.file_path, r.content_hash) for r in db.index_metadata.list(WS, "rag")] == [("keep.py", h("k"))]


def test_upper_case_hashes_are_stored_lower_case(db: Database) -> None:
    db.index_metadata.record(WS, "rag", {"a.py": h("a").upper()})
    assert [r.content_hash for r in db.index_metadata.list(WS, "rag")] == [h("a")]
    assert db.index_metadata.changes(WS, "rag", {"a.py": h("a").upper()}).changed == []


def test_forget_refuses_a_bare_string_and_naive_times(db: Database) -> None:
    with pytest.raises(InvalidValue, match=r"index_metadata.file_path: expected a collection of paths"):
        db.index_metadata.forget(WS, "rag", "a.py")
    with pytest.raises(InvalidValue, match=r"index_metadata.indexed_at: expected a timezone-aware datetime"):
        db.index_metadata.record(WS, "rag", {"a.py": h("a")}, indexed_at=datetime(2026, 1, 1))
    assert count(db) == 0


def test_a_failed_transaction_records_nothing(db: Database, db_url: str) -> None:
    db.index_metadata.record(WS, "rag", {"a.py": h("a")})
    with pytest.raises(RuntimeError, match="boom"), db.transaction() as tx:
        tx.index_metadata.record(WS, "rag", {"a.py": h("a2"), "b.py": h("b")})
        tx.index_metadata.forget(WS, "rag", ["a.py"])
        raise RuntimeError("boom")
    with psycopg.connect(db_url) as other:
        rows = other.execute("SELECT file_path, content_hash FROM index_metadata").fetchall()
    assert rows == [("a.py", h("a"))]


def test_changes_and_record_are_one_round_trip_each(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    files = {f"f{i}.py": h(str(i)) for i in range(100)}
    sent = statements_sent(monkeypatch)
    assert db.index_metadata.changes(WS, "rag", files).new == sorted(files)
    assert db.index_metadata.record(WS, "rag", files) == 100
    assert sent == ["diff_index_metadata",
                    "record_index_metadata"]


def test_purging_a_workspace_leaves_nothing_behind(db: Database) -> None:
    import numpy as np

    from aura_db.repositories.code_graph import CodeEdge, CodeNode, NodeKey
    from aura_db.repositories.rag_chunks import Chunk

    files = {"a.py": hashlib.sha256(b"a").hexdigest(), "b.py": hashlib.sha256(b"b").hexdigest()}
    ws = db.workspaces.upsert("/src/purged")
    vector = np.ones(384, dtype=np.float32) / np.sqrt(384)
    db.rag_chunks.add_many(ws.id, [Chunk(content="x", embedding=vector, chunk_index=0, content_id="a.py")])
    db.index_metadata.record(ws.path, "rag", files)
    db.index_metadata.record(ws.path, "graph", files)
    db.code_graph.upsert(ws.path, [CodeNode("A", "m.A", "Class"), CodeNode("B", "m.B", "Class")],
                         [CodeEdge(NodeKey("m.A", "Class"), NodeKey("m.B", "Class"), "Calls")])
    other = db.workspaces.upsert("/src/kept")
    db.index_metadata.record(other.path, "rag", files)
    db.code_graph.upsert(other.path, [CodeNode("A", "m.A", "Class")])

    db.workspaces.purge(ws.id)

    assert db.rag_chunks.stats(ws.id) == []
    assert db.index_metadata.list(ws.path, "rag") == [] and db.index_metadata.list(ws.path, "graph") == []
    assert db.code_graph.counts(ws.path) == (0, 0)
    assert len(db.index_metadata.list(other.path, "rag")) == 2  # the other workspace keeps its own
    assert db.code_graph.counts(other.path) == (1, 0)
    again = db.workspaces.upsert("/src/purged")  # registered again: everything is to be indexed
    changes = db.index_metadata.changes(again.path, "rag", files)
    assert (changes.new, changes.changed, changes.deleted) == (["a.py", "b.py"], [], [])
