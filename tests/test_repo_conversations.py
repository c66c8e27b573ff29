"""db.conversations and db.messages on a real server: values, paging, RAG contexts, bad input."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest

from aura_db import Database
from aura_db.errors import ConcurrencyConflict, InvalidValue, NotFound
from aura_db.repositories import (
    ConversationRow,
    MessageRole,
    MessageRow,
    RagContentType,
    RagContext,
)
from tests.fix_db import statements_sent


def count(db: Database, table: str) -> int:
    with db.connection() as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    assert row is not None
    return int(row[0])


def make_story(db: Database) -> uuid.UUID:
    with db.connection() as conn:
        row = conn.execute("INSERT INTO stories (title) VALUES ('Add login') RETURNING id").fetchone()
    assert row is not None
    return uuid.UUID(str(row[0]))




# -- conversations ---------------------------------------------------------------------------


def test_create_and_get_fill_every_column(db: Database) -> None:
    story_id = make_story(db)
    with db.transaction(actor="alice") as tx:
        created = tx.conversations.create(title="Login", agent_id="coding-agent",
                                          repository_path="/src/app", story_id=str(story_id))
    assert isinstance(created, ConversationRow)
    assert (created.title, created.agent_id, created.repository_path) == ("Login", "coding-agent", "/src/app")
    assert created.story_id == story_id
    assert (created.created_by, created.updated_by, created.version) == ("alice", "alice", 1)
    assert created.deleted_at is None and created.created_at.tzinfo is not None
    assert db.conversations.get(created.id) == created
    assert db.conversations.find(str(created.id)) == created


def test_create_with_defaults_and_unknown_story(db: Database) -> None:
    bare = db.conversations.create()
    assert (bare.title, bare.agent_id, bare.story_id, bare.created_by) == (None, None, None, None)
    with pytest.raises(NotFound, match=r"conversations: .*story_id.* fk_conversations_story_id") as err:
        db.conversations.create(story_id=uuid.uuid4())
    assert isinstance(err.value.__cause__, psycopg.errors.ForeignKeyViolation)
    assert count(db, "conversations") == 1


def test_get_missing_or_bad_id(db: Database) -> None:
    missing = uuid.uuid4()
    assert db.conversations.find(missing) is None
    with pytest.raises(NotFound, match=f"conversations: no row with id '{missing}'"):
        db.conversations.get(missing)
    with pytest.raises(InvalidValue, match=r"conversations.id: 'nope' is not a UUID"):
        db.conversations.get("nope")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"title": "x" * 501}, r"conversations.title: 501 characters is longer than the limit of 500"),
        ({"agent_id": "a\x00b"}, r"conversations.agent_id: text must not contain NUL bytes"),
        ({"repository_path": 42}, r"conversations.repository_path: expected text, got int 42"),
        ({"story_id": "story-1"}, r"conversations.story_id: 'story-1' is not a UUID"),
    ],
)
def test_create_refuses_bad_input(db: Database, fields: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidValue, match=message):
        db.conversations.create(**fields)
    assert count(db, "conversations") == 0


def test_list_by_agent_recent_first_with_pages(db: Database) -> None:
    with db.connection() as conn:  # distinct, known creation times
        conn.execute(
            "INSERT INTO conversations (title, agent_id, created_at) "
            "SELECT 'c' || i, CASE WHEN i % 2 = 0 THEN 'even' ELSE 'odd' END, "
            "       timestamptz '2026-01-01 00:00Z' + i * interval '1 minute' "
            "FROM generate_series(1, 7) AS i")
    first = db.conversations.list(agent_id="odd", limit=3)
    assert [c.title for c in first] == ["c7", "c5", "c3"]
    assert first.next_cursor is not None
    second = db.conversations.list(agent_id="odd", limit=3, cursor=first.next_cursor)
    assert [c.title for c in second] == ["c1"] and second.next_cursor is None
    assert [c.title for c in db.conversations.list()] == [f"c{i}" for i in range(7, 0, -1)]
    with pytest.raises(InvalidValue, match=r"conversations: cursor 'garbage' was not issued"):
        db.conversations.list(cursor="garbage")
    with pytest.raises(InvalidValue, match=r"conversations.limit: 0 is outside 1..1000"):
        db.conversations.list(limit=0)


def test_list_by_story_and_title_search_is_literal(db: Database) -> None:
    story_id = make_story(db)
    db.conversations.create(title="100% done", story_id=story_id)
    db.conversations.create(title="1000 done")
    db.conversations.create(title="it's done")
    assert [c.title for c in db.conversations.list(story_id=story_id)] == ["100% done"]
    assert [c.title for c in db.conversations.list(title_contains="0% D")] == ["100% done"]
    assert [c.title for c in db.conversations.list(title_contains="'; DROP TABLE conversations; --")] == []
    assert [c.title for c in db.conversations.list(title_contains="_")] == []
    assert [c.title for c in db.conversations.list(title_contains="it's")] == ["it's done"]
    assert count(db, "conversations") == 3


def test_soft_delete_and_restore(db: Database) -> None:
    kept = db.conversations.create(title="kept", agent_id="a")
    gone = db.conversations.create(title="gone", agent_id="a")
    db.conversations.delete(gone.id)
    assert db.conversations.find(gone.id) is None
    assert [c.title for c in db.conversations.list(agent_id="a")] == ["kept"]
    with pytest.raises(NotFound, match=r"conversations: no row with id"):
        db.conversations.delete(gone.id)
    db.conversations.restore(gone.id)
    restored = db.conversations.get(gone.id)
    assert restored.deleted_at is None and restored.version == 3  # two updates
    with pytest.raises(NotFound, match=r"conversations: no row with id \(soft-deleted\)"):
        db.conversations.restore(kept.id)


def test_rename_checks_the_version(db: Database) -> None:
    conv = db.conversations.create(title="draft")
    renamed = db.conversations.rename(conv.id, "final", version=1)
    assert (renamed.title, renamed.version) == ("final", 2)
    with pytest.raises(ConcurrencyConflict, match=r"conversations: row .* is at version 2, not 1"):
        db.conversations.rename(conv.id, "stale", version=1)
    assert db.conversations.get(conv.id).title == "final"
    with pytest.raises(NotFound, match=r"conversations: no row with id"):
        db.conversations.rename(uuid.uuid4(), "x", version=1)


def test_with_messages_returns_the_latest_in_order(db: Database) -> None:
    conv = db.conversations.create(title="chat")
    for i in range(5):
        db.messages.append(conv.id, "user" if i % 2 == 0 else "assistant", f"m{i}")
    got = db.conversations.with_messages(conv.id, latest=3)
    assert got.conversation == db.conversations.get(conv.id)
    assert [m.content for m in got.messages] == ["m2", "m3", "m4"]
    assert all(isinstance(m, MessageRow) and m.conversation_id == conv.id for m in got.messages)
    assert [m.role for m in got.messages] == [MessageRole.USER, MessageRole.ASSISTANT, MessageRole.USER]
    assert db.conversations.with_messages(conv.id, latest=0).messages == []
    empty = db.conversations.create(title="empty")
    assert db.conversations.with_messages(empty.id).messages == []
    db.conversations.delete(empty.id)
    with pytest.raises(NotFound, match=r"conversations: no row with id"):
        db.conversations.with_messages(empty.id)


# -- messages ---------------------------------------------------------------------------------


def test_append_returns_the_stored_message(db: Database) -> None:
    conv = db.conversations.create()
    first = db.messages.append(conv.id, MessageRole.SYSTEM, "be brief")
    second = db.messages.append(str(conv.id), "assistant", "ok", model="gpt-4o", tokens_used=12)
    assert (first.role, first.content, first.model, first.tokens_used) == ("system", "be brief", None, None)
    assert first.role is MessageRole.SYSTEM
    assert (second.role, second.model, second.tokens_used) == (MessageRole.ASSISTANT, "gpt-4o", 12)
    assert second.seq > first.seq and second.conversation_id == conv.id
    assert second.created_at.tzinfo is not None


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (("robot", "hi"), {}, r"messages.role: 'robot' is not one of user, assistant, system, tool"),
        (("user", "a\x00b"), {}, r"messages.content: text must not contain NUL bytes"),
        (("user", None), {}, r"messages.content: a value is required"),
        (("user", "hi"), {"tokens_used": -1}, r"messages.tokens_used: -1 is outside 0..2147483647"),
        (("user", "hi"), {"tokens_used": "12"}, r"messages.tokens_used: expected an integer, got str '12'"),
        (("user", "hi"), {"model": "m" * 101}, r"messages.model: 101 characters is longer than the limit of 100"),
    ],
)
def test_append_refuses_bad_input(db: Database, args: tuple[Any, ...], kwargs: dict[str, Any],
                                  message: str) -> None:
    conv = db.conversations.create()
    with pytest.raises(InvalidValue, match=message):
        db.messages.append(conv.id, *args, **kwargs)
    assert count(db, "messages") == 0


def test_append_to_a_missing_or_deleted_conversation(db: Database) -> None:
    conv = db.conversations.create()
    db.conversations.delete(conv.id)
    with pytest.raises(NotFound, match=f"conversations: no live conversation with id {conv.id}"):
        db.messages.append(conv.id, "user", "hi")
    with pytest.raises(NotFound, match="conversations: no live conversation"):
        db.messages.append(uuid.uuid4(), "user", "hi")
    assert count(db, "messages") == 0


def test_page_walks_messages_in_seq_order(db: Database) -> None:
    conv = db.conversations.create()
    other = db.conversations.create()
    with db.transaction() as tx:  # one transaction: equal created_at, order must come from seq
        for i in range(5):
            tx.messages.append(conv.id, "user", f"m{i}")
            tx.messages.append(other.id, "user", "noise")
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = db.messages.page(conv.id, limit=2, cursor=cursor)
        seen.extend(m.content for m in page)
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == [f"m{i}" for i in range(5)] and pages == 3
    with pytest.raises(NotFound):
        db.messages.page(uuid.uuid4())
    with pytest.raises(InvalidValue, match=r"messages: cursor"):
        db.messages.page(conv.id, cursor="eyJ4Ijox")


def test_attach_rag_contexts_in_one_call(db: Database) -> None:
    conv = db.conversations.create()
    msg = db.messages.append(conv.id, "assistant", "answer")
    rows = db.messages.attach_rag_contexts(msg.id, [
        RagContext("login flow", "src/auth.py", 0, "def login(): ...", 0.52, "src/auth.py", "Code"),
        RagContext("login flow", "docs/auth.md", 3, "# Auth", 0.91, content_type=RagContentType.MARKDOWN),
        RagContext("login flow", "notes", 1, "", 0.1),
    ])
    assert [(r.content_id, r.chunk_index, r.score) for r in rows] == [
        ("src/auth.py", 0, 0.52), ("docs/auth.md", 3, 0.91), ("notes", 1, 0.1)]
    assert [r.content_type for r in rows] == [RagContentType.CODE, RagContentType.MARKDOWN, None]
    assert rows[0].source_path == "src/auth.py" and rows[1].source_path is None
    assert all(r.message_id == msg.id and r.query == "login flow" for r in rows)
    assert [r.content_id for r in db.messages.rag_contexts(msg.id)] == ["docs/auth.md", "src/auth.py", "notes"]
    assert db.messages.attach_rag_contexts(msg.id, []) == []


@pytest.mark.parametrize(
    ("context", "message"),
    [
        (RagContext("q", "c", 0, "x", 0.5, content_type="Video"),
         r"message_rag_contexts.content_type: 'Video' is not one of Unknown, Code"),
        (RagContext("q", "c", -1, "x", 0.5), r"message_rag_contexts.chunk_index: -1 is outside"),
        (RagContext("q", "c", 0, "x", float("nan")), r"message_rag_contexts.score: expected a finite number"),
        (RagContext("q", "c" * 501, 0, "x", 0.5), r"message_rag_contexts.content_id: 501 characters"),
        (RagContext("q\x00", "c", 0, "x", 0.5), r"message_rag_contexts.query: text must not contain NUL"),
    ],
)
def test_attach_refuses_bad_contexts_and_writes_nothing(db: Database, context: RagContext,
                                                        message: str) -> None:
    conv = db.conversations.create()
    msg = db.messages.append(conv.id, "assistant", "answer")
    good = RagContext("q", "good", 0, "x", 0.5)
    with pytest.raises(InvalidValue, match=message):
        db.messages.attach_rag_contexts(msg.id, [good, context])
    assert count(db, "message_rag_contexts") == 0


def test_attach_to_a_missing_message(db: Database) -> None:
    with pytest.raises(NotFound, match=r"messages: no row with id"):
        db.messages.attach_rag_contexts(uuid.uuid4(), [RagContext("q", "c", 0, "x", 0.5)])
    assert count(db, "message_rag_contexts") == 0


def test_a_failed_transaction_leaves_nothing(db: Database, db_url: str) -> None:
    with pytest.raises(RuntimeError, match="boom"), db.transaction(actor="alice") as tx:
        conv = tx.conversations.create(title="half")
        msg = tx.messages.append(conv.id, "user", "hi")
        tx.messages.attach_rag_contexts(msg.id, [RagContext("q", "c", 0, "x", 0.5)])
        assert tx.conversations.with_messages(conv.id).messages == [msg]
        raise RuntimeError("boom")
    with psycopg.connect(db_url) as other:
        counts = other.execute(
            "SELECT (SELECT count(*) FROM conversations), (SELECT count(*) FROM messages), "
            "(SELECT count(*) FROM message_rag_contexts)").fetchone()
    assert counts == (0, 0, 0)


def test_with_messages_and_attach_are_one_round_trip_each(db: Database,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    conv = db.conversations.create()
    msg = db.messages.append(conv.id, "assistant", "answer")
    sent = statements_sent(monkeypatch)
    db.messages.attach_rag_contexts(msg.id, [RagContext("q", f"c{i}", i, "x", 0.5) for i in range(20)])
    assert len(db.conversations.with_messages(conv.id, latest=5).messages) == 1
    assert sent == ["attach_rag_contexts",
                    "get_conversation_with_latest_messages"]


def test_a_soft_deleted_conversation_hides_its_messages(db: Database) -> None:
    chat = db.conversations.create(title="c")
    message = db.messages.append(chat.id, "user", "hello")
    db.conversations.delete(chat.id)
    with pytest.raises(NotFound):
        db.messages.page(chat.id)
    with pytest.raises(NotFound):
        db.messages.append(chat.id, "user", "late")
    with pytest.raises(NotFound):
        db.messages.page(uuid.uuid4())
    context = RagContext(query="q", content_id="doc", chunk_index=0, chunk_content="c", score=0.5)
    db.conversations.restore(chat.id)
    db.messages.attach_rag_contexts(message.id, [context])
    db.conversations.delete(chat.id)
    with pytest.raises(NotFound):
        db.messages.rag_contexts(message.id)
    with pytest.raises(NotFound):
        db.messages.attach_rag_contexts(message.id, [context])
    db.conversations.restore(chat.id)  # back whole
    assert [m.id for m in db.messages.page(chat.id)] == [message.id]
    assert [c.query for c in db.messages.rag_contexts(message.id)] == ["q"]
    assert list(db.messages.page(db.conversations.create().id)) == []
    assert db.messages.rag_contexts(db.messages.append(chat.id, "user", "no contexts").id) == []
    with pytest.raises(NotFound):
        db.messages.rag_contexts(uuid.uuid4())
