"""db.agent_executions and db.tool_executions on a real server: audit rows, batches, usage report."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
import pytest

from aura_db import Database
from aura_db.errors import InvalidTransition, InvalidValue, NotFound
from aura_db.repositories import AgentExecution, AgentExecutionRow, ToolStatus, UsageRow
from tests.fix_db import statements_sent

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def count(db: Database, table: str) -> int:
    with db.connection() as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    assert row is not None
    return int(row[0])


def make_step(db: Database) -> uuid.UUID:
    with db.connection() as conn:
        row = conn.execute(
            "WITH s AS (INSERT INTO stories (title) VALUES ('story') RETURNING id) "
            "INSERT INTO story_steps (story_id, \"order\", name, capability) "
            "SELECT id, 1, 'step', 'python-coding' FROM s RETURNING id").fetchone()
    assert row is not None
    return uuid.UUID(str(row[0]))


def insert_run(db: Database, at: datetime, **fields: Any) -> None:
    """An agent run at a chosen time (the repository always records 'now')."""
    values = {"agent_id": "coder", "prompt": "p", "success": True, **fields, "created_at": at}
    names = ", ".join(values)
    marks = ", ".join(["%s"] * len(values))
    with db.connection() as conn:
        conn.execute(f"INSERT INTO agent_executions ({names}) VALUES ({marks})", list(values.values()))




# -- agent executions -------------------------------------------------------------------------


def test_record_stores_every_field(db: Database) -> None:
    conv = db.conversations.create()
    step_id = make_step(db)
    run = db.agent_executions.record(
        "coder", "write tests", success=True, provider="ollama", model="qwen2.5-coder",
        response="done", prompt_tokens=120, response_tokens=30, tokens_used=150, duration_ms=900,
        conversation_id=conv.id, story_step_id=str(step_id))
    assert isinstance(run, AgentExecutionRow)
    assert (run.agent_id, run.prompt, run.response, run.success, run.error) == (
        "coder", "write tests", "done", True, None)
    assert (run.provider, run.model) == ("ollama", "qwen2.5-coder")
    assert (run.prompt_tokens, run.response_tokens, run.tokens_used, run.duration_ms) == (120, 30, 150, 900)
    assert (run.conversation_id, run.story_step_id) == (conv.id, step_id)
    assert run.created_at.tzinfo is not None
    assert db.agent_executions.get(run.id) == run
    failed = db.agent_executions.record("coder", "", success=False, error="timeout")
    assert (failed.success, failed.error, failed.prompt, failed.provider) == (False, "timeout", "", None)


def test_record_many_is_one_statement_in_input_order(db: Database) -> None:
    runs = [AgentExecution(agent_id=f"agent-{i}", prompt=f"p{i}", success=i != 1,
                           prompt_tokens=i) for i in range(4)]
    rows = db.agent_executions.record_many(runs)
    assert [(r.agent_id, r.prompt, r.success, r.prompt_tokens) for r in rows] == [
        ("agent-0", "p0", True, 0), ("agent-1", "p1", False, 1), ("agent-2", "p2", True, 2),
        ("agent-3", "p3", True, 3)]
    assert len({r.created_at for r in rows}) == 1  # one statement, one transaction
    assert db.agent_executions.record_many([]) == []


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"prompt_tokens": -5}, r"agent_executions.prompt_tokens: -5 is outside 0..2147483647"),
        ({"tokens_used": 2**31}, r"agent_executions.tokens_used: 2147483648 is outside"),
        ({"duration_ms": 1.5}, r"agent_executions.duration_ms: expected an integer, got float 1.5"),
        ({"agent_id": " "}, r"agent_executions.agent_id: must not be blank"),
        ({"agent_id": "a" * 101}, r"agent_executions.agent_id: 101 characters is longer than the limit of 100"),
        ({"prompt": "a\x00"}, r"agent_executions.prompt: text must not contain NUL bytes"),
        ({"success": "yes"}, r"agent_executions.success: expected a boolean, got 'yes'"),
        ({"conversation_id": "c-1"}, r"agent_executions.conversation_id: 'c-1' is not a UUID"),
    ],
)
def test_a_bad_run_in_a_batch_writes_nothing(db: Database, fields: dict[str, Any], message: str) -> None:
    good = AgentExecution(agent_id="coder", prompt="p", success=True)
    bad = AgentExecution(**{"agent_id": "coder", "prompt": "p", "success": True, **fields})
    with pytest.raises(InvalidValue, match=message):
        db.agent_executions.record_many([good, bad])
    assert count(db, "agent_executions") == 0


def test_record_refuses_unknown_fields_and_links(db: Database) -> None:
    with pytest.raises(InvalidValue, match=r"agent_executions: .*unexpected keyword argument 'temperature'"):
        db.agent_executions.record("coder", "p", success=True, temperature=0.2)
    with pytest.raises(NotFound, match=r"agent_executions: .* fk_agent_executions_conversation_id"):
        db.agent_executions.record_many([
            AgentExecution(agent_id="coder", prompt="p", success=True),
            AgentExecution(agent_id="coder", prompt="p", success=True, conversation_id=uuid.uuid4())])
    assert count(db, "agent_executions") == 0
    with pytest.raises(NotFound, match=r"agent_executions: no row with id"):
        db.agent_executions.get(uuid.uuid4())


def test_list_filters_and_pages(db: Database) -> None:
    conv = db.conversations.create()
    step_id = make_step(db)
    for i in range(6):
        insert_run(db, T0 + timedelta(hours=i), agent_id="coder" if i < 4 else "reviewer",
                   prompt=f"p{i}", conversation_id=conv.id if i % 2 == 0 else None,
                   story_step_id=step_id if i == 3 else None)
    listing = db.agent_executions
    assert [r.prompt for r in listing.list()] == ["p5", "p4", "p3", "p2", "p1", "p0"]
    assert [r.prompt for r in listing.list(agent_id="reviewer")] == ["p5", "p4"]
    assert [r.prompt for r in listing.list(conversation_id=conv.id)] == ["p4", "p2", "p0"]
    assert [r.prompt for r in listing.list(story_step_id=step_id)] == ["p3"]
    window = listing.list(since=T0 + timedelta(hours=1), until=T0 + timedelta(hours=3))
    assert [r.prompt for r in window] == ["p2", "p1"]  # half-open: hour 3 excluded
    first = listing.list(agent_id="coder", limit=3)
    assert [r.prompt for r in first] == ["p3", "p2", "p1"] and first.next_cursor is not None
    rest = listing.list(agent_id="coder", limit=3, cursor=first.next_cursor)
    assert [r.prompt for r in rest] == ["p0"] and rest.next_cursor is None


def test_list_refuses_bad_ranges(db: Database) -> None:
    with pytest.raises(InvalidValue, match=r"agent_executions.since: expected a timezone-aware datetime"):
        db.agent_executions.list(since=datetime(2026, 1, 1))
    with pytest.raises(InvalidValue, match=r"agent_executions.since: 2026-03-02.* is after until 2026-03-01"):
        db.agent_executions.usage(since=T0 + timedelta(days=1), until=T0)
    with pytest.raises(InvalidValue, match=r"agent_executions.story_step_id: 'x' is not a UUID"):
        db.agent_executions.list(story_step_id="x")


def test_usage_report_groups_by_utc_day_provider_and_model(db: Database) -> None:
    late = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)  # 2026-03-02 in UTC+1: the day must stay UTC
    insert_run(db, late, provider="ollama", model="qwen", prompt_tokens=10, response_tokens=5)
    insert_run(db, late, provider="ollama", model="qwen", success=False, tokens_used=7, duration_ms=100)
    insert_run(db, late, provider="ollama", model="qwen", success=False, duration_ms=300)
    insert_run(db, late - timedelta(hours=1), provider="azure", model="gpt-4o", tokens_used=50)
    insert_run(db, late + timedelta(hours=1), provider="ollama", model="qwen", tokens_used=1)
    insert_run(db, late, agent_id="other", tokens_used=1000)
    with db.transaction() as tx:
        tx.execute("SET LOCAL TIME ZONE 'Europe/Berlin'")
        report = tx.agent_executions.usage(since=T0 - timedelta(days=1), until=T0 + timedelta(days=2),
                                           agent_id="coder")
    assert report == [
        UsageRow(date(2026, 3, 1), "azure", "gpt-4o", calls=1, failures=0, failure_rate=0.0,
                 prompt_tokens=0, response_tokens=0, tokens=50, avg_duration_ms=None),
        UsageRow(date(2026, 3, 1), "ollama", "qwen", calls=3, failures=2, failure_rate=2 / 3,
                 prompt_tokens=10, response_tokens=5, tokens=22, avg_duration_ms=200.0),
        UsageRow(date(2026, 3, 2), "ollama", "qwen", calls=1, failures=0, failure_rate=0.0,
                 prompt_tokens=0, response_tokens=0, tokens=1, avg_duration_ms=None),
    ]
    everyone = db.agent_executions.usage()
    assert [(u.provider, u.calls, u.tokens) for u in everyone] == [
        (None, 1, 1000), ("azure", 1, 50), ("ollama", 3, 22), ("ollama", 1, 1)]
    assert db.agent_executions.usage(since=late + timedelta(days=5)) == []


# -- tool executions --------------------------------------------------------------------------


def test_tool_call_start_then_complete(db: Database) -> None:
    run = db.agent_executions.record("coder", "p", success=True)
    started = db.tool_executions.start("file.write", input={"path": "a.py", "lines": [1, 2]},
                                       agent_execution_id=run.id)
    assert (started.tool_name, started.status, started.agent_execution_id) == ("file.write", "Running", run.id)
    assert started.status is ToolStatus.RUNNING
    assert started.input == {"path": "a.py", "lines": [1, 2]}
    assert (started.output, started.completed_at, started.duration_ms) == (None, None, None)
    done = db.tool_executions.complete(started.id, output={"written": True}, duration_ms=42)
    assert (done.status, done.output, done.duration_ms, done.error) == (ToolStatus.COMPLETED, {"written": True}, 42, None)
    assert done.completed_at is not None and done.completed_at >= done.created_at
    assert db.tool_executions.get(started.id) == done
    with pytest.raises(InvalidTransition, match=r"tool_executions: call .* is already Completed, it cannot become Failed"):
        db.tool_executions.fail(started.id, "late")
    assert db.tool_executions.get(started.id).status is ToolStatus.COMPLETED


def test_tool_call_fail_and_cancel(db: Database) -> None:
    failing = db.tool_executions.start("shell", input=["ls", "-la"])
    failed = db.tool_executions.fail(failing.id, "exit 2", output="stderr text")
    assert (failed.status, failed.error, failed.output) == (ToolStatus.FAILED, "exit 2", "stderr text")
    assert failed.duration_ms is not None and failed.duration_ms >= 0  # measured by the server
    cancelled = db.tool_executions.cancel(db.tool_executions.start("search").id, error="user stop")
    assert (cancelled.status, cancelled.error, cancelled.output) == (ToolStatus.CANCELLED, "user stop", None)
    with pytest.raises(NotFound, match=r"tool_executions: no row with id"):
        db.tool_executions.complete(uuid.uuid4())


def test_list_for_an_agent_run_in_start_order(db: Database) -> None:
    run = db.agent_executions.record("coder", "p", success=True)
    other = db.agent_executions.record("coder", "p", success=True)
    with db.transaction() as tx:  # one transaction: order comes from the statement clock
        names = [tx.tool_executions.start(f"tool-{i}", agent_execution_id=run.id).tool_name for i in range(5)]
        tx.tool_executions.start("elsewhere", agent_execution_id=other.id)
    assert [t.tool_name for t in db.tool_executions.list_for(run.id)] == names
    assert db.tool_executions.list_for(uuid.uuid4()) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tool_name": ""}, r"tool_executions.tool_name: must not be blank"),
        ({"tool_name": "t" * 201}, r"tool_executions.tool_name: 201 characters is longer than the limit of 200"),
        ({"input": {"x": {1, 2}}}, r"tool_executions.input: not storable as JSON \(Object of type set"),
        ({"input": [float("inf")]}, r"tool_executions.input: not storable as JSON"),
        ({"input": {"k": "a\x00b"}}, r"tool_executions.input: JSON text must not contain NUL"),
        ({"agent_execution_id": 7}, r"tool_executions.agent_execution_id: 7 is not a UUID"),
    ],
)
def test_start_refuses_bad_input(db: Database, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidValue, match=message):
        db.tool_executions.start(**{"tool_name": "shell", **kwargs})
    assert count(db, "tool_executions") == 0


def test_finish_refuses_bad_input_and_keeps_the_call_running(db: Database) -> None:
    call = db.tool_executions.start("shell")
    with pytest.raises(InvalidValue, match=r"tool_executions.duration_ms: -1 is outside"):
        db.tool_executions.complete(call.id, duration_ms=-1)
    with pytest.raises(InvalidValue, match=r"tool_executions.error: a value is required"):
        db.tool_executions.fail(call.id, None)  # type: ignore[arg-type]
    with pytest.raises(InvalidValue, match=r"tool_executions.output: JSON text must not contain NUL"):
        db.tool_executions.complete(call.id, output="\x00")
    with pytest.raises(NotFound, match=r"tool_executions: .* fk_tool_executions_agent_execution_id"):
        db.tool_executions.start("shell", agent_execution_id=uuid.uuid4())
    assert db.tool_executions.get(call.id) == call


def test_a_failed_transaction_leaves_no_audit_rows(db: Database, db_url: str) -> None:
    with pytest.raises(RuntimeError, match="boom"), db.transaction() as tx:
        run = tx.agent_executions.record("coder", "p", success=True)
        tx.agent_executions.record_many([AgentExecution(agent_id="a", prompt="p", success=False)])
        tx.tool_executions.complete(tx.tool_executions.start("shell", agent_execution_id=run.id).id)
        raise RuntimeError("boom")
    with psycopg.connect(db_url) as other:
        counts = other.execute("SELECT (SELECT count(*) FROM agent_executions), "
                               "(SELECT count(*) FROM tool_executions)").fetchone()
    assert counts == (0, 0)


def test_record_many_is_one_round_trip(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    sent = statements_sent(monkeypatch)
    rows = db.agent_executions.record_many(
        [AgentExecution(agent_id="a", prompt=str(i), success=True) for i in range(50)])
    assert [r.prompt for r in rows] == [str(i) for i in range(50)]
    assert sent == ["record_agent_executions"]
