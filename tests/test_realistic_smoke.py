"""The realistic benchmark cannot rot: the tiny standard-library dataset (json, email, html,
urllib) is built, checked for what it claims (chunks, unit vectors, held-out queries, a code
graph with known stdlib relations, the cache), and the runner measures it end to end on a
throwaway migrated database; its report is checked on the values it measured."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from psycopg.conninfo import conninfo_to_dict

from aura_db.repositories import SearchTuning
from benchmarks.realistic.dataset import DIMS, Dataset, build, random_like
from benchmarks.realistic.peers import PEERS, missing
from benchmarks.realistic.run import K, RealisticReport, render, run_on, write
from tests.fix_db import PgServer, _create_database, _drop_database

TINY = {"json", "email", "html", "urllib"}
# low thresholds: the tiny workspaces are calibrated and may take the HNSW path, as big ones do
TUNING = SearchTuning(exact_threshold=200, calibrate_from=200)
SWEEP = (10, 40, 200)  # a short recall-vs-latency sweep


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("aura-db-bench-cache")


@pytest.fixture(scope="module")
def dataset(cache: Path) -> Dataset:
    return build("tiny", max_queries=10, cache=cache)


@pytest.fixture(scope="module")
def report(pg_server: PgServer, template_url: str, cache: Path, dataset: Dataset) -> RealisticReport:
    """One tiny run (384-d, two rounds) on a copy of the migrated template."""
    name = _create_database(pg_server, str(conninfo_to_dict(template_url)["dbname"]))
    try:
        return run_on(pg_server.url_for(name), size="tiny", dims=384, max_queries=10, rounds=2,
                      cache=cache, tuning=TUNING, peers=list(PEERS), sweep=SWEEP)
    finally:
        _drop_database(pg_server, name)


def test_every_tiny_package_is_a_workspace_of_its_own_size(dataset: Dataset) -> None:
    sizes = {name: len(members) for name, members in dataset.workspaces().items()}
    assert set(sizes) == TINY
    assert all(n > 0 for n in sizes.values())
    assert len(set(sizes.values())) == len(sizes)  # sizes differ
    assert max(sizes.values()) > 10 * min(sizes.values())
    kinds = {c.content_type for c in dataset.chunks}
    assert kinds == {"Code", "Documentation"}


def test_a_chunk_is_the_source_segment_of_its_definition(dataset: Dataset) -> None:
    (chunk,) = [c for c in dataset.chunks if c.name == "json.decoder.JSONDecodeError"]
    assert (chunk.workspace, chunk.file_path, chunk.kind, chunk.content_type) == (
        "json", "json/decoder.py", "class", "Code")
    assert chunk.content.startswith("class JSONDecodeError(ValueError):")
    assert chunk.end_line > chunk.start_line
    assert len(chunk.content.splitlines()) == chunk.end_line - chunk.start_line + 1
    keys = [(c.workspace, c.content_id, c.chunk_index) for c in dataset.chunks]
    assert len(set(keys)) == len(keys)


def test_vectors_are_unit_norm_float32(dataset: Dataset) -> None:
    for dims in DIMS:
        v = dataset.vectors[dims]
        assert v.shape == (len(dataset.chunks), dims) and v.dtype == np.float32
        assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    r = random_like(dataset, 768, seed=3)
    assert r.shape == dataset.vectors[768].shape
    assert np.allclose(np.linalg.norm(r, axis=1), 1.0, atol=1e-5)


def test_the_embedding_puts_a_chunk_near_its_own_package(dataset: Dataset) -> None:
    """Structure the random vectors lack: a chunk's nearest other chunk is mostly of its own
    workspace (far above the share its workspace has of the corpus)."""
    v = dataset.vectors[384]
    sims = v @ v.T
    np.fill_diagonal(sims, -2)
    nearest = sims.argmax(axis=1)
    same = np.mean([dataset.chunks[i].workspace == dataset.chunks[j].workspace for i, j in enumerate(nearest)])
    assert same > 0.8


def test_queries_are_held_out_or_from_other_workspaces(dataset: Dataset) -> None:
    inserted = {i for members in dataset.workspaces().values() for i in members}
    for name in TINY:
        same, cross = dataset.same_queries(name), dataset.cross_queries(name)
        assert same and not set(same) & inserted
        assert all(dataset.chunks[i].workspace == name for i in same)
        assert cross and all(dataset.chunks[i].workspace != name for i in cross)
    again = Dataset(dataset.key, dataset.params, dataset.chunks, dataset.vectors, dataset.graph, seed=0,
                    max_queries=10)
    assert again.same_queries("email") == dataset.same_queries("email")  # deterministic
    other = Dataset(dataset.key, dataset.params, dataset.chunks, dataset.vectors, dataset.graph, seed=1,
                    max_queries=10)
    assert other.same_queries("email") != dataset.same_queries("email")  # and seeded


def test_the_code_graph_knows_stdlib_relations(dataset: Dataset) -> None:
    g = dataset.graph
    assert set(g.counts()) == {"Contains", "Calls", "Inherits"}
    assert g.has("json.decoder.JSONDecodeError", "builtins.ValueError", "Inherits")
    assert g.has("json.decoder", "json.decoder.JSONDecoder", "Contains")
    assert g.has("json.decoder.JSONDecoder", "json.decoder.JSONDecoder.raw_decode", "Contains")
    assert g.has("json.decoder.JSONDecoder.decode", "json.decoder.JSONDecoder.raw_decode", "Calls")
    assert g.has("email.mime.text.MIMEText", "email.mime.nonmultipart.MIMENonMultipart", "Inherits")
    assert g.nodes["json.decoder"] == "module" and g.nodes["json.decoder.JSONDecoder"] == "class"
    assert g.nodes["json.decoder.JSONDecoder.decode"] == "function"


def test_the_second_build_comes_from_the_cache(dataset: Dataset, cache: Path) -> None:
    again = build("tiny", max_queries=10, cache=cache)
    assert again.from_cache and again.key == dataset.key
    assert again.chunks == dataset.chunks and again.graph.edges == dataset.graph.edges
    for dims in DIMS:
        assert np.array_equal(again.vectors[dims], dataset.vectors[dims])
    assert again.model is not None and dataset.model is not None
    assert again.model.terms == dataset.model.terms
    assert np.array_equal(again.model.components, dataset.model.components)


def test_the_query_model_embeds_a_text_as_the_chunks_were_embedded(dataset: Dataset) -> None:
    """Embedding a chunk's own text through the kept model gives its stored vector: queries and
    chunks live in one space."""
    model = dataset.model
    assert model is not None
    for i in (0, len(dataset.chunks) // 2, len(dataset.chunks) - 1):
        c = dataset.chunks[i]
        for dims in DIMS:
            v = model.embed(f"{c.name.replace('.', ' ')} {c.content}", dims)
            assert float(v @ dataset.vectors[dims][i]) == pytest.approx(1.0, abs=1e-4), (i, dims)
    assert not model.embed("zzzqqqxxyy", 384).any()  # no known term: the zero vector


def test_identifier_queries_name_one_definition_each(dataset: Dataset) -> None:
    queries = dataset.identifier_queries("email")
    assert len(queries) == 10 and len({t for t, _ in queries}) == 10  # max_queries, distinct
    inserted = set(dataset.workspaces()["email"])
    for text, i in queries:
        c = dataset.chunks[i]
        assert i in inserted and c.workspace == "email" and c.kind in ("function", "class", "method")
        assert c.name.rpartition(".")[2] == text and len(text) >= 4 and not text.startswith("__")
        others = [j for j in inserted if j != i and dataset.chunks[j].name.rpartition(".")[2] == text
                  and dataset.chunks[j].kind in ("function", "class", "method")]
        assert not others, (text, others)
    assert dataset.identifier_queries("email") == queries  # deterministic


def test_the_report_has_a_row_per_measured_workspace_and_filter(report: RealisticReport) -> None:
    measured = report.meta["measured"]
    assert len(measured) >= 3 and set(measured) <= TINY
    assert [(r.workspace, r.filter) for r in report.rows] == [
        (w, f) for w in measured for f in ("none", "content_type=Documentation")]
    sizes = report.workspaces
    for r in report.rows:
        assert r.chunks == sizes[r.workspace]["chunks"]
        assert 0 < r.kept <= r.chunks
        if r.filter != "none":
            assert r.kept == sizes[r.workspace]["documentation"] < r.chunks
        assert r.path in ("exact", "hnsw") and (r.ef_search is None) == (r.path == "exact")
        assert r.queries_same > 0 and r.queries_cross > 0


def test_recall_is_a_fraction_and_the_exact_statement_finds_every_neighbour(report: RealisticReport) -> None:
    for r in report.rows:
        for value in (r.recall_same, r.recall_cross, r.bare_recall_same, r.bare_recall_cross,
                      r.k_share, r.bare_k_share):
            assert value is not None and 0.0 <= value <= 1.0, r
        assert r.exact_recall == 1.0, r  # the harness's own check: numpy and the exact scan agree
        if r.path == "exact":  # aura-db's exact path is the same scan
            assert r.recall_same == r.recall_cross == 1.0 and r.k_share == 1.0, r


def test_latencies_and_ratios_are_measured(report: RealisticReport) -> None:
    for r in report.rows:
        assert r.aura.n == r.bare.n == r.queries_same + r.queries_cross
        assert 0 < r.aura.min <= r.aura.p50 <= r.aura.max
        assert r.ratio > 0 and math.isfinite(r.ratio)


def test_the_calibrated_workspaces_are_reported(report: RealisticReport) -> None:
    big = [w for w in report.meta["measured"] if report.workspaces[w]["chunks"] > TUNING.calibration_floor]
    assert big and set(big) <= set(report.calibrations)
    for w in big:
        assert 0.0 <= report.calibrations[w]["recall"] <= 1.0


def test_the_report_is_written_as_markdown_and_json(report: RealisticReport, tmp_path: Path) -> None:
    md = write(report, tmp_path)
    text = md.read_text(encoding="utf-8")
    png = tmp_path / f"{md.stem}-recall.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    assert text == render(report, png.name) and f"]({png.name})" in text
    table = [line for line in text.splitlines() if line.startswith("| ") and "chunks" not in line
             and line.count("|") == 13]
    assert len(table) == len(report.rows)
    doc = json.loads(md.with_suffix(".json").read_text(encoding="utf-8"))
    assert len(doc["rows"]) == len(report.rows) and doc["meta"]["k"] == K
    assert len(doc["sweep"]) == len(report.sweep) and doc["meta"]["sweep_ef_search"] == list(SWEEP)
    assert len(doc["hybrid"]) == len(report.hybrid) > 0
    assert all(row["ratio"] > 0 for row in doc["rows"])


def test_every_peer_is_measured_or_skipped_with_a_reason(report: RealisticReport) -> None:
    """Without the peers extra each peer is one "skipped" line; with it, each has its numbers on
    every row, with recall and the share of full answers as fractions."""
    for name in PEERS:
        why = missing(name)
        if why is not None:
            assert why in report.notes and "not installed" in why
            assert all(name not in r.peers for r in report.rows)
            continue
        failed = [n for n in report.notes if n.startswith(f"{name} ") and "fail" in n]
        assert not failed, failed
        for r in report.rows:
            v = r.peers[name]
            assert v["p50"] is not None and v["p50"] > 0
            for key in ("recall_same", "recall_cross", "k_share"):
                value = v[key]
                assert value is not None and 0.0 <= value <= 1.0, (name, r.workspace, key, v)


def test_the_sweep_measures_every_contender_at_every_setting_on_the_largest_workspace(
        report: RealisticReport) -> None:
    """aura-db and the bare statement at every ef_search and exactly; an HNSW peer at every
    ef_search, an index-less peer once, exactly. Exact scans find every neighbour, aura-db at a
    setting finds what the bare statement at that setting finds (the same index walk: it really
    searched at that ef_search), and a wider search finds at least as much."""
    sizes = report.workspaces
    assert report.meta["sweep_workspace"] == max(report.meta["measured"], key=lambda w: sizes[w]["chunks"])
    points = {(p.contender, p.ef_search): p for p in report.sweep}
    assert len(points) == len(report.sweep)
    for contender in ("aura-db", "bare"):
        assert {ef for c, ef in points if c == contender} == {None, *SWEEP}
    for name in PEERS:
        if missing(name) is None:
            settings = {ef for c, ef in points if c == name}
            assert settings == ({None} if name == "langchain PGVector" else set(SWEEP)), (name, settings)
    for p in report.sweep:
        assert p.p50 > 0 and 0.0 <= p.recall <= 1.0 and 0.0 <= p.k_share <= 1.0, p
        if p.ef_search is None:
            assert p.recall == 1.0 and p.k_share == 1.0, p
    for ef in SWEEP:
        assert points["aura-db", ef].recall == pytest.approx(points["bare", ef].recall), ef
        assert points["aura-db", ef].k_share == 1.0
    assert points["aura-db", SWEEP[-1]].recall >= points["aura-db", SWEEP[0]].recall
    text = render(report)
    assert f"## Recall against latency: {report.meta['sweep_workspace']}" in text
    assert "| aura-db default (" in text


def test_hybrid_search_is_measured_with_identifier_queries(report: RealisticReport) -> None:
    """aura-db's hybrid and vector-only searches and LangChain PGVectorStore's two hybrid
    fusions (when installed) on the largest workspace: fractions, MRR at least the first-place
    share, and full-text helping an exact identifier (hybrid puts the definition first more
    often than the vector alone)."""
    sizes = report.workspaces
    assert report.meta["hybrid_workspace"] == max(report.meta["measured"], key=lambda w: sizes[w]["chunks"])
    points = {p.contender: p for p in report.hybrid}
    expected = {"aura-db hybrid_search", "aura-db search (vector only)"}
    if missing("langchain PGVectorStore") is None:
        expected |= {"langchain PGVectorStore hybrid (weighted sum, its default)",
                     "langchain PGVectorStore hybrid (RRF k 60)"}
    assert set(points) == expected
    for p in report.hybrid:
        assert p.p50 > 0 and 0.0 <= p.first <= p.mrr <= 1.0 and p.k_share == 1.0, p
    assert points["aura-db hybrid_search"].first > points["aura-db search (vector only)"].first
    text = render(report)
    assert f"## Hybrid search: identifier queries on {report.meta['hybrid_workspace']}" in text
    assert text.count("| aura-db hybrid_search | ") == 1


def test_results_md_gets_the_newest_sweep_with_the_fastest_setting_per_contender(
        report: RealisticReport, tmp_path: Path) -> None:
    """benchmarks/RESULTS.md's realistic section: the newest report with a sweep, linked with
    its plot relative to RESULTS.md, and per contender its fastest setting reaching 0.95."""
    from benchmarks.realistic.run import summary
    from benchmarks.report import newest_realistic

    results = tmp_path / "results"
    assert newest_realistic(results.parent) is None
    md = write(report, results)
    assert newest_realistic(results) == md
    lines = summary(md, tmp_path)
    assert f"([its report](results/{md.name})" in lines[0]
    assert f"](results/{md.stem}-recall.png)" in "\n".join(lines)
    rows = {line.split(" | ")[0][2:]: line.split(" | ") for line in lines if line.startswith("| ")
            and not line.startswith("| contender")}
    hybrid = {p.contender for p in report.hybrid}
    assert set(rows) == {p.contender for p in report.sweep} | hybrid
    rows = {c: cells for c, cells in rows.items() if c not in hybrid}
    assert any(line.startswith(f"#### Hybrid search: identifier queries on {report.meta['hybrid_workspace']} (")
               for line in lines)
    for contender, cells in rows.items():
        mine = [p for p in report.sweep if p.contender == contender and p.recall >= 0.95]
        fastest = min(mine, key=lambda p: p.p50)
        assert cells[1] == ("exact scan" if fastest.ef_search is None else f"ef_search {fastest.ef_search}")
        assert float(cells[2]) == pytest.approx(1e3 * fastest.p50, abs=0.006)
