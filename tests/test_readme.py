"""The README stays true: its test command is what CI runs, and its examples run."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import psycopg
import pytest

from aura_db import Database

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def test_quickstart_has_two_commands_and_ci_runs_the_test_one() -> None:
    quickstart = README.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```sh\n(.*?)\n```", quickstart, flags=re.S)
    assert len(commands) == 2
    main_job, test_command = commands
    assert "aura-db migrate --status" in main_job
    assert "pytest" in test_command
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test_command in ci_lines


def test_python_examples_run(make_db_url: object, monkeypatch: pytest.MonkeyPatch,
                             capsys: pytest.CaptureFixture[str]) -> None:
    url = make_db_url(migrated=False)  # type: ignore[operator]
    monkeypatch.setenv("AURA_DATABASE_URL", url)
    (example,) = [b for b in _blocks("python") if "tx.stories.create" in b and "await" not in b]
    exec(compile(example, "README.md", "exec"), {})
    assert capsys.readouterr().out == "alice 2 ['Add login'] None\n"
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT path, created_by FROM workspaces").fetchall() == [("/src/app", "alice")]
        assert conn.execute("SELECT title, status FROM stories").fetchall() == [("Add login", "Analyzing")]


def test_the_run_transaction_example_runs(db_url: str, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("AURA_DATABASE_URL", db_url)
    (example,) = [b for b in _blocks("python") if "run_transaction" in b]
    exec(compile(example, "README.md", "exec"), {"Database": Database})
    assert capsys.readouterr().out == "Analyzing\n"
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT title, status, updated_by FROM stories").fetchall() == [
            ("Retry me", "Analyzing", "alice")]


def test_every_python_block_runs(make_db_url: Any, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    """Each Python block of the README, on its own, on a fresh migrated database (as a reader
    would paste it): none may need names it does not define."""
    blocks = _blocks("python")
    assert len(blocks) >= 5
    outputs = []
    for block in blocks:
        monkeypatch.setenv("AURA_DATABASE_URL", make_db_url())
        namespace: dict[str, Any] = {"__name__": "readme"}
        exec(compile(block, "README.md", "exec"), namespace)
        outputs.append(capsys.readouterr().out)
    search = next(out for block, out in zip(blocks, outputs, strict=True) if "explain_search" in block)
    first, plan, calibrations = search.splitlines()
    assert first == "src/m4.py 2"  # the chunk the query was made from
    assert plan.startswith("exact via ix_rag_chunks_workspace_source_path (not calibrated: configured "
                           "defaults), query search_exact, plan ") and len(plan) < 300
    assert calibrations == "[]"
    documented = README.split("prints (500 chunks", 1)[1].split("```text\n", 1)[1].split("```", 1)[0]
    # the plan's lower nodes depend on the statistics autovacuum may or may not have gathered
    assert documented.splitlines()[0::2] == [first, calibrations]
    assert plan.startswith(documented.splitlines()[1].removesuffix(" ..."))
    in_async = next(out for block, out in zip(blocks, outputs, strict=True) if "AsyncDatabase" in block)
    assert in_async == "alice ['Add login', 'Write the tests']\n"
    assert f"prints `{in_async.strip()}`" in README
    tenant = next(out for block, out in zip(blocks, outputs, strict=True) if "tenant-a" in block)
    assert tenant == "[]\n/src/tenant-a\n"
    loaded = next(out for block, out in zip(blocks, outputs, strict=True) if "progress.log_lines" in block)
    assert "ingest into workspace" in loaded and "3000/3000 chunks (100%), done in" in loaded
    assert "build ix_rag_chunks_embedding_768" in loaded
