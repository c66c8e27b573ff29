"""Restore that never loses the target: the transactional swap, killed runs at every phase,
sessions on the target and on the scratch database, leftovers, schema versions, listing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from aura_db.cli import main
from aura_db.errors import AuraError
from aura_db.ops import backup as backups
from aura_db.ops import pgtools
from aura_db.ops import restore as restores
from aura_db.ops.pgtools import find_tool

ROOT = Path(__file__).resolve().parent.parent


def _name(url: str) -> str:
    return str(conninfo_to_dict(url)["dbname"])


@pytest.fixture
def target(make_db_url: Callable[..., str], pg_server: Any) -> str:
    """A migrated database (the superuser's URL: restore creates databases) holding a marker
    table with 2000 'old' rows."""
    name = _name(make_db_url())
    url = str(pg_server.url_for(name))
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE marker (id int PRIMARY KEY, era text NOT NULL)")
        conn.execute("INSERT INTO marker SELECT g, 'old' FROM generate_series(1, 2000) g")
    return url


@pytest.fixture
def new_archive(target: str, tmp_path: Path, pg_server: Any) -> Iterator[Path]:
    """An archive of ``target`` whose marker rows say 'new'; ``target`` is put back to 'old'."""
    with psycopg.connect(target, autocommit=True) as conn:
        conn.execute("UPDATE marker SET era = 'new'")
    archive, _ = backups.backup(target, tmp_path / "archives", pg_bin=pg_server.bin_dir)
    with psycopg.connect(target, autocommit=True) as conn:
        conn.execute("UPDATE marker SET era = 'old'")
    yield archive


def era(url: str) -> str:
    """'old' or 'new' when the database is whole; fails on anything else."""
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        rows = conn.execute("SELECT era, count(*) FROM marker GROUP BY era").fetchall()
        applied = conn.execute("SELECT count(*) FROM _yoyo_migration").fetchone()
    assert len(rows) == 1 and rows[0][1] == 2000, rows
    assert applied is not None and applied[0] > 0
    return str(rows[0][0])


def leftovers(pg_server: Any, url: str) -> list[str]:
    with psycopg.connect(pg_server.admin_url, autocommit=True) as conn:
        rows = conn.execute("SELECT datname FROM pg_database WHERE datname ~ %s ORDER BY 1",
                            (f"^{_name(url)[:40]}_(restore|verify|old)_",)).fetchall()
    return [r[0] for r in rows]


def _restore_cmd(url: str, archive: Path, tmp_path: Path, pg_server: Any) -> list[str]:
    return [sys.executable, "-m", "aura_db", "--url", url, "restore", str(archive), "--yes",
            "--dir", str(tmp_path / "safety"), "--pg-bin", str(pg_server.bin_dir)]


def _wait_for(predicate: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


def test_restore_replaces_the_database_and_leaves_nothing_behind(
    target: str, new_archive: Path, tmp_path: Path, pg_server: Any
) -> None:
    report = restores.restore(target, new_archive, backup_dir=tmp_path / "safety", yes=True,
                             pg_bin=pg_server.bin_dir)
    assert era(target) == "new"
    assert report.safety is not None and report.safety.exists() and "-pre-restore-" in report.safety.name
    assert report.disconnected == () and report.leftovers == () and report.notes == ()
    assert leftovers(pg_server, target) == []


def test_sessions_on_the_target_are_refused_with_their_pids_unless_forced(
    target: str, new_archive: Path, tmp_path: Path, pg_server: Any
) -> None:
    with psycopg.connect(target, autocommit=True, application_name="agent-loop") as held:
        pid = held.info.backend_pid
        with pytest.raises(AuraError, match=rf"1 session\(s\) are connected to database .*pid {pid} "
                                            r"'agent-loop'.*pass --force"):
            restores.restore(target, new_archive, backup_dir=tmp_path, yes=True, pg_bin=pg_server.bin_dir)
        assert era(target) == "old"
        report = restores.restore(target, new_archive, backup_dir=tmp_path, yes=True, force=True,
                                 pg_bin=pg_server.bin_dir)
        assert [s.pid for s in report.disconnected] == [pid]
        with pytest.raises(psycopg.OperationalError):
            held.execute("SELECT 1")
    assert era(target) == "new"


def test_a_session_on_the_scratch_database_cannot_make_the_target_disappear(
    target: str, new_archive: Path, tmp_path: Path, pg_server: Any
) -> None:
    """An intruder connects to the scratch database as soon as it exists and reconnects when
    thrown out; the restore still completes and the target is never missing."""
    stop = threading.Event()
    intrusions: list[str] = []
    seen_missing: list[float] = []

    def intrude() -> None:
        while not stop.is_set():
            names = leftovers(pg_server, target)
            if not any("_restore_" in n for n in names):
                with psycopg.connect(pg_server.admin_url, autocommit=True) as conn:
                    here = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                        (_name(target),)).fetchone()
                if here is None:
                    seen_missing.append(time.monotonic())
                continue
            scratch = next(n for n in names if "_restore_" in n)
            try:
                with psycopg.connect(pg_server.url_for(scratch), autocommit=True) as conn:
                    intrusions.append(scratch)
                    while not stop.is_set():
                        conn.execute("SELECT 1")
                        time.sleep(0.01)
            except psycopg.Error:
                continue

    thread = threading.Thread(target=intrude, daemon=True)
    thread.start()
    try:
        restores.restore(target, new_archive, backup_dir=tmp_path, yes=True, pg_bin=pg_server.bin_dir)
    finally:
        stop.set()
        thread.join(30)
    assert intrusions, "the intruder never reached the scratch database"
    assert seen_missing == []
    assert era(target) == "new"
    assert leftovers(pg_server, target) == []


def _kill(proc: subprocess.Popen[bytes]) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)


@pytest.mark.parametrize("moment", ["safety backup", "restoring the scratch database", "inside the swap"])
def test_a_killed_restore_leaves_the_whole_old_database_and_the_next_run_cleans_up(
    moment: str, target: str, new_archive: Path, tmp_path: Path, pg_server: Any
) -> None:
    safety = tmp_path / "safety"
    holder: psycopg.Connection[Any] | None = None
    proc = subprocess.Popen(_restore_cmd(target, new_archive, tmp_path, pg_server),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    try:
        if moment == "safety backup":
            _wait_for(lambda: safety.is_dir() and any(safety.glob("*.partial")), "the safety backup")
        else:
            _wait_for(lambda: any("_restore_" in n for n in leftovers(pg_server, target)),
                      "the scratch database")
        if moment == "inside the swap":
            # hold a lock on the scratch database so its rename blocks inside the swap's
            # transaction, after the target was already renamed aside (in that transaction)
            scratch = next(n for n in leftovers(pg_server, target) if "_restore_" in n)
            holder = psycopg.connect(pg_server.admin_url)
            holder.execute(sql.SQL("COMMENT ON DATABASE {} IS 'held by the test'").format(
                sql.Identifier(scratch)))
            with psycopg.connect(pg_server.admin_url, autocommit=True) as watch:
                _wait_for(lambda: watch.execute(
                    "SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query ~ 'RENAME'"
                ).fetchone() is not None, "the swap to block")
        _kill(proc)
        if holder is not None:
            holder.rollback()  # the orphaned swap backend now finds its client gone: rolled back
    finally:
        if proc.poll() is None:
            _kill(proc)
        if holder is not None:
            holder.close()
    assert era(target) == "old"
    # the next run finds and drops what the killed one left, removes its partial file, and works
    report = restores.restore(target, new_archive, backup_dir=safety, yes=True, force=True,
                             pg_bin=pg_server.bin_dir)
    assert era(target) == "new"
    assert leftovers(pg_server, target) == []
    assert list(safety.glob("*.partial")) == []
    if moment != "safety backup":
        assert report.leftovers, "the killed run's scratch database was not reported"


def test_killed_right_after_the_swap_the_target_is_new_and_the_side_copy_is_cleaned_later(
    target: str, new_archive: Path, tmp_path: Path, pg_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_drop = pgtools.drop_database

    def die_on_side(url: str, name: str) -> None:
        if "_old_" in name:
            raise KeyboardInterrupt("killed after the swap")
        real_drop(url, name)

    monkeypatch.setattr(restores, "drop_database", die_on_side)
    with pytest.raises(KeyboardInterrupt):
        restores.restore(target, new_archive, backup_dir=tmp_path, yes=True, pg_bin=pg_server.bin_dir)
    assert era(target) == "new"
    side = [n for n in leftovers(pg_server, target) if "_old_" in n]
    assert len(side) == 1 and era(pg_server.url_for(side[0])) == "old"
    monkeypatch.setattr(restores, "drop_database", real_drop)
    assert restores.clean_leftovers(target, _name(target)) == side
    assert leftovers(pg_server, target) == []


def test_a_second_restore_of_the_same_database_is_refused_while_one_runs(
    target: str, new_archive: Path, tmp_path: Path, pg_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(restores, "LOCK_WAIT", 0.3)
    busy = r"another restore or verification of database .* is running \(waited 0.3s\)"
    with restores._exclusive(target, _name(target)), pytest.raises(AuraError, match=busy):
        restores.restore(target, new_archive, backup_dir=tmp_path, yes=True, pg_bin=pg_server.bin_dir)
    assert era(target) == "old"


def test_an_archive_from_a_newer_tree_is_refused_and_an_older_one_warned(
    target: str, tmp_path: Path, pg_server: Any
) -> None:
    with psycopg.connect(target, autocommit=True) as conn:
        conn.execute("INSERT INTO _yoyo_migration SELECT md5('9999_future'), '9999_future', now()")
    future, _ = backups.backup(target, tmp_path / "a", pg_bin=pg_server.bin_dir)
    with psycopg.connect(target, autocommit=True) as conn:
        conn.execute("DELETE FROM _yoyo_migration WHERE migration_id IN "
                     "('9999_future', '0005_workspace_isolation_policies')")
    older, _ = backups.backup(target, tmp_path / "b", pg_bin=pg_server.bin_dir)
    with pytest.raises(AuraError, match=r"records 1 migration\(s\) this tree does not have \(9999_future\)"):
        restores.restore(target, future, backup_dir=tmp_path, yes=True, pg_bin=pg_server.bin_dir)
    report = restores.restore(target, older, backup_dir=tmp_path, yes=True, pg_bin=pg_server.bin_dir)
    assert report.notes == ("the archive is 1 migration(s) behind this tree (first missing: "
                            "0005_workspace_isolation_policies): run 'aura-db migrate' after the restore",)
    report = restores.restore(target, future, backup_dir=tmp_path, yes=True, force=True,
                             pg_bin=pg_server.bin_dir)
    assert "9999_future" in report.notes[0]


def test_restore_without_an_archive_lists_the_backups_with_time_size_and_schema(
    target: str, tmp_path: Path, pg_server: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["--url", target, "restore", "--dir", str(tmp_path), "--pg-bin", str(pg_server.bin_dir)]
    assert main(base) == 1
    assert "no backups of" in capsys.readouterr().out
    first, _ = backups.backup(target, tmp_path, pg_bin=pg_server.bin_dir)
    safety, _ = backups.backup(target, tmp_path, pg_bin=pg_server.bin_dir, label="-pre-restore")
    assert main(base) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"backups of {_name(target)} in {tmp_path}")
    assert lines[1].strip().startswith(first.name) and lines[2].strip().startswith(safety.name)
    assert " backup " in lines[1] and " pre-restore " in lines[2]
    with psycopg.connect(target, autocommit=True) as conn:
        newest = conn.execute("SELECT migration_id FROM _yoyo_migration ORDER BY applied_at_utc DESC "
                              "LIMIT 1").fetchone()
    assert newest is not None and f"migration(s), last {newest[0]}" in lines[1]
    assert " kB " in lines[1] or " MB " in lines[1]


def test_retention_covers_safety_backups_and_partials_of_dead_writers(
    target: str, tmp_path: Path, pg_server: Any
) -> None:
    safety = [backups.backup(target, tmp_path, pg_bin=pg_server.bin_dir, label="-pre-restore")[0]
              for _ in range(3)]
    dead = tmp_path / f"{_name(target)}-20260101T000000000000Z.dump.999999999.partial"
    dead.write_bytes(b"half")
    live = tmp_path / f"{_name(target)}-20260101T000000000001Z.dump.{os.getppid()}.partial"
    live.write_bytes(b"still being written")
    kept, removed = backups.backup(target, tmp_path, keep=1, pg_bin=pg_server.bin_dir)
    assert dead in removed and not dead.exists()
    assert set(removed) >= set(safety[:2]) and safety[2].exists() and kept.exists()
    assert live.exists() and live not in removed  # its writer is alive
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted([kept.name, safety[2].name, live.name])


def test_the_fingerprint_is_order_independent_constant_memory_and_sensitive(empty_db_url: str) -> None:
    with psycopg.connect(empty_db_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE a (id int PRIMARY KEY, v text); CREATE TABLE b (id int PRIMARY KEY, v text)")
        conn.execute("INSERT INTO a SELECT g, repeat(md5(g::text), 8) FROM generate_series(1, 60000) g")
        conn.execute("INSERT INTO b SELECT g, repeat(md5(g::text), 8) FROM generate_series(60000, 1, -1) g")
        conn.execute("SET work_mem = '64kB'")
        plan = "\n".join(r[0] for r in conn.execute(
            sql.SQL("EXPLAIN ") + backups.FINGERPRINT.format(sql.Identifier("a"))).fetchall())
        assert "Sort" not in plan and "Aggregate" in plan
        fa = backups.fingerprints(empty_db_url)
        assert fa["public.a"] == fa["public.b"] and fa["public.a"][0] == 60000
        conn.execute("UPDATE b SET v = v || '.' WHERE id = 31337")
        fb = backups.fingerprints(empty_db_url)
        assert fb["public.b"][0] == 60000 and fb["public.b"] != fa["public.b"]
        conn.execute("UPDATE b SET v = left(v, -1) WHERE id = 31337")
        conn.execute("DELETE FROM b WHERE id = 5")
        assert backups.fingerprints(empty_db_url)["public.b"][0] == 59999


def test_archive_migrations_reads_the_recorded_ids_in_order(target: str, tmp_path: Path, pg_server: Any) -> None:
    archive, _ = backups.backup(target, tmp_path, pg_bin=pg_server.bin_dir)
    tool = find_tool("pg_restore", 16, pg_bin=pg_server.bin_dir)
    ids = backups.archive_migrations(archive, tool)
    with psycopg.connect(target, autocommit=True) as conn:
        expected = [r[0] for r in conn.execute(
            "SELECT migration_id FROM _yoyo_migration ORDER BY applied_at_utc").fetchall()]
    assert ids is not None and list(ids) == expected and len(ids) >= 18
