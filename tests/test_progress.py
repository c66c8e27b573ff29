"""Progress of long work: the Tracker's contract, and the events of an ingest, an HNSW build,
a calibration, a backup and a restore (CLI output included)."""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest

from aura_db import Database
from aura_db.cli import main
from aura_db.ops import backup as backups
from aura_db.progress import ProgressEvent, Tracker, bar, log_lines
from aura_db.repositories import Chunk


class Events(list[ProgressEvent]):
    def __call__(self, event: ProgressEvent) -> None:
        self.append(event)

    def of(self, task_prefix: str) -> list[ProgressEvent]:
        return [e for e in self if e.task.startswith(task_prefix)]


def test_tracker_throttles_reports_the_end_and_survives_a_broken_callback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    events = Events()
    with Tracker(events, "copy", 10_000, "rows", interval=3600) as tracker:
        for n in range(1, 10_001):
            tracker.update(n)
    assert [(e.done, e.finished) for e in events] == [(0, False), (10_000, True)]
    assert events[-1].fraction == 1.0 and "copy: 10000/10000 rows (100%), done in" in events[-1].line()

    def broken(event: ProgressEvent) -> None:
        raise RuntimeError("display gone")

    with Tracker(broken, "copy", 3, "rows", interval=0) as tracker:
        for n in range(3):
            tracker.update(n)
    assert caplog.text.count("the progress callback of 'copy' failed") == 1


def test_a_failed_task_says_so() -> None:
    events = Events()
    with pytest.raises(ValueError), Tracker(events, "load", 5, "rows") as tracker:
        tracker.update(2)
        raise ValueError("boom")
    assert events[-1].finished and events[-1].phase == "failed"
    assert events[-1].line().startswith("load: 2/5 rows (40%) [failed], failed after")


def test_line_has_rate_and_eta() -> None:
    line = ProgressEvent("ingest", 400, 1000, "chunks", "sending", elapsed=2.0).line()
    assert line == "ingest: 400/1000 chunks (40%) [sending], 200 chunks/s, ETA 3s"


def test_the_bar_and_the_log_lines() -> None:
    stream = io.StringIO()
    show = bar(stream)
    for done in (0, 500, 1000):
        show(ProgressEvent("ingest into workspace w", done, 1000, "chunks", finished=done == 1000, elapsed=1.0))
    text = stream.getvalue()
    assert "ingest into workspace w" in text and "100%" in text and "1.00k/1.00k" in text
    lines: list[str] = []
    show = log_lines(lines.append, every=3600)
    for done in (0, 500, 1000):
        show(ProgressEvent("t", done, 1000, "chunks", finished=done == 1000, elapsed=1.0))
    assert lines == ["t: 0/1000 chunks (0%)", "t: 1000/1000 chunks (100%), done in 1.0s (1,000 chunks/s)"]


def _chunks(n: int, dims: int, seed: int = 7) -> list[Chunk]:
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(n, dims)).astype(np.float32)
    return [Chunk(content=f"chunk {i}", embedding=v, chunk_index=i % 50, content_id=f"doc-{i // 50}")
            for i, v in enumerate(vectors)]


def test_ingest_reports_chunks_sent_and_the_end(db: Database) -> None:
    ws = db.workspaces.upsert("/src/progress").id
    events = Events()
    assert db.rag_chunks.add_many(ws, _chunks(6000, 384), progress=events) == 6000
    ingest = events.of("ingest into workspace")
    assert ingest[0].done == 0 and ingest[-1].finished and ingest[-1].done == 6000
    assert ingest[-1].total == 6000 and ingest[-1].unit == "chunks"
    assert [e.done for e in ingest] == sorted(e.done for e in ingest)
    assert {"checking", "committing"} <= {e.phase for e in ingest}


def test_index_build_reports_the_server_s_progress(db: Database) -> None:
    """The build is watched through pg_stat_progress_create_index from a second connection."""
    ws = db.workspaces.upsert("/src/progress-build").id
    db.rag_chunks.drop_search_index(384)
    db.rag_chunks.add_many(ws, _chunks(12_000, 384))
    events = Events()
    db.rag_chunks.build_search_index(384, progress=events)
    build = events.of("build ix_rag_chunks_embedding_384")
    assert build[-1].finished and build[-1].phase != "failed"
    seen = [e for e in build if e.phase and not e.finished]
    assert seen, f"no progress from the server during the build: {build}"
    # pgvector's HNSW build reports the table's blocks read while loading tuples
    assert any(e.unit in ("tuples", "blocks") and e.total and 0 < e.done <= e.total
               and "loading tuples" in (e.phase or "") for e in seen), seen
    assert any(e.task.startswith("calibrate ") and e.finished for e in events)  # auto-calibration


def test_calibration_reports_its_searches(db: Database) -> None:
    ws = db.workspaces.upsert("/src/progress-calibrate").id
    db.rag_chunks.add_many(ws, _chunks(3000, 384, seed=3))
    events = Events()
    calibration = db.rag_chunks.calibrate_search(ws, sample_size=8, progress=events)
    task = events.of(f"calibrate {ws}")
    assert task[-1].finished and task[-1].unit == "searches"
    assert task[-1].done == task[-1].total == 8 * (1 + len(db.rag_chunks.tuning.ef_ladder))
    assert calibration.queries == 8


@pytest.fixture
def populated_url(empty_db_url: str) -> str:
    with psycopg.connect(empty_db_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE big (id int, pad text)")
        conn.execute("INSERT INTO big SELECT g, repeat(md5(g::text), 40) FROM generate_series(1, 30000) g")
        conn.execute("CREATE TABLE small (id int)")
    return empty_db_url


def test_backup_and_restore_report_progress(populated_url: str, tmp_path: Path, pg_server: Any) -> None:
    events = Events()
    archive, _ = backups.backup(populated_url, tmp_path, pg_bin=pg_server.bin_dir, progress=events)
    backup = events.of("backup ")
    assert backup[-1].finished and backup[-1].unit == "MB" and backup[-1].done == backup[-1].total
    assert backup[-1].total is not None and backup[-1].total >= 30  # 'big' is ~40 MB on disk
    from aura_db.ops.restore import verify_archive

    events.clear()
    assert all(check.ok for check in verify_archive(populated_url, archive, pg_bin=pg_server.bin_dir,
                                                    progress=events))
    restore = events.of("restore ")
    assert restore[-1].finished and restore[-1].unit == "entries" and restore[-1].total
    assert any("data for table" in (e.phase or "") for e in restore), restore


def test_the_cli_shows_progress_lines_off_a_terminal(populated_url: str, tmp_path: Path, pg_server: Any,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    base = ["--url", populated_url, "backup", "--dir", str(tmp_path), "--pg-bin", str(pg_server.bin_dir)]
    assert main(base) == 0
    err = capsys.readouterr().err
    assert "backup " in err and "MB (100%), done in" in err
    assert main([*base, "-q"]) == 0
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""
    assert main([*base, "--progress", "bar"]) == 0
    assert "100%|" in capsys.readouterr().err


def test_progress_is_off_by_default_in_the_library(db: Database, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    ws = db.workspaces.upsert("/src/quiet").id
    db.rag_chunks.add_many(ws, _chunks(10, 384))
    assert "ingest into workspace" not in caplog.text


def test_backup_progress_moves_inside_one_table(populated_url: str) -> None:
    """Within a table the MB come from pg_stat_progress_copy of pg_dump's COPY (found by the
    application_name the dump connects with): a COPY sending rows slowly shows partial progress."""
    import threading

    from psycopg.conninfo import conninfo_to_dict

    from aura_db.ops.backup import _dump_progress

    events = Events()
    with _dump_progress(populated_url, "db", events) as (on_line, dump_url):
        assert on_line is not None and conninfo_to_dict(dump_url)["application_name"].startswith("aura-db backup")
        on_line('pg_dump: dumping contents of table "public.big"')

        def dump() -> None:  # stands in for pg_dump: 3,000 of big's 30,000 rows, 1 ms each
            with psycopg.connect(dump_url) as conn, conn.cursor() as cur, cur.copy(
                    "COPY (SELECT g, pg_sleep(0.001) FROM generate_series(1, 3000) g) TO STDOUT") as copy:
                for _ in copy:
                    pass

        worker = threading.Thread(target=dump)
        worker.start()
        worker.join()
    backup = events.of("backup db")
    partial = [e for e in backup if not e.finished and e.phase == "public.big" and e.done > 0]
    assert partial, backup
    assert all(e.total is not None and e.done <= e.total * 0.15 for e in partial), partial  # ~10% of big
