"""Backup, restore, schema dumps and the operator scripts, on a real server with its own pg_dump."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest

from aura_db.cli import main
from aura_db.errors import AuraError, MigrationError, ToolError
from aura_db.ops import backup as backups
from aura_db.ops import restore as restores
from aura_db.ops.pgtools import find_tool, server_major
from aura_db.ops.schema import HEADER, check_schema, dump_schema, normalize, write_schema

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def populated_url(empty_db_url: str) -> str:
    """A database with a few tables of varied types, one without a primary key."""
    with psycopg.connect(empty_db_url, autocommit=True) as conn:
        conn.execute("""
            CREATE TABLE people (id bigint PRIMARY KEY, name text, born date, tags text[], doc jsonb);
            CREATE TABLE events (at timestamptz, score double precision, note text);
            INSERT INTO people SELECT g, 'p' || g, date '2000-01-01' + g, ARRAY['a', g::text],
                jsonb_build_object('n', g) FROM generate_series(1, 300) g;
            INSERT INTO events SELECT timestamptz '2024-01-01' + g * interval '1 minute', g / 7.0,
                CASE WHEN g % 5 = 0 THEN NULL ELSE 'n' || g END FROM generate_series(1, 200) g;
        """)
    return empty_db_url


def count(url: str, table: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    assert row is not None
    return int(row[0])


def test_backup_then_restore_verify_round_trips(
    populated_url: str, tmp_path: Path, pg_server: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["--url", populated_url]
    assert main([*base, "backup", "--dir", str(tmp_path), "--pg-bin", str(pg_server.bin_dir)]) == 0
    archive = next(tmp_path.glob("*.dump"))
    assert f"to {archive}" in capsys.readouterr().out
    assert main([*base, "restore", str(archive), "--verify", "--pg-bin", str(pg_server.bin_dir)]) == 0
    out = capsys.readouterr().out
    assert "public.people: source 300 rows md5" in out and "public.events: source 200 rows" in out
    assert "verified 2 table(s): row counts and checksums match" in out


def test_verify_notices_a_changed_table(populated_url: str, tmp_path: Path, pg_server: Any) -> None:
    archive, _ = backups.backup(populated_url, tmp_path, pg_bin=pg_server.bin_dir)
    with psycopg.connect(populated_url, autocommit=True) as conn:
        conn.execute("UPDATE people SET name = 'changed' WHERE id = 7")
    checks = {c.table: c for c in restores.verify_archive(populated_url, archive, pg_bin=pg_server.bin_dir)}
    assert not checks["public.people"].ok and checks["public.events"].ok
    assert checks["public.people"].source[0] == checks["public.people"].restored[0] == 300  # type: ignore[index]


def test_restore_replaces_the_target_after_a_safety_backup(
    populated_url: str, tmp_path: Path, pg_server: Any
) -> None:
    archive, _ = backups.backup(populated_url, tmp_path, pg_bin=pg_server.bin_dir)
    with psycopg.connect(populated_url, autocommit=True) as conn:
        conn.execute("DELETE FROM people WHERE id > 100")
    with pytest.raises(AuraError, match="restoring replaces the database '.*': pass --yes"):
        restores.restore(populated_url, archive, backup_dir=tmp_path, pg_bin=pg_server.bin_dir)
    safety = restores.restore(populated_url, archive, backup_dir=tmp_path, yes=True,
                             pg_bin=pg_server.bin_dir).safety
    assert safety is not None and "-pre-restore-" in safety.name and safety.exists()
    assert count(populated_url, "people") == 300


def test_a_truncated_archive_fails_and_leaves_the_target_untouched(
    populated_url: str, tmp_path: Path, pg_server: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    archive, _ = backups.backup(populated_url, tmp_path, pg_bin=pg_server.bin_dir)
    data = archive.read_bytes()
    for size in (len(data) // 2, 40):
        broken = tmp_path / f"broken{size}.dump"
        broken.write_bytes(data[:size])
        with psycopg.connect(populated_url, autocommit=True) as conn:
            conn.execute("DELETE FROM events WHERE score > 20")
        before = count(populated_url, "events")
        code = main(["--url", populated_url, "restore", str(broken), "--yes", "--dir", str(tmp_path / "safety"),
                     "--pg-bin", str(pg_server.bin_dir)])
        assert code == 1
        err = capsys.readouterr().err.splitlines()  # progress lines (not a terminal), then the error
        assert err[-1].startswith("aura-db: error: ") and sum("error" in line for line in err) == 1
        assert all(line.startswith(("backup ", "restore ")) for line in err[:-1]), err
        assert count(populated_url, "events") == before
    with psycopg.connect(pg_server.admin_url, autocommit=True) as conn:
        leftovers = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE '%restore%'").fetchall()
    assert leftovers == []


def test_backup_keeps_the_newest_n(populated_url: str, tmp_path: Path, pg_server: Any) -> None:
    made = [backups.backup(populated_url, tmp_path, keep=2, pg_bin=pg_server.bin_dir) for _ in range(3)]
    assert sorted(tmp_path.glob("*.dump")) == [made[1][0], made[2][0]]
    assert made[2][1] == [made[0][0]]
    with pytest.raises(ToolError, match="no backup archive at"):
        backups.check_archive(tmp_path / "nope.dump", find_tool("pg_restore", 18, pg_bin=pg_server.bin_dir))


def test_an_older_pg_dump_is_refused(populated_url: str, tmp_path: Path) -> None:
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "pg_dump").write_text("#!/bin/sh\necho 'pg_dump (PostgreSQL) 12.4'\n")
    (fake / "pg_dump").chmod(0o755)
    major = server_major(populated_url)
    with pytest.raises(ToolError, match=rf"pg_dump must be version {major} or newer .*is 12.*--pg-bin"):
        find_tool("pg_dump", major, pg_bin=fake)


# -- schema.sql -----------------------------------------------------------------------------------


def test_schema_is_stable_and_check_fails_when_stale(
    db_url: str, tmp_path: Path, pg_server: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "schema.sql"
    base = ["--url", db_url, "schema", "--output", str(out), "--pg-bin", str(pg_server.bin_dir)]
    assert main(base) == 0
    first = out.read_text()
    assert main(base) == 0
    assert out.read_text() == first
    assert "CREATE TABLE public.workspaces" in first
    for noise in ("_yoyo", "yoyo_lock", "aura_migration_", "\\restrict", "\nSET ", "Dumped from", "OWNER TO"):
        assert noise not in first
    assert main([*base, "--check"]) == 0
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE surprise (id int)")
    assert main([*base, "--check"]) == 1
    captured = capsys.readouterr()
    assert "+CREATE TABLE public.surprise" in captured.out
    # (in the URL test mode the URL carries a password: --url warns about it, rightly)
    errors = [line for line in captured.err.splitlines() if not line.startswith("aura-db: warning: --url")]
    assert errors == [f"aura-db: error: {out} is stale: regenerate it with 'aura-db schema' and commit it"]


def test_schema_refuses_a_database_with_pending_migrations(empty_db_url: str, pg_server: Any) -> None:
    with pytest.raises(MigrationError, match=r"pending migration\(s\): run 'aura-db migrate' first"):
        dump_schema(empty_db_url, pg_bin=pg_server.bin_dir)
    assert check_schema is not None and write_schema is not None


def test_normalize_drops_version_noise() -> None:
    dump = ("--\n-- PostgreSQL database dump\n--\n\n\\restrict abc\n-- Dumped from database version 18.0\n"
            "-- Dumped by pg_dump version 18.0\n\nSET statement_timeout = 0;\n"
            "SELECT pg_catalog.set_config('search_path', '', false);\n\n\n"
            "CREATE TABLE public.t (id integer);\n\n\\unrestrict abc\n")
    assert normalize(dump) == HEADER + "\n--\n\nCREATE TABLE public.t (id integer);\n"


# -- init / reset and the scripts -----------------------------------------------------------------


def test_reset_db_refuses_without_yes_and_remote_without_force(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--url", "postgresql://u:secret@127.0.0.1:1/x", "reset-db"]) == 1
    assert "pass --yes to confirm" in capsys.readouterr().err
    assert main(["--url", "postgresql://u:secret@db.example.com/x", "reset-db", "--yes"]) == 1
    err = capsys.readouterr().err
    assert "db.example.com:5432/x is not on this machine: pass --force" in err and "secret" not in err


def test_init_db_creates_and_migrates_then_reset_db_starts_over(
    pg_server: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    url = pg_server.url_for("aura_test_initdb")
    try:
        assert main(["--url", url, "init-db"]) == 0
        out = capsys.readouterr().out
        assert "created database aura_test_initdb" in out and ", 0 pending" in out
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE junk (id int)")
        assert main(["--url", url, "reset-db", "--yes"]) == 0
        assert "dropped and re-created database aura_test_initdb" in capsys.readouterr().out
        with psycopg.connect(url, autocommit=True) as conn:
            assert conn.execute("SELECT to_regclass('junk')").fetchone() == (None,)
    finally:
        with psycopg.connect(pg_server.admin_url, autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS aura_test_initdb WITH (FORCE)")


@pytest.mark.parametrize("script", ["migrate", "rollback", "status", "init_db", "reset_db", "backup", "restore"])
def test_every_script_has_help(script: str) -> None:
    env = dict(os.environ, AURA_PYTHON=sys.executable)
    done = subprocess.run([str(ROOT / "scripts" / script), "--help"], capture_output=True, text=True,
                          env=env, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: aura-db ")


def test_the_backup_script_runs_for_real(populated_url: str, tmp_path: Path, pg_server: Any) -> None:
    env = dict(os.environ, AURA_PYTHON=sys.executable, AURA_PG_BIN=str(pg_server.bin_dir))
    done = subprocess.run([str(ROOT / "scripts" / "backup"), "--url", populated_url, "--dir", str(tmp_path),
                           "--verify"], capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done.stderr
    assert "verified 2 table(s)" in done.stdout
