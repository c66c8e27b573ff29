"""The harness itself: each test gets its own migrated database on a real server."""

from __future__ import annotations

from typing import Any

import psycopg


def test_each_test_gets_a_migrated_database(conn: psycopg.Connection[Any]) -> None:
    row = conn.execute(
        "SELECT current_database(), (SELECT extversion FROM pg_extension WHERE extname = 'vector'),"
        " to_regclass('public.workspaces') IS NOT NULL"
    ).fetchone()
    assert row is not None
    name, pgvector, has_workspaces = row
    assert name.startswith("aura_test_")
    assert pgvector is not None and pgvector >= "0.7"
    assert has_workspaces is True


def test_empty_database_has_no_schema(empty_db_url: str) -> None:
    with psycopg.connect(empty_db_url) as c:
        row = c.execute("SELECT to_regclass('public.workspaces'), "
                        "(SELECT 1 FROM pg_extension WHERE extname = 'vector')").fetchone()
    assert row == (None, None)
