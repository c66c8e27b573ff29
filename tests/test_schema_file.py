"""sql/schema.sql is exactly what the migrations build (the file DBAs review)."""

from __future__ import annotations

import pytest

from aura_db.cli import main
from aura_db.ops.schema import HEADER, schema_path


def test_committed_schema_matches_the_migrations(template_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--url", template_url, "schema", "--check"])
    assert code == 0, capsys.readouterr().out[-3000:] + "\n(run 'aura-db schema' after migrating)"
    text = schema_path().read_text()
    assert text.startswith(HEADER)
    for table in ("workspaces", "rag_chunks", "stories", "story_steps", "messages", "code_edges"):
        assert f"CREATE TABLE public.{table} (" in text
    assert "CREATE INDEX ix_rag_chunks_embedding_3072 ON public.rag_chunks USING hnsw" in text
    assert "_yoyo" not in text and "aura_migration_files" not in text
