"""The benchmarks cannot rot: every workload runs at ``--size tiny`` through the same code path
as ``python -m benchmarks``, and the report it produces is checked for structure and sense."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from psycopg.conninfo import conninfo_to_dict

from benchmarks import growth
from benchmarks.__main__ import main
from benchmarks.report import Report, load, render, targets, write
from benchmarks.run import run_on
from benchmarks.sizes import SIZES
from benchmarks.workloads import TITLES, WORKLOADS
from benchmarks.workloads.reads import MACHINERY_DEFAULT, MACHINERY_OFF
from tests.fix_db import PgServer, _create_database, _drop_database

PEERS = {"aura-db", "psycopg", "sqlalchemy-orm", "aiosql"}
# cases without every peer: the ef_search curve (psycopg), aura-db's machinery on and off,
# aura-db with and without row-level security, the async API (its own peers), and search growth
# (aura-db and its bare HNSW statement)
NOT_PEERS = {"search_curve", "search_growth", "point_read_machinery", "isolation", "async"}
ASYNC_PEERS = ["aura-db", "psycopg", "asyncpg"]


@pytest.fixture(scope="module")
def report(pg_server: PgServer, template_url: str) -> Report:
    """One tiny run of every workload on a throwaway migrated database (one per module: the
    checks below all read the same run)."""
    name = _create_database(pg_server, str(conninfo_to_dict(template_url)["dbname"]))
    try:
        return run_on(pg_server.url_for(name), SIZES["tiny"])
    finally:
        _drop_database(pg_server, name)


def test_every_workload_has_cases_with_every_peer(report: Report) -> None:
    workloads = {c.workload for c in report.cases}
    assert workloads == set(WORKLOADS) | NOT_PEERS
    for case in report.cases:
        assert case.rows, case.title
        if case.workload not in NOT_PEERS:
            assert {r.contender for r in case.rows} >= PEERS, case.title
            assert case.reference.contender == "aura-db"


def test_the_machinery_case_compares_aura_db_with_itself(report: Report) -> None:
    (case,) = report.cases_of("point_read_machinery")
    assert [r.label for r in case.rows] == [MACHINERY_DEFAULT, MACHINERY_OFF]
    assert case.reference.label == MACHINERY_DEFAULT


def test_the_async_cases_run_aura_db_against_psycopg_async_and_asyncpg(report: Report) -> None:
    cases = report.cases_of("async")
    assert [c.title.split(",")[0].split(" of ")[0] for c in cases] == [
        "async point read", "async list page", "async top-10 vector search",
        "throughput: 100 concurrent top-10 searches on a pool"]
    for case in cases[:2]:  # point read and page: raw psycopg on aura-db's connection too
        assert [r.contender for r in case.rows] == ["aura-db", "psycopg", "psycopg", "asyncpg"], case.title
        assert case.rows[1].variant == "tuple rows, on aura-db's connection"
    for case in cases[2:]:
        assert [r.contender for r in case.rows] == ASYNC_PEERS, case.title
        assert case.reference.variant in ("tx.stories.get", "tx.stories.list", "db.rag_chunks.search")
    assert cases[-1].rows[0].stats.n >= 3  # one sample per wave of 100 concurrent searches
    assert "asyncpg" in report.machine


def test_stats_are_positive_and_ordered(report: Report) -> None:
    for case in report.cases:
        for row in case.rows:
            s = row.stats
            assert s.n >= 1
            assert 0 < s.min <= s.q1 <= s.p50 <= s.q3 <= s.max, (case.title, row.label)
            assert s.p50 <= s.p95 <= s.max
            assert math.isfinite(case.ratio(row.label, case.rows[0].label))


def test_recall_is_a_fraction(report: Report) -> None:
    searched = [r for c in report.cases if c.workload.startswith("search") for r in c.rows]
    assert searched
    for row in searched:
        assert 0.0 <= row.extra["recall@10"] <= 1.0
    exact = [r for r in searched if r.contender == "exact scan"]
    assert exact and all(r.extra["recall@10"] >= 0.95 for r in exact)  # float32 near-ties aside


def test_targets_are_checked_on_measured_values(report: Report) -> None:
    found = targets(report)
    # point read x 2 cases x 2 (+ the plain-pool ratio in a transaction), machinery, a list page
    # per list case, COPY ratio per ingest case + executemany, search x 2, RLS x 2, async x 2
    lists, ingests = len(report.cases_of("list")), len(report.cases_of("ingest"))
    assert lists >= 1 and ingests >= 1
    assert len(found) == 5 + 1 + lists + ingests + 1 + 2 + 2 + 2
    assert {t.goal for t in found if t.what.startswith("list page")} == {"<= 1.10"}
    assert {t.goal for t in found if "raw binary COPY" in t.what} == {">= 0.95"}
    in_tx = [t for t in found if t.what.startswith("point read (one transaction")]
    assert [t.goal for t in in_tx] == ["<= 1.05", "reported", ">= 3"]
    assert "on aura-db's connection" in in_tx[0].what  # the same backend as aura-db's calls
    for t in found:
        assert t.measured > 0 and math.isfinite(t.measured)
        assert t.met in (True, False)


def test_report_files(report: Report, tmp_path: Path) -> None:
    latest = tmp_path / "RESULTS.md"
    md = write(report, tmp_path / "results", latest)
    text = md.read_text()
    for title in TITLES.values():
        assert f"## {title}" in text
    assert "| PostgreSQL |" in text and "| pgvector |" in text and "| SQLAlchemy |" in text
    assert "## Targets" in text
    png = tmp_path / "results" / f"{report.started:%Y-%m-%d}-recall.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"](results/{png.name})" in latest.read_text()
    data = json.loads((tmp_path / "results" / f"{report.started:%Y-%m-%d}.json").read_text())
    assert len(data["cases"]) == len(report.cases) and data["targets"]
    assert render(report, None).count("\n### ") == len(report.cases)
    assert "## Where the time goes" in text and "**Point read, one transaction**" in text


def test_a_saved_report_renders_again(report: Report, tmp_path: Path) -> None:
    write(report, tmp_path)
    again = load(tmp_path / f"{report.started:%Y-%m-%d}.json")
    assert [c.title for c in again.cases] == [c.title for c in report.cases]
    assert render(again, None) == render(report, None)


def test_search_growth_has_every_size_and_a_projection_multiplied_out_from_it(report: Report) -> None:
    """A row for aura-db and one for the bare statement at each size, with the load, build and
    storage figures of that size; storage grows with the chunks; the projection multiplies the
    largest size's storage per chunk out and extrapolates the fitted build time."""
    (case,) = report.cases_of("search_growth")
    sizes = [*SIZES["tiny"].search_growth, SIZES["tiny"].search_rows]
    aura = [r for r in case.rows if r.contender == "aura-db"]
    assert [r.extra["chunks"] for r in aura] == sizes
    assert [r.extra["chunks"] for r in case.rows if r.contender == "psycopg"] == sizes
    for r in aura:
        assert r.extra["load_rows_per_s"] > 0 and r.extra["build_s"] > 0 and r.extra["hnsw_mb"] > 0
        assert r.variant.startswith(f"{r.extra['chunks']:,.0f} chunks, ")
    assert aura[0].extra["table_mb"] < aura[-1].extra["table_mb"]
    projected, build_e, _ = growth.project(case)
    one, ten = projected
    top = aura[-1].extra
    assert (one.chunks, ten.chunks) == (1_000_000, 10_000_000)
    assert one.table_gb == pytest.approx(1e6 * top["table_mb"] / top["chunks"] / 1024)
    assert ten.hnsw_gb == pytest.approx(10 * one.hnsw_gb) and ten.copy_s == pytest.approx(10 * one.copy_s)
    assert ten.build_s == pytest.approx(one.build_s * 10 ** build_e)
    text = render(report, None)
    assert "| 10,000,000 |" in text and f"N^{build_e:.2f}" in text


def test_the_projection_fits_a_power_law_through_the_points() -> None:
    a, e = growth.fit([1e4, 3e4, 1e5], [2.0 * n ** 1.2 for n in (1e4, 3e4, 1e5)])
    assert (a, e) == (pytest.approx(2.0), pytest.approx(1.2))
    assert growth.fit([10.0], [5.0]) == (0.5, 1.0)


def test_cli_rejects_an_unknown_workload(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--size", "tiny", "--only", "nope", "--url", "postgresql:///unused"])
    assert exc.value.code == 2
    assert "unknown workload(s) nope" in capsys.readouterr().err


def test_the_capacity_measurement_runs_and_adds_up(pg_server: PgServer, tmp_path: Path) -> None:
    """``python -m benchmarks.capacity`` (docs/scaling.md's per-chunk figures) on a tiny load of
    real text (the json package's source): its sizes must add up and its HNSW index must hold
    one 384-d graph node per chunk."""
    import json as json_module

    from benchmarks import capacity
    from benchmarks.env import database

    docs = capacity.corpus(Path(json_module.__file__).parent)
    assert docs and all(p.content.startswith(("def ", "class ", "@")) for d in docs for p in d.pieces)
    with database(pg_server.admin_url) as url:
        run = capacity.measure(url, docs, 600, 384)
    per = run["per_chunk_bytes"]
    assert run["sizes"]["rows"] == 600 and sum(run["workspace_sizes"]) == 600
    assert per["hnsw"] >= 384 * 2 and per["hnsw"] == per["index"]["ix_rag_chunks_embedding_384"]
    assert per["total"] == pytest.approx(per["table"] + per["indexes"], abs=1)
    assert run["build"]["seconds"] > 0 and run["copy"]["rows_per_s"] > 0
    report = {"runs": [run], "scaling": [], "command": "smoke", "started": "", "seconds": 0,
              "machine": {"cpu_count": 2, "platform": "", "python": ""}, "server_settings_changed": {},
              "corpus": {"root": "", "files": len(docs), "definitions": 0, "max_chars": capacity.MAX_CHARS,
                         "workspaces": capacity.WORKSPACES, "zipf": capacity.ZIPF}}
    assert "| 600 | 384 |" in capacity.markdown(report)


def test_interleave_balances_the_order_and_settles_each_contender_before_its_batch() -> None:
    """Every contender runs the warm-up, then per round the settle items (unrecorded) right
    before its batch; the order rotates and reverses so that each contender comes before each
    other one as often as after it; only the batches' samples are returned."""
    from benchmarks.harness import interleave

    calls: list[tuple[str, tuple[int, ...]]] = []

    def contender(name: str) -> Any:
        def batch(items: Any) -> list[float]:
            calls.append((name, tuple(items)))
            return [float(i) for i in items]
        return batch

    samples = interleave({"a": contender("a"), "b": contender("b")}, [[1, 2], [3]], [0], settle=[9])
    assert calls == [("a", (0,)), ("b", (0,)),
                     ("a", (9,)), ("a", (1, 2)), ("b", (9,)), ("b", (1, 2)),
                     ("b", (9,)), ("b", (3,)), ("a", (9,)), ("a", (3,))]
    assert samples == {"a": [1.0, 2.0, 3.0], "b": [1.0, 2.0, 3.0]}
    # three contenders, four rounds: each comes before each other one in two rounds of four
    calls.clear()
    interleave({n: contender(n) for n in "abc"}, [[1], [2], [3], [4]], [], settle=[])
    orders = ["".join(name for name, items in calls if items == (i,)) for i in (1, 2, 3, 4)]
    assert orders == ["abc", "cba", "bca", "acb"]
    for x, y in ("ab", "ac", "bc"):
        assert sum(o.index(x) < o.index(y) for o in orders) == 2, (x, y, orders)
    # apart: b interleaved on its own, after a and c have run every batch
    calls.clear()
    samples = interleave({n: contender(n) for n in "abc"}, [[1], [2]], [0], settle=[], apart={"b"})
    assert calls == [("a", (0,)), ("c", (0,)), ("a", (1,)), ("c", (1,)), ("c", (2,)), ("a", (2,)),
                     ("b", (0,)), ("b", (1,)), ("b", (2,))]
    assert samples == {"a": [1.0, 2.0], "c": [1.0, 2.0], "b": [1.0, 2.0]}
