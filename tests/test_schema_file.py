"""sql/schema.sql is exactly what the migrations build (the file DBAs review)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from aura_db.cli import main
from aura_db.ops.pgtools import find_tool, server_major
from aura_db.ops.schema import HEADER, schema_path

from .test_schema import BOOKKEEPING, SNAPSHOT_QUERIES


def test_committed_schema_matches_the_migrations(template_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--url", template_url, "schema", "--check"])
    assert code == 0, capsys.readouterr().out[-3000:] + "\n(run 'aura-db schema' after migrating)"
    text = schema_path().read_text()
    assert text.startswith(HEADER)
    for table in ("workspaces", "rag_chunks", "stories", "story_steps", "messages", "code_edges"):
        assert f"CREATE TABLE public.{table} (" in text
    assert "CREATE INDEX ix_rag_chunks_embedding_3072 ON public.rag_chunks USING hnsw" in text
    assert "_yoyo" not in text and "aura_migration_files" not in text


_POLICIES = {
    "policies": """
        SELECT tablename, policyname, permissive, roles::text, cmd, qual, with_check
        FROM pg_policies WHERE schemaname = 'public' ORDER BY 1, 2""",
    "row_security": """
        SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class
        WHERE relnamespace = 'public'::regnamespace AND relkind = 'r' AND relname <> ALL (%(yoyo)s)
        ORDER BY 1""",
}


def test_schema_sql_loaded_alone_gives_the_migrated_catalog(
    template_url: str, make_db_url: Callable[..., str], pg_server: Any
) -> None:
    """Columns, defaults, constraint and index definitions, triggers, functions, comments and
    policies of a database built from sql/schema.sql equal the migrated one's (catalog, not
    text: a definition that prints the same but parses differently is caught)."""
    loaded = make_db_url(migrated=False)
    psql = find_tool("psql", server_major(loaded), pg_bin=pg_server.bin_dir)
    psql.run(loaded, ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", str(schema_path())])
    queries = {**SNAPSHOT_QUERIES, **_POLICIES}
    bookkeeping = [*BOOKKEEPING]

    def catalog(url: str) -> dict[str, list[tuple[Any, ...]]]:
        with psycopg.connect(url, autocommit=True) as conn:
            return {kind: conn.execute(q, {"yoyo": bookkeeping}).fetchall() for kind, q in queries.items()}

    migrated, reloaded = catalog(template_url), catalog(loaded)
    for kind in queries:
        only_migrated = [r for r in migrated[kind] if r not in reloaded[kind]]
        only_reloaded = [r for r in reloaded[kind] if r not in migrated[kind]]
        assert (only_migrated, only_reloaded) == ([], []), f"{kind} differ"
    assert len(migrated["constraints"]) > 50 and len(migrated["policies"]) >= 14
