"""The ``aura-db`` command, in-process through ``main(argv)`` and as real processes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import psycopg
import pytest

from aura_db import Config, Database
from aura_db.cli import build_parser, main
from aura_db.migrations import load_migrations
from aura_db.repositories import Chunk, SearchTuning

SECRET = "pa55-w0rd"
ROOT = Path(__file__).resolve().parent.parent


def test_health_prints_server_pgvector_and_pool(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--url", db_url, "health"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1].startswith("postgresql: ")
    assert out[2].startswith("pgvector: 0.")
    assert out[3] == "pending migrations: 0"
    assert out[4].startswith("pool: ")


def test_migrate_then_status_on_an_empty_database(empty_db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    ids = [m.id for m in load_migrations()]
    assert main(["--url", empty_db_url, "status", "--exit-code"]) == 3
    assert f"0 applied, {len(ids)} pending" in capsys.readouterr().out
    assert main(["--url", empty_db_url, "migrate", "--status"]) == 0
    out = capsys.readouterr().out
    assert [line for line in out.splitlines() if line.startswith("applied ")] == [f"applied {i}" for i in ids]
    assert f"{len(ids)} applied, 0 pending" in out
    assert main(["--url", empty_db_url, "status", "--exit-code"]) == 0
    assert main(["--url", empty_db_url, "migrate"]) == 0
    assert "0 migration(s) applied" in capsys.readouterr().out


def test_check_passes_on_the_migrated_schema(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--url", db_url, "check"]) == 0
    assert capsys.readouterr().out.strip().endswith("named queries checked, 0 problem(s)")


def test_check_fails_before_migrations(empty_db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--url", empty_db_url, "check"]) == 1
    out = capsys.readouterr().out
    assert 'relation "workspaces" does not exist [42P01]' in out


def test_every_command_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    commands = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert {"health", "migrate", "status", "check"} <= set(commands)
    assert main(["--help"]) == 0
    for command in commands:
        assert main([command, "--help"]) == 0
        assert f"usage: aura-db {command}" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [[], ["no-such-command"], ["status", "--bogus"]])
def test_bad_usage_exits_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert "usage: aura-db" in capsys.readouterr().err


def test_unreachable_server_is_one_line_without_the_password(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AURA_CONNECT_TIMEOUT", "1")
    assert main(["--url", f"postgresql+psycopg://aura:{SECRET}@127.0.0.1:1/aura", "health"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    warning, err = captured.err.strip().splitlines()
    assert warning.startswith("aura-db: warning: --url carries a password")
    assert err.startswith("aura-db: error: could not connect to PostgreSQL at 127.0.0.1:1/aura within 1s")
    assert SECRET not in captured.err


def test_malformed_url_error_hides_the_password(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--url", f"postgresql+psycopg://aura:{SECRET}@[oops/aura", "status"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("aura-db: error: invalid database URL 'postgresql://aura:***@[oops/aura'")
    assert SECRET not in err


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "aura_db", *args], cwd=ROOT, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **(env or {})},
    )


def test_two_migrate_processes_started_together_apply_each_migration_once(empty_db_url: str) -> None:
    procs = [_cli("--url", empty_db_url, "migrate") for _ in range(2)]
    results = [(p.wait(timeout=120), *p.communicate()) for p in procs]
    assert [code for code, _, _ in results] == [0, 0], results
    ids = [m.id for m in load_migrations()]
    applied_lines = sorted(line for _, out, _ in results for line in out.splitlines() if line.startswith("applied "))
    assert applied_lines == sorted(f"applied {i}" for i in ids)
    with psycopg.connect(empty_db_url) as conn:
        marked = conn.execute('SELECT migration_id FROM "_yoyo_migration" ORDER BY 1').fetchall()
        applies = conn.execute(
            "SELECT migration_id, count(*) FROM \"_yoyo_log\" WHERE operation = 'apply' GROUP BY 1 ORDER BY 1"
        ).fetchall()
    assert [m for (m,) in marked] == sorted(ids)
    assert applies == [(i, 1) for i in sorted(ids)]


def test_python_dash_m_runs_the_cli(db_url: str) -> None:
    proc = _cli("--url", db_url, "status")
    code = proc.wait(timeout=60)
    out, err = proc.communicate()
    assert code == 0, err
    assert "0 pending" in out


def test_calibrate_search_measures_large_workspaces_and_shows_them(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(9)
    with Database(Config(url=db_url, min_size=1, max_size=2)) as db:
        db.rag_chunks.tuning = SearchTuning(auto_calibrate=False)
        ws = db.workspaces.upsert("/src/cli").id
        vectors = rng.normal(size=(10_050, 384)).astype(np.float32)
        with db.rag_chunks.bulk_load(384):  # no calibration: auto_calibrate is off here
            db.rag_chunks.add_many(ws, [Chunk(content=f"c{i}", embedding=v, chunk_index=i, content_id="doc")
                                        for i, v in enumerate(vectors)])
        small = db.workspaces.upsert("/src/small").id
        db.rag_chunks.add_many(small, [Chunk(content="c", embedding=vectors[0], chunk_index=0, content_id="d")])
    assert main(["--url", db_url, "calibrate-search", "--show"]) == 0
    assert capsys.readouterr().out == "0 calibration(s)\n"
    assert main(["--url", db_url, "calibrate-search", "--recall-target", "0.5"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == "1 calibration(s) measured"  # the small workspace is searched exactly
    assert lines[0].startswith(f"{ws} 384-d: hnsw ef_search ")
    assert re.search(r", exact below [\d,]+ candidates; recall@10 ", lines[0]), lines[0]
    assert "on 40 queries, target 0.5, 10,050 chunks, 0 changed since " in lines[0]
    assert main(["--url", db_url, "calibrate-search", "--show", "--workspace", ws]) == 0
    assert capsys.readouterr().out.splitlines() == [lines[0], "1 calibration(s)"]
    assert main(["--url", db_url, "calibrate-search", "--workspace", small]) == 0
    # one chunk, one probe: met at ef_search 40, kept with one step of headroom
    assert re.match(rf"{small} 384-d: hnsw ef_search 100, exact below \d+ candidates; recall@10 1.000 on 1 queries",
                    capsys.readouterr().out)


def test_version_and_options_after_the_subcommand(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"aura-db {version('aura-db')}"
    assert main(["health", "--url", db_url, "--json"]) == 0  # --url after the subcommand too
    health = json.loads(capsys.readouterr().out)
    assert health["pending_migrations"] == 0 and health["pgvector_version"].startswith("0.")
    assert set(health["pool"]) >= {"pool_size"}


def test_health_on_a_server_that_never_answers_fails_in_one_line_within_the_timeout(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket
    import time

    listener = socket.socket()  # accepts TCP connections and never speaks
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    monkeypatch.setenv("AURA_CONNECT_TIMEOUT", "2")
    monkeypatch.setenv("AURA_DATABASE_URL", f"postgresql://aura@127.0.0.1:{port}/aura")
    try:
        started = time.monotonic()
        assert main(["health"]) == 1
        took = time.monotonic() - started
    finally:
        listener.close()
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1, captured.err
    assert captured.err.startswith(f"aura-db: error: could not connect to PostgreSQL at 127.0.0.1:{port}/aura "
                                   f"within 2s")
    assert took < 6


def test_history_and_json_status_and_verify(empty_db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    ids = [m.id for m in load_migrations()]
    assert main(["--url", empty_db_url, "migrate"]) == 0
    assert main(["--url", empty_db_url, "rollback"]) == 0
    capsys.readouterr()
    assert main(["--url", empty_db_url, "history", "--json"]) == 0
    entries = json.loads(capsys.readouterr().out)["entries"]
    assert sorted(e["migration_id"] for e in entries[:-1] if e["operation"] == "apply") == sorted(ids)
    last_applied = [e["migration_id"] for e in entries if e["operation"] == "apply"][-1]
    assert (entries[-1]["operation"], entries[-1]["migration_id"]) == ("rollback", last_applied)
    assert len(entries) == len(ids) + 1
    transactional = {m.id for m in load_migrations() if m.transactional}
    assert all(isinstance(e["duration_ms"], int) for e in entries
               if e["operation"] == "apply" and e["migration_id"] in transactional)
    assert main(["--url", empty_db_url, "history", "--limit", "1", "--module", "developer"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert " rollback " in out[1] and " developer " in out[1] and out[-1] == "1 entry"
    assert main(["--url", empty_db_url, "status", "--json", "--module", "foundation"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["pending"] == 0 and {m["module"] for m in status["migrations"]} == {"foundation"}
    assert main(["--url", empty_db_url, "verify", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True



def test_libpq_variables_are_used_before_the_embedded_fallback_and_named(
    empty_db_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from psycopg.conninfo import conninfo_to_dict

    params = conninfo_to_dict(empty_db_url)
    for var in ("AURA_DATABASE_URL", "DATABASE_URL", "AURA_MIGRATION_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AURA_DATA_DIR", "/nonexistent/never-started")
    for var, key in (("PGHOST", "host"), ("PGPORT", "port"), ("PGDATABASE", "dbname"), ("PGUSER", "user")):
        if params.get(key):
            monkeypatch.setenv(var, str(params[key]))
    if params.get("password"):
        monkeypatch.setenv("PGPASSWORD", str(params["password"]))
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("database: ") and f"dbname={params['dbname']}" in out.splitlines()[0]
    assert "0 applied" in out and "embedded" not in out
