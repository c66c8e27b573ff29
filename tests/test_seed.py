"""The development seed: written through the public API, every status covered, idempotent,
refusing a database that holds other data."""

from __future__ import annotations

import psycopg
import pytest

from aura_db import Config, Database
from aura_db.cli import main
from aura_db.errors import AuraError
from aura_db.ops.seed import MARKER, seed
from aura_db.repositories import StoryStatus


def _scalar(url: str, query: str) -> object:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(query).fetchone()
    assert row is not None
    return row[0]


def test_seed_covers_every_status_and_is_idempotent(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["seed", "--url", db_url]) == 0
    first = capsys.readouterr().out
    assert first.startswith("seeded the development dataset:")
    assert main(["seed", "--url", db_url]) == 0
    second = capsys.readouterr().out
    assert second.startswith("the development dataset is already there:")
    assert first.splitlines()[1:] == second.splitlines()[1:]  # the same row counts
    with Database(Config(url=db_url)) as db:
        statuses = {s.status for s in db.stories.list(limit=100)}
        assert statuses == set(StoryStatus)
        assert db.configurations.get(MARKER) == {"version": 1, "by": "aura-db seed"}
        assert {w.path for w in db.workspaces.list()} == {"/src/aura-demo", "/src/payments-api", "/src/docs-site"}
    steps = _scalar(db_url, "SELECT array_agg(DISTINCT status ORDER BY status) FROM story_steps")
    assert steps == ["Completed", "Failed", "Pending", "Running", "Skipped"]
    assert _scalar(db_url, "SELECT count(*) FROM message_rag_contexts") == 2
    assert _scalar(db_url, "SELECT count(DISTINCT success) FROM agent_executions") == 2
    assert _scalar(db_url, "SELECT array_agg(DISTINCT status ORDER BY status) FROM tool_executions") == [
        "Completed", "Failed"]
    assert _scalar(db_url, "SELECT count(*) FROM rag_chunks WHERE embedding_dims = 384") == 72
    assert _scalar(db_url, "SELECT array_agg(DISTINCT edge_type ORDER BY edge_type) FROM code_edges") == [
        "Calls", "Contains", "Inherits"]
    assert _scalar(db_url, "SELECT count(DISTINCT created_by) FROM stories") == 1  # the seed's actor


def test_seed_refuses_a_database_with_other_data_unless_forced(db_url: str) -> None:
    with Database(Config(url=db_url)) as db:
        db.workspaces.upsert("/src/real-project")
        with pytest.raises(AuraError, match=r"holds data that is not aura-db's seed \(1 workspaces\)"):
            seed(db)
        assert db.workspaces.count() == 1  # nothing written
        report = seed(db, force=True)
        assert report.written and report.rows["workspaces"] == 4


def test_reset_db_seed(empty_db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["reset-db", "--url", empty_db_url, "--yes", "--seed"]) == 0
    assert "seeded the development dataset:" in capsys.readouterr().out
    assert _scalar(empty_db_url, "SELECT count(*) FROM stories") == 9
