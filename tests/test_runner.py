"""The migration runner on a real server, with throwaway migration folders under tmp_path."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from aura_db.cli import main
from aura_db.errors import MigrationDrift, MigrationError, MigrationLockTimeout
from aura_db.migrations import MigrationSettings, migrate, plan, rollback, status, verify
from aura_db.migrations.files import new_migration
from aura_db.migrations.lock import LOCK_KEY, lock_info
from aura_db.ops.schema import same_schema

ROOT = Path(__file__).resolve().parent.parent
FAST = MigrationSettings(lock_wait=5, lock_timeout=0.3, retries=1, retry_backoff=0.1)


def write(root: Path, module: str, mid: str, up: str, down: str | None = None) -> Path:
    path = root / module / f"{mid}.sql"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(up)
    if down is not None:
        path.with_name(f"{mid}.rollback.sql").write_text(down)
    return path


@pytest.fixture
def mig(tmp_path: Path) -> Path:
    """Three tiny migrations over two modules, plus a non-transactional index."""
    root = tmp_path / "migrations"
    write(root, "foundation", "0001_a", "CREATE TABLE t_a (id bigint PRIMARY KEY, v text);\n",
          "DROP TABLE t_a;\n")
    write(root, "foundation", "0002_b", "-- depends: 0001_a\nALTER TABLE t_a ADD COLUMN w int;\n",
          "ALTER TABLE t_a DROP COLUMN w;\n")
    write(root, "foundation", "0003_ix", "-- depends: 0002_b\n-- transactional: false\n"
          "CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_t_a_v ON t_a (v);\n",
          "DROP INDEX CONCURRENTLY IF EXISTS ix_t_a_v;\n")
    write(root, "developer", "0001_c", "-- depends: 0002_b\n"
          "CREATE TABLE t_c (id bigint PRIMARY KEY, a_id bigint REFERENCES t_a);\n"
          "CREATE INDEX ix_t_c_a ON t_c (a_id);\n", "DROP TABLE t_c;\n")
    return root


def scalar(url: str, query: str, params: Any = None) -> Any:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(query, params).fetchone()
    return row[0] if row else None


def applied_ids(url: str) -> list[str]:
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute('SELECT migration_id FROM "_yoyo_migration" ORDER BY 1').fetchall()
    return [r[0] for r in rows]


# -- apply, record, roll back ---------------------------------------------------------------------


def test_migrate_applies_in_order_and_records_who_duration_and_hashes(empty_db_url: str, mig: Path) -> None:
    assert migrate(empty_db_url, directory=mig, settings=FAST) == ["0001_a", "0002_b", "0003_ix", "0001_c"]
    assert migrate(empty_db_url, directory=mig, settings=FAST) == []
    rows = {s.id: s for s in status(empty_db_url, directory=mig)}
    assert all(not s.pending for s in rows.values())
    assert "@" in (rows["0001_a"].applied_by or "") and rows["0001_a"].duration_ms is not None
    up = scalar(empty_db_url, "SELECT up_sha256 FROM aura_migration_files WHERE migration_id = '0001_a'")
    assert up == hashlib.sha256((mig / "foundation" / "0001_a.sql").read_bytes()).hexdigest()
    assert verify(empty_db_url, directory=mig) == []


def test_status_takes_no_lock_and_writes_nothing(empty_db_url: str, mig: Path) -> None:
    rows = status(empty_db_url, directory=mig)
    assert [s.pending for s in rows] == [True] * 4
    assert scalar(empty_db_url, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == 0


def test_migrate_to_applies_the_target_and_its_dependencies_only(empty_db_url: str, mig: Path) -> None:
    assert migrate(empty_db_url, directory=mig, settings=FAST, target="0002_b") == ["0001_a", "0002_b"]
    with pytest.raises(MigrationError, match="no migration 'nope' on disk"):
        migrate(empty_db_url, directory=mig, settings=FAST, target="nope")


def test_rollback_steps_to_and_missing_rollback_file(empty_db_url: str, mig: Path) -> None:
    migrate(empty_db_url, directory=mig, settings=FAST)
    assert rollback(empty_db_url, directory=mig, settings=FAST) == ["0001_c"]
    assert scalar(empty_db_url, "SELECT to_regclass('t_c')") is None
    assert rollback(empty_db_url, directory=mig, settings=FAST, target="0001_a") == ["0003_ix", "0002_b"]
    assert applied_ids(empty_db_url) == ["0001_a"]
    (mig / "foundation" / "0001_a.rollback.sql").unlink()
    with pytest.raises(MigrationError, match=r"has no rollback file .*0001_a\.rollback\.sql.*--force"):
        rollback(empty_db_url, directory=mig, settings=FAST)
    assert rollback(empty_db_url, directory=mig, settings=FAST, force=True) == ["0001_a"]
    assert scalar(empty_db_url, "SELECT to_regclass('t_a')") is not None  # only unmarked
    assert applied_ids(empty_db_url) == []


def test_a_failing_transactional_migration_leaves_nothing_behind(empty_db_url: str, mig: Path) -> None:
    write(mig, "developer", "0002_bad", "-- depends: 0001_c\nCREATE TABLE t_bad (id int);\n"
          "INSERT INTO t_missing VALUES (1);\n", "DROP TABLE t_bad;\n")
    with pytest.raises(MigrationError, match=r"apply of migration '0002_bad' .*rolled back, nothing "
                       r"recorded.*relation \"t_missing\" does not exist"):
        migrate(empty_db_url, directory=mig, settings=FAST)
    assert scalar(empty_db_url, "SELECT to_regclass('t_bad')") is None
    assert "0002_bad" not in applied_ids(empty_db_url)
    assert scalar(empty_db_url, "SELECT count(*) FROM aura_migration_files WHERE migration_id = '0002_bad'") == 0


# -- drift ----------------------------------------------------------------------------------------


def _edit(mig: Path) -> None:
    path = mig / "foundation" / "0002_b.sql"
    path.write_text(path.read_text() + "-- edited\n")


def _rename(mig: Path) -> None:
    for suffix in (".sql", ".rollback.sql"):
        (mig / "foundation" / f"0002_b{suffix}").rename(mig / "foundation" / f"0002_renamed{suffix}")
    for path in (mig / "foundation" / "0003_ix.sql", mig / "developer" / "0001_c.sql"):
        path.write_text(path.read_text().replace("0002_b", "0002_renamed"))


def _delete(mig: Path) -> None:
    (mig / "developer" / "0001_c.sql").unlink()


@pytest.mark.parametrize(("change", "kind", "message"), [
    (_edit, "edited", r"applied migration '0002_b' \(foundation/0002_b.sql\) was edited after it was applied"),
    (_rename, "renamed", r"applied migration '0002_b' was renamed to '0002_renamed'"),
    (_delete, "deleted", r"the file of applied migration '0001_c' \(developer/0001_c.sql\) was deleted"),
])
def test_verify_reports_drift_and_migrate_refuses(
    empty_db_url: str, mig: Path, change: Any, kind: str, message: str
) -> None:
    migrate(empty_db_url, directory=mig, settings=FAST, target="0002_b")
    if change is _delete:
        migrate(empty_db_url, directory=mig, settings=FAST)
    change(mig)
    drift = verify(empty_db_url, directory=mig)
    assert [d.kind for d in drift] == [kind]
    assert re.search(message, drift[0].message)
    with pytest.raises(MigrationDrift, match=message):
        migrate(empty_db_url, directory=mig, settings=FAST)
    applied = migrate(empty_db_url, directory=mig, settings=FAST, allow_drift=True)
    assert "0002_renamed" not in applied  # a rename is never applied again
    if kind == "renamed":
        assert scalar(empty_db_url, "SELECT count(*) FROM information_schema.columns "
                      "WHERE table_name = 't_a' AND column_name = 'w'") == 1


def test_rollback_refuses_a_migration_whose_files_changed(empty_db_url: str, mig: Path) -> None:
    migrate(empty_db_url, directory=mig, settings=FAST)
    down = mig / "developer" / "0001_c.rollback.sql"
    down.write_text("DROP TABLE t_c CASCADE;\n")
    with pytest.raises(MigrationDrift, match=r"'0001_c'.*pass --allow-drift to roll back anyway"):
        rollback(empty_db_url, directory=mig, settings=FAST)
    assert "0001_c" in applied_ids(empty_db_url)
    _edit(mig)  # drift elsewhere does not block rolling back an unchanged migration
    down.write_text("DROP TABLE t_c;\n")
    (mig / "foundation" / "0002_b.sql").write_text("-- depends: 0001_a\nALTER TABLE t_a ADD COLUMN w int;\n")
    assert rollback(empty_db_url, directory=mig, settings=FAST) == ["0001_c"]
    down_ix = mig / "foundation" / "0003_ix.rollback.sql"
    down_ix.write_text(down_ix.read_text() + "-- edited\n")
    assert rollback(empty_db_url, directory=mig, settings=FAST, allow_drift=True) == ["0003_ix"]


def test_a_rename_can_be_accepted(empty_db_url: str, mig: Path, capsys: pytest.CaptureFixture[str]) -> None:
    migrate(empty_db_url, directory=mig, settings=FAST, target="0002_b")
    _rename(mig)  # also rewrites the (not yet applied) dependants' -- depends: lines
    assert [d.kind for d in verify(empty_db_url, directory=mig)] == ["renamed"]
    assert main(["--url", empty_db_url, "--migrations-dir", str(mig), "verify", "--accept-renames"]) == 0
    out = capsys.readouterr().out
    assert "recorded rename: 0002_b -> 0002_renamed" in out and "0 problem(s)" in out
    assert verify(empty_db_url, directory=mig) == []
    assert "0002_renamed" in applied_ids(empty_db_url) and "0002_b" not in applied_ids(empty_db_url)
    assert sorted(s.id for s in status(empty_db_url, directory=mig) if s.pending) == ["0001_c", "0003_ix"]
    assert sorted(migrate(empty_db_url, directory=mig, settings=FAST)) == ["0001_c", "0003_ix"]
    assert rollback(empty_db_url, directory=mig, settings=FAST, target="0001_a",
                    cascade=True)[-1] == "0002_renamed"


# -- plan -----------------------------------------------------------------------------------------


def test_plan_run_through_psql_builds_the_same_schema_as_migrate(
    make_db_url: Any, mig: Path, pg_server: Any
) -> None:
    by_migrate, by_psql = make_db_url(migrated=False), make_db_url(migrated=False)
    migrate(by_migrate, directory=mig, settings=FAST)
    script = plan(by_psql, directory=mig, settings=FAST)
    assert "SET lock_timeout = '300ms';" in script and "(NON-transactional)" in script
    assert scalar(by_psql, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == 0
    done = subprocess.run([str(pg_server.bin_dir / "psql"), "-X", "-q", "-d", by_psql],
                          input=script, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert same_schema(by_migrate, by_psql, pg_bin=pg_server.bin_dir)
    assert applied_ids(by_psql) == applied_ids(by_migrate)
    assert verify(by_psql, directory=mig) == []
    assert migrate(by_psql, directory=mig, settings=FAST) == []
    back = plan(by_psql, directory=mig, settings=FAST, rollback_steps=2, cascade=True)
    assert back.index("DROP TABLE t_c;") < back.index("DROP INDEX CONCURRENTLY IF EXISTS ix_t_a_v;")


# -- locking --------------------------------------------------------------------------------------

_HOLDER = """
import os, sys, time, psycopg
url = sys.argv[1]
lock = psycopg.connect(url, autocommit=True, application_name="doomed-migrate")
lock.execute("SELECT pg_advisory_lock(%s)", ({key},))
lock.execute('CREATE TABLE IF NOT EXISTS "yoyo_lock" (locked INT DEFAULT 1, ctime TIMESTAMP, '
             'pid INT NOT NULL, PRIMARY KEY (locked))')
lock.execute('INSERT INTO "yoyo_lock" (locked, ctime, pid) VALUES (1, now(), %s)', (os.getpid(),))
print("locked", flush=True)
time.sleep(60)
""".replace("{key}", str(LOCK_KEY))


def test_a_killed_lock_holder_does_not_block_the_next_migrate(
    empty_db_url: str, mig: Path, caplog: pytest.LogCaptureFixture
) -> None:
    proc = subprocess.Popen([sys.executable, "-c", _HOLDER, empty_db_url], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        assert "doomed-migrate" in (lock_info(empty_db_url).advisory_holder or "")
        with pytest.raises(MigrationLockTimeout, match=r"holds the lock on .*: pid \d+ \(doomed-migrate"):
            migrate(empty_db_url, directory=mig, settings=MigrationSettings(lock_wait=0.3))
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        if proc.stdout:
            proc.stdout.close()
    started = time.monotonic()
    assert migrate(empty_db_url, directory=mig, settings=FAST)[0] == "0001_a"
    assert time.monotonic() - started < 5
    assert f"removed a stale yoyo lock row of pid {proc.pid}" in caplog.text
    assert scalar(empty_db_url, 'SELECT count(*) FROM "yoyo_lock"') == 0


def test_two_concurrent_migrate_processes_apply_each_migration_once(empty_db_url: str, mig: Path) -> None:
    cmd = [sys.executable, "-m", "aura_db", "--url", empty_db_url, "--migrations-dir", str(mig), "migrate"]
    procs = [subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    results = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    outs = sorted(r[0] for r in results)
    assert "0 migration(s) applied" in outs[0] and "4 migration(s) applied" in outs[1]
    with psycopg.connect(empty_db_url, autocommit=True) as conn:
        counts = conn.execute("SELECT migration_id, count(*) FROM \"_yoyo_log\" WHERE operation = 'apply' "
                              "GROUP BY 1").fetchall()
    assert sorted(counts) == [("0001_a", 1), ("0001_c", 1), ("0002_b", 1), ("0003_ix", 1)]


def test_unlock_shows_and_removes_a_stale_yoyo_row(
    empty_db_url: str, mig: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    migrate(empty_db_url, directory=mig, settings=FAST)
    gone = subprocess.Popen(["true"])
    gone.wait()  # a pid that is certainly not running
    with psycopg.connect(empty_db_url, autocommit=True) as conn:
        conn.execute('INSERT INTO "yoyo_lock" (locked, ctime, pid) VALUES (1, now(), %s)', (gone.pid,))
    assert main(["--url", empty_db_url, "unlock", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "advisory lock: free" in out and f"yoyo lock row: pid {gone.pid}" in out and "STALE" in out
    assert main(["--url", empty_db_url, "unlock"]) == 0
    assert f"removed 1 yoyo lock row(s) (pids {gone.pid})" in capsys.readouterr().out


# -- timeouts -------------------------------------------------------------------------------------


def test_a_blocked_migration_fails_within_lock_timeout_without_stalling_readers(
    empty_db_url: str, mig: Path
) -> None:
    migrate(empty_db_url, directory=mig, settings=FAST)
    write(mig, "developer", "0002_alter", "-- depends: 0001_c\nALTER TABLE t_a ADD COLUMN z int;\n",
          "ALTER TABLE t_a DROP COLUMN z;\n")
    reader_took: list[float] = []

    def reader() -> None:
        time.sleep(0.1)  # while the ALTER waits in the lock queue
        with psycopg.connect(empty_db_url, autocommit=True) as conn:
            started = time.monotonic()
            conn.execute("SELECT count(*) FROM t_a").fetchone()
            reader_took.append(time.monotonic() - started)

    with psycopg.connect(empty_db_url) as holder:
        holder.execute("SELECT * FROM t_a").fetchall()  # a long transaction holding ACCESS SHARE
        thread = threading.Thread(target=reader)
        thread.start()
        started = time.monotonic()
        settings = MigrationSettings(lock_wait=5, lock_timeout=0.5, retries=2, retry_backoff=0.1)
        with pytest.raises(MigrationError, match=r"'0002_alter'.*lock timeout.*gave up after 2 tries"):
            migrate(empty_db_url, directory=mig, settings=settings)
        took = time.monotonic() - started
        thread.join()
    assert took < 3
    assert reader_took and reader_took[0] < 0.5 + 0.3  # at worst one lock_timeout in the queue
    assert "0002_alter" not in applied_ids(empty_db_url)
    assert scalar(empty_db_url, "SELECT count(*) FROM information_schema.columns "
                  "WHERE table_name = 't_a' AND column_name = 'z'") == 0


def test_a_migration_retries_after_lock_timeout_and_succeeds(empty_db_url: str, mig: Path) -> None:
    migrate(empty_db_url, directory=mig, settings=FAST)
    write(mig, "developer", "0002_alter", "-- depends: 0001_c\nALTER TABLE t_a ADD COLUMN z int;\n",
          "ALTER TABLE t_a DROP COLUMN z;\n")
    holder = psycopg.connect(empty_db_url)
    holder.execute("SELECT * FROM t_a").fetchall()
    threading.Timer(0.5, holder.close).start()
    settings = MigrationSettings(lock_wait=5, lock_timeout=0.3, retries=4, retry_backoff=0.2)
    assert migrate(empty_db_url, directory=mig, settings=settings) == ["0002_alter"]


def test_settings_come_from_env_and_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {"AURA_MIGRATION_LOCK_TIMEOUT": "2.5", "AURA_MIGRATION_RETRIES": "5"}
    assert MigrationSettings.from_env(env).lock_timeout == 2.5
    assert MigrationSettings.from_env(env, lock_timeout=1.0, retries=None).lock_timeout == 1.0
    assert MigrationSettings.from_env(env).retries == 5
    with pytest.raises(Exception, match="AURA_MIGRATION_LOCK_TIMEOUT must be a number, got 'x'"):
        MigrationSettings.from_env({"AURA_MIGRATION_LOCK_TIMEOUT": "x"})


# -- non-transactional migrations ----------------------------------------------------------------


def test_a_half_failed_concurrent_index_is_shown_then_cleaned_up(
    empty_db_url: str, mig: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    migrate(empty_db_url, directory=mig, settings=FAST)
    write(mig, "developer", "0002_ux", "-- depends: 0001_c\n-- transactional: false\n"
          "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS ux_t_a_v ON t_a (v);\n",
          "DROP INDEX CONCURRENTLY IF EXISTS ux_t_a_v;\n")
    with psycopg.connect(empty_db_url, autocommit=True) as conn:
        conn.execute("INSERT INTO t_a (id, v) VALUES (1, 'dup'), (2, 'dup')")
    with pytest.raises(MigrationError, match=r"'0002_ux'.*NON-transactional.*could not create unique index"):
        migrate(empty_db_url, directory=mig, settings=FAST)
    row = next(s for s in status(empty_db_url, directory=mig) if s.id == "0002_ux")
    assert row.pending and row.invalid_indexes == ("ux_t_a_v",) and "could not create unique" in (row.failure or "")
    assert main(["--url", empty_db_url, "--migrations-dir", str(mig), "status", "--exit-code"]) == 3
    out = capsys.readouterr().out
    assert "FAILED HALF-WAY" in out and "INVALID index ux_t_a_v" in out
    with psycopg.connect(empty_db_url, autocommit=True) as conn:
        conn.execute("DELETE FROM t_a WHERE id = 2")
    script = plan(empty_db_url, directory=mig)  # the plan shows the cleanup migrate will do
    cleanup = script.index("DROP INDEX CONCURRENTLY IF EXISTS ux_t_a_v;  -- INVALID, left by a failed run")
    assert cleanup < script.index("CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS ux_t_a_v")
    assert migrate(empty_db_url, directory=mig, settings=FAST) == ["0002_ux"]
    assert scalar(empty_db_url, "SELECT indisvalid FROM pg_index WHERE indexrelid = 'ux_t_a_v'::regclass")
    row = next(s for s in status(empty_db_url, directory=mig) if s.id == "0002_ux")
    assert row.failure is None and row.invalid_indexes == ()


# -- new, CLI -------------------------------------------------------------------------------------


def test_new_scaffolds_the_next_pair_with_dependencies(mig: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--migrations-dir", str(mig), "new", "developer", "Add story labels!"]) == 0
    up = mig / "developer" / "0002_add_story_labels.sql"
    assert capsys.readouterr().out.splitlines()[0] == f"created {up}"
    assert up.read_text().startswith("-- depends: 0001_c 0003_ix\n")
    assert (mig / "developer" / "0002_add_story_labels.rollback.sql").exists()
    assert main(["--migrations-dir", str(mig), "new", "foundation", "more"]) == 0
    assert (mig / "foundation" / "0004_more.sql").read_text().startswith("-- depends: 0003_ix\n")
    assert main(["--migrations-dir", str(mig), "new", "foundation", "!!"]) == 1
    assert "has no letters or digits" in capsys.readouterr().err


def test_cli_migrate_rollback_verify_plan(
    empty_db_url: str, mig: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["--url", empty_db_url, "--migrations-dir", str(mig)]
    assert main([*base, "plan"]) == 0
    assert "-- [1/4] apply foundation/0001_a (transactional)" in capsys.readouterr().out
    assert main([*base, "migrate", "--to", "0001_a", "--lock-timeout", "1"]) == 0
    assert "applied 0001_a\n1 migration(s) applied" in capsys.readouterr().out
    assert main([*base, "migrate", "--status"]) == 0
    assert "4 applied, 0 pending" in capsys.readouterr().out
    assert main([*base, "verify"]) == 0
    _edit(mig)
    assert main([*base, "verify"]) == 1
    assert "edited: applied migration '0002_b'" in capsys.readouterr().out
    assert main([*base, "migrate"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("aura-db: error: 1 applied migration file(s) changed") and err.count("\n") == 1
    assert main([*base, "rollback", "--steps", "2"]) == 1  # two modules, none named
    assert "it spans the modules developer and foundation" in capsys.readouterr().err
    assert main([*base, "rollback", "--steps", "2", "--cascade", "--dir", str(mig.parent / "safety")]) == 0
    out = capsys.readouterr().out
    assert "rolled back 0001_c\nrolled back 0003_ix\n2 migration(s)" in out
    assert "safety backup before rolling back 0001_c (drops data): " in out
    assert len(list((mig.parent / "safety").glob("*-pre-rollback-*.dump"))) == 1
    assert main([*base, "rollback", "--steps", "1", "--to", "0001_a"]) == 2


# -- modules, cascades, safety backups ----------------------------------------------------------


def test_rollback_to_a_foundation_migration_refuses_to_cascade_into_developer(
    empty_db_url: str, mig: Path
) -> None:
    migrate(empty_db_url, directory=mig, settings=FAST)
    with pytest.raises(MigrationError, match=r"refusing to roll back 2 migration\(s\): 1 applied "
                       r"migration\(s\) depend on what it removes \(0001_c\); it would undo 3: "
                       r"developer/0001_c, .*--cascade"):
        rollback(empty_db_url, directory=mig, settings=FAST, target="0001_a")
    assert len(applied_ids(empty_db_url)) == 4  # nothing was undone
    with pytest.raises(MigrationError, match="is in module 'foundation', not 'developer'"):
        rollback(empty_db_url, directory=mig, settings=FAST, target="0001_a", module="developer")
    done = rollback(empty_db_url, directory=mig, settings=FAST, target="0001_a", cascade=True)
    assert done[0] == "0001_c" and sorted(done) == ["0001_c", "0002_b", "0003_ix"]
    assert applied_ids(empty_db_url) == ["0001_a"]


def test_rollback_steps_count_within_the_named_module(empty_db_url: str, mig: Path) -> None:
    write(mig, "developer", "0002_d", "-- depends: 0001_c\nCREATE TABLE t_d (id int);\n", "DROP TABLE t_d;\n")
    migrate(empty_db_url, directory=mig, settings=FAST)
    migrate_order = [s.id for s in status(empty_db_url, directory=mig)]
    assert [s.id for s in status(empty_db_url, directory=mig, module="developer")] == \
        [m for m in migrate_order if m in ("0001_c", "0002_d")]
    assert rollback(empty_db_url, directory=mig, settings=FAST, module="developer", steps=2) == \
        ["0002_d", "0001_c"]
    assert rollback(empty_db_url, directory=mig, settings=FAST, module="foundation") == ["0003_ix"]
    with pytest.raises(MigrationError, match="no module 'nope'"):
        rollback(empty_db_url, directory=mig, settings=FAST, module="nope")


def test_before_destructive_runs_only_for_rollbacks_that_drop_data(empty_db_url: str, mig: Path) -> None:
    migrate(empty_db_url, directory=mig, settings=FAST)
    seen: list[list[str]] = []
    rollback(empty_db_url, directory=mig, settings=FAST, module="foundation", before_destructive=seen.append)
    assert seen == []  # 0003_ix drops an index only
    rollback(empty_db_url, directory=mig, settings=FAST, before_destructive=seen.append)
    assert seen == [["0001_c"]]  # DROP TABLE t_c
    assert scalar(empty_db_url, "SELECT to_regclass('t_c')") is None


def test_a_failed_run_says_what_it_applied_and_what_is_left(empty_db_url: str, mig: Path) -> None:
    write(mig, "developer", "0002_bad", "-- depends: 0001_c\nINSERT INTO t_missing VALUES (1);\n",
          "SELECT 1;\n")
    write(mig, "developer", "0003_after", "-- depends: 0002_bad\nCREATE TABLE t_after (id int);\n",
          "DROP TABLE t_after;\n")
    with pytest.raises(MigrationError) as failed:
        migrate(empty_db_url, directory=mig, settings=FAST)
    assert failed.value.left == ["0002_bad", "0003_after"]
    assert sorted(failed.value.done) == ["0001_a", "0001_c", "0002_b", "0003_ix"]
    assert re.search(r"\[applied before the failure: 0001_a, .*; still pending: 0002_bad, "
                     r"0003_after\]$", str(failed.value))
    assert sorted(applied_ids(empty_db_url)) == sorted(failed.value.done)


def test_empty_migrations_are_refused_by_lint_and_migrate(empty_db_url: str, mig: Path) -> None:
    from aura_db.migrations.lint import lint

    up, down = new_migration("developer", "nothing yet", mig)
    findings, _ = lint(mig, use_squawk=False)
    rules = {(f.path, f.rule) for f in findings}
    assert (up, "empty-migration") in rules and (down, "empty-rollback") in rules
    with pytest.raises(MigrationError, match=r"migration '0002_nothing_yet' .* has no statement"):
        migrate(empty_db_url, directory=mig, settings=FAST)
    assert applied_ids(empty_db_url) == []  # refused before anything ran


def test_new_refuses_a_name_already_used(mig: Path) -> None:
    new_migration("foundation", "add labels", mig)
    with pytest.raises(MigrationError, match=r"a migration named 'add_labels' already exists: "
                       r"foundation/0004_add_labels.sql"):
        new_migration("developer", "Add labels", mig)
    assert not list((mig / "developer").glob("*add_labels*"))


def test_plan_with_nothing_pending_says_so(empty_db_url: str, mig: Path) -> None:
    migrate(empty_db_url, directory=mig, settings=FAST)
    script = plan(empty_db_url, directory=mig, settings=FAST)
    assert script.splitlines()[-1] == "-- nothing to do: no migration is pending"
    assert len(script.splitlines()) == 2


def test_a_killed_concurrent_index_build_is_ended_not_deadlocked_with(
    empty_db_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """SIGKILL the migrate process inside CREATE INDEX CONCURRENTLY: its backend goes on
    building; the rerun ends it under the lock, drops the INVALID index and builds it again."""
    root = tmp_path / "slow"
    write(root, "foundation", "0001_big", "CREATE TABLE t_big (id int, v text);\n"
          "INSERT INTO t_big SELECT g, md5(g::text) || md5((g * 7)::text) FROM generate_series(1, 1500000) g;\n",
          "DROP TABLE t_big;\n")
    write(root, "foundation", "0002_big_ix", "-- depends: 0001_big\n-- transactional: false\n"
          "CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_t_big_v ON t_big (v, id);\n",
          "DROP INDEX CONCURRENTLY IF EXISTS ix_t_big_v;\n")
    migrate(empty_db_url, directory=root, settings=FAST, target="0001_big")
    cmd = [sys.executable, "-m", "aura_db", "--url", empty_db_url, "--migrations-dir", str(root), "migrate"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        with psycopg.connect(empty_db_url, autocommit=True) as watch:
            while watch.execute("SELECT 1 FROM pg_stat_activity WHERE state = 'active' AND query ~ "
                                "'CREATE INDEX CONCURRENTLY' AND application_name = 'aura-db migrate'"
                                ).fetchone() is None:
                assert time.monotonic() < deadline and proc.poll() is None, "the build never started"
                time.sleep(0.01)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    # retried like a real run: autoanalyze of the 1.5M fresh rows may hold the table's
    # SHARE UPDATE EXCLUSIVE lock for longer than FAST's lock_timeout
    patient = dataclasses.replace(FAST, retries=5)
    assert migrate(empty_db_url, directory=root, settings=patient) == ["0002_big_ix"]
    assert "ending backend" in caplog.text and "of a killed migration run" in caplog.text
    assert scalar(empty_db_url, "SELECT indisvalid FROM pg_index WHERE indexrelid = 'ix_t_big_v'::regclass")


def test_a_run_waiting_for_the_lock_is_not_taken_for_an_orphan(empty_db_url: str) -> None:
    """A waiting run's lock connection is busy asking who holds the lock; the holder's orphan
    sweep must leave it alone (it once ended it: 'terminating connection due to administrator
    command' in the second of two concurrent migrates)."""
    from aura_db.migrations.session import end_orphans, lock_application_name

    settings = FAST
    waiting = psycopg.connect(empty_db_url, autocommit=True, application_name=lock_application_name(settings))
    orphan = psycopg.connect(empty_db_url, autocommit=True, application_name=settings.application_name)
    try:
        assert lock_application_name(settings) != settings.application_name
        orphan_pid = orphan.info.backend_pid
        errors: list[Exception] = []

        def sleep(conn: psycopg.Connection[Any]) -> None:
            try:
                conn.execute("SELECT pg_sleep(3)")
            except psycopg.Error as exc:
                errors.append(exc)

        busy = [threading.Thread(target=sleep, args=(c,)) for c in (waiting, orphan)]
        for t in busy:
            t.start()
        with psycopg.connect(empty_db_url, autocommit=True) as sweeper:
            deadline = time.monotonic() + 10
            while sweeper.execute("SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(3)' "
                                  "AND state = 'active'").fetchone() != (2,):
                assert time.monotonic() < deadline
                time.sleep(0.01)
            ended = end_orphans(sweeper, settings, {sweeper.info.backend_pid})
        for t in busy:
            t.join()
        assert ended == [orphan_pid]
        assert len(errors) == 1 and "terminating connection" in str(errors[0])
        assert waiting.execute("SELECT 1").fetchone() == (1,)
    finally:
        waiting.close()
        orphan.close()
