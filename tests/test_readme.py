"""The README stays true: its test command is what CI runs, and its examples run."""

from __future__ import annotations

import re
from pathlib import Path

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
    (example,) = [b for b in _blocks("python") if "Database.connect()" in b and "run_transaction" not in b]
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
