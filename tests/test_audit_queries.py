"""Execution audit the way seeds 001 and 004 ask for it: agent runs and tool calls listed and
counted by name, model, outcome or status and time range, keyset-paged, served by indexes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from aura_db import Database
from aura_db.errors import InvalidValue

AT = datetime(2026, 11, 1, tzinfo=UTC)
TOOLS = ("read_file", "run_tests", "git_diff", "search_code")  # by g % 4; 1% are "deploy"


@pytest.fixture
def audited(db: Database, db_url: str) -> Database:
    """4,000 agent runs and 20,000 tool calls over 40 days, written as the owner, analyzed."""
    _load(db_url, ("""
            INSERT INTO agent_executions (agent_id, prompt, success, model, tokens_used, created_at)
            SELECT (ARRAY['planner', 'coder', 'reviewer'])[1 + g %% 3], 'p' || g, g %% 10 <> 0,
                   (ARRAY['gpt-4o', 'claude-sonnet'])[1 + g %% 2], 100 + g %% 50,
                   %(at)s::timestamptz + g * interval '15 minutes'
            FROM generate_series(0, 3999) g""", {"at": AT}), ("""
            INSERT INTO tool_executions (agent_execution_id, tool_name, status, created_at)
            SELECT a.id, CASE WHEN g %% 100 = 7 THEN 'deploy' ELSE (%(tools)s::text[])[1 + (g %% 4)] END,
                   CASE WHEN g %% 50 = 0 THEN 'Failed' ELSE 'Completed' END,
                   a.created_at + (g %% 5) * interval '1 second'
            FROM (SELECT id, created_at, row_number() OVER (ORDER BY created_at) AS n
                  FROM agent_executions) a
            JOIN generate_series(0, 19999) g ON a.n = 1 + g / 5""", {"tools": list(TOOLS)}),
          "ANALYZE agent_executions; ANALYZE tool_executions")
    return db


def _load(db_url: str, *steps: tuple[str, dict[str, Any]] | str) -> None:
    """Bulk rows written as the owner (who may also ANALYZE), statement by statement."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        for step in steps:
            query, params = (step, None) if isinstance(step, str) else step
            conn.execute(query, params)


def test_agent_runs_by_outcome_model_and_range_with_counts(audited: Database) -> None:
    db = audited
    assert db.agent_executions.count() == 4000
    assert db.agent_executions.count(success=False) == 400
    assert db.agent_executions.count(model="gpt-4o", success=False) == 400  # every failure is even
    assert db.agent_executions.count(model="claude-sonnet", success=False) == 0
    day = AT + timedelta(days=3)
    assert db.agent_executions.count(since=day, until=day + timedelta(days=1)) == 96
    page = db.agent_executions.list(success=False, agent_id="planner", limit=50)
    assert len(page) == 50 and all(not r.success and r.agent_id == "planner" for r in page)
    assert [r.created_at for r in page] == sorted((r.created_at for r in page), reverse=True)
    seen = []
    cursor = None
    while True:
        page = db.agent_executions.list(success=False, limit=150, cursor=cursor)
        seen += [r.id for r in page]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert len(seen) == len(set(seen)) == 400


def test_tool_calls_by_tool_status_run_and_range(audited: Database) -> None:
    db = audited
    assert db.tool_executions.count() == 20000
    assert db.tool_executions.count(status="Failed") == 400
    assert db.tool_executions.count(tool_name="run_tests") == 5000
    assert db.tool_executions.count(tool_name="deploy") == 200
    assert db.tool_executions.count(tool_name="search_code") == 4800
    assert db.tool_executions.count(tool_name="read_file", status="Failed") == 200  # g % 100 == 0
    week = db.tool_executions.count(since=AT, until=AT + timedelta(days=7))
    assert week == 7 * 96 * 5
    run = db.agent_executions.list(limit=1)[0]
    calls = db.tool_executions.list(agent_execution_id=run.id)
    # the newest run made calls g = 19995..19999, each a second after the one before
    assert [c.tool_name for c in calls] == ["search_code", "git_diff", "run_tests", "read_file", "search_code"]
    pages, cursor = [], None
    while True:
        page = db.tool_executions.list(tool_name="git_diff", since=AT, until=AT + timedelta(days=2),
                                       limit=40, cursor=cursor)
        pages.append(list(page))
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    ids = [c.id for p in pages for c in p]
    assert len(ids) == len(set(ids)) == 240  # a quarter of 2 days x 96 runs x 5 calls
    assert all(c.tool_name == "git_diff" for p in pages for c in p)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"status": "Exploded"}, "tool_executions.status"),
    ({"since": AT, "until": AT - timedelta(days=1)}, "is after until"),
    ({"limit": 0}, "tool_executions.limit"),
])
def test_tool_call_filters_refuse_bad_input(db: Database, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidValue, match=message):
        db.tool_executions.list(**kwargs)


def _plan(db: Database, repo: Any, name: str, **params: Any) -> str:
    query = repo._q(name)
    with db.connection() as conn:
        cur = psycopg.RawCursor(conn)
        cur.execute("EXPLAIN " + query.sql, query.bind(params))
        return "\n".join(r[0] for r in cur.fetchall())


NONE = {"tool_name": None, "status": None, "agent_execution_id": None, "since": None, "until": None}


@pytest.mark.parametrize(("name", "params", "index"), [
    ("list_tool_executions", {**NONE, "tool_name": "deploy"}, "ix_tool_executions_tool_name_created_at"),
    ("count_tool_executions", {**NONE, "tool_name": "deploy", "since": AT, "until": AT + timedelta(days=10)},
     "ix_tool_executions_tool_name_created_at"),
    ("count_tool_executions", {**NONE, "status": "Failed"}, "ix_tool_executions_status"),
    ("list_tool_executions", NONE, "ix_tool_executions_created_at"),
])
def test_the_audit_queries_use_their_indexes(audited: Database, name: str, params: dict[str, Any],
                                             index: str) -> None:
    if name.startswith("list"):
        params = {**params, "before_created_at": None, "before_id": None, "limit": 51}
    plan = _plan(audited, audited.tool_executions, name, **params)
    assert index in plan, plan
    assert "Seq Scan" not in plan, plan


def test_agent_run_pages_use_the_time_index(audited: Database) -> None:
    params = {"agent_id": None, "model": None, "success": False, "conversation_id": None,
              "story_step_id": None, "since": None, "until": None, "before_created_at": None,
              "before_id": None, "limit": 51}
    plan = _plan(audited, audited.agent_executions, "list_agent_executions", **params)
    assert "ix_agent_executions_created_at" in plan and "Seq Scan" not in plan, plan


# -- sessions audit (seed 004: who was connected, when) ------------------------------------------


@pytest.fixture
def sessions_audited(db: Database, db_url: str) -> Database:
    """6,000 sessions of 30 clients over 25 days, a sixth still active, written as the owner."""
    _load(db_url, ("""
            INSERT INTO sessions (client_id, is_active, last_heartbeat, created_at)
            SELECT 'client-' || (g %% 30), g %% 6 = 0, %(at)s::timestamptz + g * interval '6 minutes',
                   %(at)s::timestamptz + g * interval '6 minutes'
            FROM generate_series(0, 5999) g""", {"at": AT}), "ANALYZE sessions")
    return db


def test_sessions_by_client_activity_and_range(sessions_audited: Database) -> None:
    db = sessions_audited
    assert db.sessions.count() == 6000
    assert db.sessions.count(active=True) == 1000
    assert db.sessions.count(client_id="client-6") == 200
    assert db.sessions.count(client_id="client-6", active=True) == 200  # 6 divides every such g
    assert db.sessions.count(since=AT, until=AT + timedelta(days=1)) == 240
    ids, cursor = [], None
    while True:
        page = db.sessions.list(client_id="client-7", limit=64, cursor=cursor)
        assert all(s.client_id == "client-7" for s in page)
        ids += [s.id for s in page]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert len(ids) == len(set(ids)) == 200
    newest = db.sessions.list(limit=3)
    assert [s.created_at for s in newest] == sorted((s.created_at for s in newest), reverse=True)
    with pytest.raises(InvalidValue, match="sessions.active"):
        db.sessions.list(active="yes")  # type: ignore[arg-type]


def test_the_sessions_audit_uses_its_indexes(sessions_audited: Database) -> None:
    db = sessions_audited
    anyone = {"client_id": None, "active": None, "since": None, "until": None}
    page = {"before_created_at": None, "before_id": None, "limit": 51}
    plan = _plan(db, db.sessions, "list_sessions", **anyone, **page)  # the newest page
    assert "Index Scan Backward using ix_sessions_created_at" in plan and "Seq Scan" not in plan, plan
    plan = _plan(db, db.sessions, "count_sessions", **{**anyone, "client_id": "client-3"})
    assert "ix_sessions_client_id" in plan and "Seq Scan" not in plan, plan
    plan = _plan(db, db.sessions, "count_sessions", **{**anyone, "since": AT, "until": AT + timedelta(days=1)})
    assert "ix_sessions_created_at" in plan and "Seq Scan" not in plan, plan
    plan = _plan(db, db.sessions, "list_sessions", **{**anyone, "client_id": "client-3"}, **page)
    assert "Seq Scan" not in plan, plan  # one client's page: either index, never the whole table
