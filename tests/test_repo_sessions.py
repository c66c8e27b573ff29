"""db.sessions and db.configurations on a real server: heartbeats, stale sweep, JSON settings."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import psycopg
import pytest

from aura_db import Database
from aura_db.errors import AlreadyExists, InvalidValue, NotFound
from aura_db.repositories import ConfigurationRow, SessionRow


def count(db: Database, table: str) -> int:
    with db.connection() as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    assert row is not None
    return int(row[0])


def age(db: Database, session_id: uuid.UUID, by: timedelta) -> None:
    """Pretend the session's last heartbeat was ``by`` ago."""
    with db.connection() as conn:
        conn.execute("UPDATE sessions SET last_heartbeat = now() - %s WHERE id = %s", (by, session_id))



# -- sessions ---------------------------------------------------------------------------------


def test_heartbeat_opens_then_refreshes_a_session(db: Database) -> None:
    opened = db.sessions.heartbeat("cli-1", metadata={"version": "1.2"})
    assert isinstance(opened, SessionRow)
    assert (opened.client_id, opened.is_active, opened.metadata) == ("cli-1", True, {"version": "1.2"})
    assert opened.last_heartbeat.tzinfo is not None
    age(db, opened.id, timedelta(minutes=5))
    again = db.sessions.heartbeat("cli-1", session_id=str(opened.id))
    assert again.id == opened.id and again.metadata == {"version": "1.2"}  # kept when not given
    assert again.last_heartbeat > opened.last_heartbeat - timedelta(minutes=1)
    replaced = db.sessions.heartbeat("cli-1", session_id=opened.id, metadata=["x"])
    assert replaced.metadata == ["x"] and db.sessions.get(opened.id) == replaced
    chosen = uuid.uuid4()
    assert db.sessions.heartbeat("ide", session_id=chosen).id == chosen
    assert count(db, "sessions") == 2


def test_heartbeat_of_another_clients_session_is_refused(db: Database) -> None:
    mine = db.sessions.heartbeat("cli-1")
    with pytest.raises(AlreadyExists, match=f"sessions: session {mine.id} belongs to another client than 'cli-2'"):
        db.sessions.heartbeat("cli-2", session_id=mine.id, metadata={"evil": True})
    assert db.sessions.get(mine.id) == mine


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (("",), {}, r"sessions.client_id: must not be blank"),
        (("c" * 201,), {}, r"sessions.client_id: 201 characters is longer than the limit of 200"),
        (("a\x00",), {}, r"sessions.client_id: text must not contain NUL bytes"),
        ((7,), {}, r"sessions.client_id: expected text, got int 7"),
        (("cli",), {"session_id": "abc"}, r"sessions.id: 'abc' is not a UUID"),
        (("cli",), {"metadata": {"at": object()}}, r"sessions.metadata: not storable as JSON"),
    ],
)
def test_heartbeat_refuses_bad_input(db: Database, args: tuple[Any, ...], kwargs: dict[str, Any],
                                     message: str) -> None:
    with pytest.raises(InvalidValue, match=message):
        db.sessions.heartbeat(*args, **kwargs)
    assert count(db, "sessions") == 0


def test_list_active_end_and_stale_sweep(db: Database) -> None:
    fresh = db.sessions.heartbeat("ui")
    quiet = db.sessions.heartbeat("cli")
    old = db.sessions.heartbeat("cli")
    age(db, quiet.id, timedelta(minutes=2))
    age(db, old.id, timedelta(hours=1))
    assert [s.id for s in db.sessions.list_active()] == [fresh.id, quiet.id, old.id]
    assert [s.id for s in db.sessions.list_active(client_id="cli")] == [quiet.id, old.id]
    assert db.sessions.mark_stale(timedelta(minutes=1)) == 2
    assert db.sessions.mark_stale(timedelta(minutes=1)) == 0
    assert [s.id for s in db.sessions.list_active()] == [fresh.id]
    assert db.sessions.get(old.id).is_active is False
    assert db.sessions.end(fresh.id) is True
    assert db.sessions.end(fresh.id) is False
    assert db.sessions.list_active() == []
    assert db.sessions.heartbeat("cli", session_id=old.id).is_active is True  # it came back
    assert db.sessions.purge(timedelta(minutes=1)) == 1  # quiet; fresh is recent, old active
    with pytest.raises(NotFound, match=r"sessions: no row with id"):
        db.sessions.get(quiet.id)
    with pytest.raises(NotFound, match=r"sessions: no row with id"):
        db.sessions.end(uuid.uuid4())


def test_sweeps_refuse_bad_timeouts(db: Database) -> None:
    with pytest.raises(InvalidValue, match=r"sessions.timeout: expected a non-negative timedelta, got 60"):
        db.sessions.mark_stale(60)  # type: ignore[arg-type]
    with pytest.raises(InvalidValue, match=r"sessions.older_than: expected a non-negative timedelta"):
        db.sessions.purge(timedelta(seconds=-1))


# -- configurations ---------------------------------------------------------------------------


def test_set_get_and_default(db: Database) -> None:
    stored = db.configurations.set("rag.default_top_k", 10)
    assert isinstance(stored, ConfigurationRow)
    assert (stored.key, stored.value) == ("rag.default_top_k", 10) and stored.updated_at.tzinfo is not None
    assert db.configurations.get("rag.default_top_k") == 10
    assert db.configurations.get("missing") is None
    assert db.configurations.get("missing", default={"a": 1}) == {"a": 1}
    db.configurations.set("rag.default_top_k", {"value": 12, "tags": ["x", 1.5, None, True]})
    assert db.configurations.get("rag.default_top_k") == {"value": 12, "tags": ["x", 1.5, None, True]}
    db.configurations.set("flag.null", None)  # JSON null is a value, not a missing key
    assert db.configurations.get("flag.null", default="fallback") is None
    found = db.configurations.find("flag.null")
    assert found is not None and found.value is None
    assert db.configurations.find("missing") is None


def test_delete_and_list_by_literal_prefix(db: Database) -> None:
    for key in ("rag.top_k", "rag.model", "rag_x.other", "graph.depth", "ragx"):
        db.configurations.set(key, key)
    assert [c.key for c in db.configurations.list()] == ["graph.depth", "rag.model", "rag.top_k", "rag_x.other", "ragx"]
    assert [c.key for c in db.configurations.list(prefix="rag.")] == ["rag.model", "rag.top_k"]
    assert [c.key for c in db.configurations.list(prefix="rag_")] == ["rag_x.other"]  # '_' is literal
    assert db.configurations.list(prefix="%") == []
    assert db.configurations.list(prefix="' OR 1=1 --") == []
    assert db.configurations.delete("rag.model") is True
    assert db.configurations.delete("rag.model") is False
    assert [c.key for c in db.configurations.list(prefix="rag.")] == ["rag.top_k"]


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("", 1, r"configurations.key: must not be blank"),
        ("k" * 201, 1, r"configurations.key: 201 characters is longer than the limit of 200"),
        ("a\x00b", 1, r"configurations.key: text must not contain NUL bytes"),
        (None, 1, r"configurations.key: a value is required"),
        ("k", float("nan"), r"configurations.value: not storable as JSON \(Out of range float values"),
        ("k", b"bytes", r"configurations.value: not storable as JSON \(Object of type bytes"),
        ("k", {"text": "nul\x00"}, r"configurations.value: JSON text must not contain NUL characters"),
        ("k", {("tuple",): 1}, r"configurations.value: not storable as JSON \(keys must be"),
    ],
)
def test_set_refuses_bad_input(db: Database, key: Any, value: Any, message: str) -> None:
    db.configurations.set("k", "kept")
    with pytest.raises(InvalidValue, match=message):
        db.configurations.set(key, value)
    assert [(c.key, c.value) for c in db.configurations.list()] == [("k", "kept")]


def test_a_failed_transaction_changes_nothing(db: Database, db_url: str) -> None:
    db.configurations.set("k", 1)
    with pytest.raises(RuntimeError, match="boom"), db.transaction() as tx:
        tx.configurations.set("k", 2)
        tx.configurations.set("new", True)
        tx.sessions.heartbeat("cli")
        raise RuntimeError("boom")
    with psycopg.connect(db_url) as other:
        counts = other.execute("SELECT (SELECT count(*) FROM sessions), "
                               "(SELECT count(*) FROM configurations), "
                               "(SELECT value FROM configurations WHERE key = 'k')").fetchone()
    assert counts == (0, 1, 1)
