"""docs/schema.md: generated from the migrated catalog, committed, current."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg
import pytest

from aura_db.cli import main
from aura_db.ops import docs
from aura_db.ops.docs import docs_path, render_docs
from aura_db.ops.plans import PlanUsage


def test_the_committed_docs_are_current(template_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--url", template_url, "docs", "--check"])
    assert code == 0, capsys.readouterr().out[-3000:] + "\n(run 'aura-db docs' after migrating)"


def test_the_docs_cover_every_table_with_diagrams_keys_indexes_and_policies(template_url: str) -> None:
    text = docs_path().read_text()
    with psycopg.connect(template_url, autocommit=True) as conn:
        tables = {r[0] for r in conn.execute(
            "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r' "
            "AND relname NOT LIKE '%yoyo%' AND relname NOT LIKE 'aura_migration%'")}
    assert {m for m in re.findall(r"^### (\w+)$", text, flags=re.M)} == tables
    assert re.findall(r"^## Module (\w+)$", text, flags=re.M) == ["foundation", "developer"]
    assert text.count("```mermaid\nerDiagram") == 2
    assert "    stories ||--o{ story_steps : fk_story_steps_story_id" in text
    assert "        uuid id PK" in text and "        uuid story_id FK" in text
    section = text.split("### rag_chunks\n", 1)[1].split("\n### ", 1)[0]
    assert "| `ix_rag_chunks_embedding_768` | `hnsw (((embedding)::vector(768)) vector_cosine_ops)" in section
    assert "rag_chunks.search_hnsw_768" in section  # the comment names the queries it serves
    line = next(x for x in section.splitlines() if x.startswith("| `ix_rag_chunks_embedding_768`"))
    assert line.split(" | ")[2] == "rag_chunks.hybrid_hnsw_768, rag_chunks.search_hnsw_768"  # used by (EXPLAIN)
    assert "## How the plans were made" in text and "| `stories.count_stories` | stories |" in text
    assert "| `embedding_dims` | integer |" in section
    assert "Row-level security defined, switched off" in section and "current_setting('aura.workspace_id'" in section


def test_check_fails_when_the_docs_are_stale(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    # the diff is what is tested here; planning (8 s a run) has its own tests in test_plans.py
    monkeypatch.setattr(docs, "plan_usage", lambda conn: PlanUsage(indexes={"stories_pkey": ["probe.q"]}))
    out = tmp_path / "schema.md"
    assert main(["--url", db_url, "docs", "--output", str(out)]) == 0
    assert out.read_text() == render_docs(db_url)
    assert "| `stories_pkey` | `btree (id)` | probe.q |" in out.read_text()
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("COMMENT ON TABLE stories IS 'changed by hand'")
    assert main(["--url", db_url, "docs", "--output", str(out), "--check"]) == 1
    captured = capsys.readouterr()
    assert "+changed by hand" in captured.out
    assert f"{out} is stale: regenerate it with 'aura-db docs'" in captured.err
