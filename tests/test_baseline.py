"""baseline / mark: adopt a database that has the schema but no record of the migrations,
verified against its catalog first."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from aura_db.cli import main
from aura_db.errors import MigrationError
from aura_db.migrations import load_migrations, mark, migrate, status, verify
from aura_db.migrations.baseline import CatalogObject, _present, expected_objects
from aura_db.ops.pgtools import find_tool, server_major
from aura_db.ops.schema import schema_path


def _load_schema_sql(make_db_url: Callable[..., str], pg_server: Any) -> str:
    url = make_db_url(migrated=False)
    psql = find_tool("psql", server_major(url), pg_bin=pg_server.bin_dir)
    psql.run(url, ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", str(schema_path())])
    return url


def test_what_the_migrations_make_is_found_in_a_migrated_catalog(template_url: str) -> None:
    """The statement scan behind the check, over the real migrations: every object it expects
    is really there on a migrated database (and it finds all kinds)."""
    expected = expected_objects(s for m in load_migrations() for s in m.up_statements())
    kinds = {obj.kind for obj in expected}
    assert kinds >= {"table", "index", "function", "trigger", "policy", "extension", "constraint", "column"}
    assert expected[CatalogObject("table", "rag_chunks")] is True
    assert len(expected) > 100
    with psycopg.connect(template_url, autocommit=True) as conn:
        wrong = [str(o) for o, exists in expected.items() if _present(conn, o) != exists]
    assert wrong == []


def test_expected_objects_follow_the_statements_in_order() -> None:
    expected = expected_objects([
        "CREATE TABLE t (a int)", "CREATE INDEX IF NOT EXISTS ix_t_a ON t (a)",
        "ALTER TABLE t ADD COLUMN b text, ADD CONSTRAINT ck_t_b CHECK (b <> '')",
        "CREATE TRIGGER trg_t BEFORE UPDATE ON t FOR EACH ROW EXECUTE FUNCTION f()",
        "DROP INDEX ix_t_a", "CREATE TABLE u (x int)", "DROP TABLE u",
    ])
    assert expected == {
        CatalogObject("table", "t"): True, CatalogObject("index", "ix_t_a"): False,
        CatalogObject("column", "b", "t"): True, CatalogObject("constraint", "ck_t_b", "t"): True,
        CatalogObject("trigger", "trg_t", "t"): True, CatalogObject("table", "u"): False,
    }


def test_baseline_adopts_a_database_built_from_schema_sql(
    make_db_url: Callable[..., str], pg_server: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    url = _load_schema_sql(make_db_url, pg_server)
    with pytest.raises(MigrationError):  # migrate cannot: the tables exist
        migrate(url)
    assert main(["baseline", "--url", url, "--by", "dba@laptop"]) == 0
    out = capsys.readouterr().out
    count = len(load_migrations())
    assert f"{count} migration(s) recorded as applied" in out and "recorded 0001_workspaces as applied" in out
    rows = status(url)
    assert [r.id for r in rows if r.pending] == [] and {r.applied_by for r in rows} == {"dba@laptop"}
    assert verify(url) == []
    assert migrate(url) == []
    assert main(["history", "--url", url, "--limit", "1"]) == 0
    assert " mark " in capsys.readouterr().out
    assert main(["baseline", "--url", url]) == 0  # again: nothing left to record
    assert "0 migration(s) recorded" in capsys.readouterr().out


def test_baseline_refuses_a_database_that_lacks_the_schema(empty_db_url: str) -> None:
    migrate(empty_db_url, target="0002_conversations")
    with psycopg.connect(empty_db_url, autocommit=True) as conn:
        conn.execute("DROP INDEX ix_messages_created_at")
    with pytest.raises(MigrationError) as caught:
        mark(empty_db_url, target="0005_rag_chunks_search_indexes")
    message = str(caught.value)
    assert message.startswith("refusing to record 2 migration(s) as applied (0004_rag_chunks, "
                              "0005_rag_chunks_search_indexes): the database does not have what they make: ")
    assert "table rag_chunks missing" in message and "index ix_rag_chunks_embedding_768 missing" in message
    assert "ix_messages" not in message  # already-applied migrations are not checked again
    assert [r.id for r in status(empty_db_url) if not r.pending] == ["0001_workspaces", "0002_conversations"]


def test_mark_records_the_named_migration_and_its_dependencies(empty_db_url: str) -> None:
    """0004 and 0005 were run by hand (their statements, outside aura-db): marking 0005 records
    both (0005 depends on 0004), and migrate goes on from there."""
    migrate(empty_db_url, target="0002_conversations")
    infos = {m.id: m for m in load_migrations()}
    with psycopg.connect(empty_db_url, autocommit=True) as conn:
        for mid in ("0004_rag_chunks", "0005_rag_chunks_search_indexes"):
            for statement in infos[mid].up_statements():
                conn.execute(statement)
    assert mark(empty_db_url, ["0005_rag_chunks_search_indexes"]) == [
        "0004_rag_chunks", "0005_rag_chunks_search_indexes"]
    applied = {r.id for r in status(empty_db_url) if not r.pending}
    assert applied == {"0001_workspaces", "0002_conversations", "0004_rag_chunks", "0005_rag_chunks_search_indexes"}
    done = migrate(empty_db_url)
    assert "0003_agent_executions" in done and "0004_rag_chunks" not in done


def test_mark_with_allow_missing_records_anyway(empty_db_url: str, caplog: pytest.LogCaptureFixture) -> None:
    assert mark(empty_db_url, ["0001_workspaces"], allow_missing=True) == ["0001_workspaces"]
    assert "recorded as applied although table workspaces missing" in caplog.text


def test_mark_an_unknown_migration_names_it(empty_db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["mark", "--url", empty_db_url, "0099_nothing"]) == 1
    assert "no migration '0099_nothing' on disk" in capsys.readouterr().err
