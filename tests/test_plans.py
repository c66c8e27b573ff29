"""aura_db.ops.plans: which named queries use which index, planned on a sample that is rolled back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from aura_db import Database
from aura_db.ops.plans import BIGGEST_SHARE, ROWS, PlanUsage, plan_usage
from aura_db.queries import load_queries


@pytest.fixture(scope="module")
def usage(template_url: str) -> PlanUsage:
    with psycopg.connect(template_url, autocommit=True) as conn:
        return plan_usage(conn)


def test_the_indexes_of_the_listings_and_filters_are_found_by_the_planner(usage: PlanUsage) -> None:
    assert "stories.list_stories_newest" in usage.indexes["ix_stories_live_created_at"]
    assert "stories.list_stories_newest (statuses)" in usage.indexes["ix_stories_live_status"]
    assert "executions.list_tool_executions (tool_name)" in usage.indexes["ix_tool_executions_tool_name_created_at"]
    assert "sessions.list_sessions (client_id)" in usage.indexes["ix_sessions_client_id"]
    assert "rag_chunks.search_hnsw_768" in usage.indexes["ix_rag_chunks_embedding_768"]
    assert "workspaces.upsert_workspace" in usage.indexes["workspaces_pkey"]  # ON CONFLICT arbiter
    # a repository's graph is found by its index, not read whole (it was IS NOT DISTINCT FROM)
    assert "code_graph.delete_repository_graph (repository_path)" in usage.indexes["ix_code_nodes_repository_file"]
    assert not any(i.startswith("pg_") for i in usage.indexes)  # only aura-db's own indexes


def test_whole_table_reads_and_queries_without_a_plan_are_reported(usage: PlanUsage) -> None:
    assert usage.seq_scans["stories.count_stories"] == ["stories"]  # counting everything
    assert "stories.get_story" not in usage.seq_scans
    assert usage.unplanned["rag_chunks.copy_chunks_direct"] == "a script or a COPY (no plan)"
    assert len(usage.unplanned) == 10, usage.unplanned  # every other query has a plan
    assert usage.rows["workspaces"] == ROWS["workspaces"] and usage.rows["story_tasks"] == ROWS["story_tasks"]
    assert 0.25 < BIGGEST_SHARE < 0.35


def test_a_query_no_index_serves_is_listed_as_a_whole_table_read(template_url: str, tmp_path: Path) -> None:
    (tmp_path / "probe.sql").write_text(
        "-- A query that can fail the check.\n\n"
        "-- name: by_description\n-- Stories by their description: no index.\n"
        "SELECT id FROM stories WHERE description = %(d)s::text;\n\n"
        "-- name: by_id?\n-- A story by id.\nSELECT id FROM stories WHERE id = %(id)s::uuid;\n")
    with psycopg.connect(template_url, autocommit=True) as conn:
        found = plan_usage(conn, load_queries(tmp_path))
    assert found.seq_scans == {"probe.by_description": ["stories"]}
    assert found.indexes == {"stories_pkey": ["probe.by_id"]}


def _state(conn: psycopg.Connection[Any]) -> tuple[Any, ...]:
    return (conn.execute("SELECT id, title FROM stories ORDER BY id").fetchall(),
            conn.execute("SELECT count(*) FROM pg_constraint WHERE connamespace = 'public'::regnamespace"
                         ).fetchone(),
            conn.execute("SELECT tgname, tgenabled FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1").fetchall(),
            conn.execute("SELECT count(*) FROM pg_stats WHERE schemaname = 'public'").fetchone(),
            conn.execute("SELECT relname, relrowsecurity, relforcerowsecurity, relfilenode FROM pg_class "
                         "WHERE relnamespace = 'public'::regnamespace ORDER BY 1").fetchall())


def test_planning_changes_nothing_in_the_database(db_url: str, app_url: str) -> None:
    with Database.connect(app_url) as db:
        story = db.stories.create(title="kept through planning")
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE stories ENABLE ROW LEVEL SECURITY")
        before = _state(conn)
        plan_usage(conn, load_queries())
        assert _state(conn) == before
        assert conn.execute("SELECT count(*) FROM pg_prepared_statements WHERE name = 'aura_plan'"
                            ).fetchone() == (0,)
        assert conn.execute("SELECT title FROM stories WHERE id = %s", (story.id,)).fetchone() == (
            "kept through planning",)
