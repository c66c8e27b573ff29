"""aura-db's vector search on the realistic dataset, against its own bare statement and numpy.

What is measured, per measured workspace (the smallest, the median, the largest, the smallest
one aura-db calibrates, and ones of ~9k and ~11k chunks when the dataset has them), without a
filter and with ``content_types=["Documentation"]`` (module and class docstrings: a small share
of each workspace), on the same queries (held-out chunks of the workspace and chunks of other
workspaces), interleaved round by round (:func:`benchmarks.harness.interleave`; a peer without
a vector index, whose every search scans its table, among such peers only, after the others):

* aura-db: ``db.rag_chunks.search(workspace, q, 10, ...)``, the public call: its routing round
  trip (settings, candidate count, calibration), the search, the restore, and its exact fallback
  when the HNSW path returns fewer than 10 rows;
* bare SQL: the one statement of the path aura-db chose for that workspace and filter (read from
  ``explain_search``: the exact scan, or the HNSW scan at its ef_search with the same iterative
  scan settings, set once per session), written by hand and sent with bound parameters through
  psycopg: what the path costs without aura-db around it. The ratio (aura-db p50 / bare p50) is
  the price of aura-db's routing and safety;
* recall@10 against an exact numpy cosine search over the vectors inserted into that workspace
  (under the same filter), for aura-db, for the bare statement and for the bare *exact*
  statement (which must be 1.0: a check of the harness itself). Ties are counted as found: a hit
  whose true similarity is within 2e-5 of the 10th best counts as a true neighbour (the
  ``encodings`` codecs hold many identical chunks);
* the share of queries that got their 10 rows (or every row the filter keeps, when fewer).

Loading goes through the public API too: ``db.workspaces.upsert``, ``db.rag_chunks.bulk_load``
(drops the HNSW index, rebuilds it at the end and calibrates the workspaces big enough to be
calibrated) and ``db.rag_chunks.add_many`` per workspace; then ``VACUUM ANALYZE``.

With ``peers`` (:mod:`.peers`), LangChain's and LlamaIndex's Postgres stores get the same rows
and the same queries in the same interleaved rounds, and are reported with their p50, recall
and share of full answers under the same filter.

Recall against latency (``sweep``): on the largest measured workspace, without a filter, every
query (same and cross) is searched at each ``hnsw.ef_search`` of :data:`SWEEP` by every
contender that has an HNSW index, each through its own option (aura-db ``search(...,
exact=False, ef_search=ef)``, the bare HNSW statement with ``set_config``, LangChain
PGVectorStore ``index_query_options=HNSWQueryOptions(ef_search=ef)``, LlamaIndex
``query(..., hnsw_ef_search=ef)``), interleaved per setting; the exact scans (aura-db
``exact=True``, the bare exact statement, LangChain PGVector, which has no vector index) are one
more point each. The report has the table, a ``<stem>-recall.png`` plot (recall@10 over p50, one
line per contender, aura-db's own routed default marked) and the JSON.

Hybrid search (``hybrid``): on the same workspace, identifier queries
(:meth:`~benchmarks.realistic.dataset.Dataset.identifier_queries`: the bare name of a function,
class or method defined once there, embedded by the dataset's own TF-IDF + SVD) through
``db.rag_chunks.hybrid_search(workspace, name, vector, 10)``, through aura-db's vector-only
search for reference, and through each peer's hybrid search, interleaved; ranking quality is
the share of queries whose defining chunk comes first and its mean reciprocal rank in the top
10 (0 when absent).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from pgvector.psycopg import register_vector
from psycopg import sql

from aura_db import Database
from aura_db.repositories import Chunk, SearchTuning

from ..harness import Stats, each, interleave, split
from .dataset import DIMS, SUPERSET, Dataset, build, random_like
from .peers import HybridSearch, Peer, missing, open_peer

__all__ = ["SWEEP", "HybridPoint", "K", "Measured", "RealisticReport", "SweepPoint", "plot", "render", "run",
           "run_on", "summary", "write"]

logger = logging.getLogger(__name__)

K = 10
TIE = 2e-5  # float32 cosine: pgvector's and numpy's sums differ in the last bits
DOC = "Documentation"
Key = tuple[str, int]
SWEEP = (10, 20, 40, 80, 100, 200, 400)  # hnsw.ef_search settings of the recall-vs-latency sweep


@dataclass
class Measured:
    """One workspace under one filter: the path aura-db chose, both latencies, the recalls."""

    workspace: str
    chunks: int  # inserted into the workspace
    filter: str  # "none" or "content_type=Documentation"
    kept: int  # chunks the filter keeps
    path: str  # "exact" or "hnsw"
    ef_search: int | None
    reason: str  # explain_search's why
    queries_same: int
    queries_cross: int
    aura: Stats
    bare: Stats
    recall_same: float
    recall_cross: float | None
    bare_recall_same: float
    bare_recall_cross: float | None
    exact_recall: float  # the bare exact statement vs numpy, every query
    k_share: float  # aura-db: share of queries that got min(10, kept) rows
    bare_k_share: float
    peers: dict[str, dict[str, float | None]] = field(default_factory=dict)  # p50, recalls, k_share

    @property
    def ratio(self) -> float:
        """aura-db's p50 over the bare statement's (above 1: aura-db costs more)."""
        return self.aura.p50 / self.bare.p50

    @property
    def route(self) -> str:
        return self.path if self.ef_search is None else f"{self.path} ef={self.ef_search}"


@dataclass(frozen=True)
class SweepPoint:
    """One contender at one ``hnsw.ef_search`` (None: its exact scan) on the swept workspace."""

    contender: str
    ef_search: int | None
    p50: float  # seconds
    recall: float  # recall@10 over every query, same and cross
    k_share: float  # share of queries that got their 10 rows


@dataclass(frozen=True)
class HybridPoint:
    """One contender's identifier queries on the hybrid workspace: latency and ranking."""

    contender: str
    p50: float  # seconds
    first: float  # share of queries whose defining chunk came first
    mrr: float  # mean reciprocal rank of the defining chunk within the top 10 (0 when absent)
    k_share: float  # share of queries that got their 10 rows


@dataclass
class RealisticReport:
    """Everything one run measured, with what it ran on."""

    meta: dict[str, Any]
    workspaces: dict[str, dict[str, int]]  # every workspace's sizes
    calibrations: dict[str, dict[str, Any]]  # measured workspace -> its recorded calibration
    rows: list[Measured] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    sweep: list[SweepPoint] = field(default_factory=list)  # on meta["sweep_workspace"], no filter
    hybrid: list[HybridPoint] = field(default_factory=list)  # on meta["hybrid_workspace"]

    def to_json(self) -> dict[str, Any]:
        rows = []
        for r in self.rows:
            d = dataclasses.asdict(r)
            d["ratio"] = r.ratio
            rows.append(d)
        return {"meta": self.meta, "workspaces": self.workspaces, "calibrations": self.calibrations,
                "rows": rows, "notes": self.notes, "sweep": [dataclasses.asdict(p) for p in self.sweep],
                "hybrid": [dataclasses.asdict(p) for p in self.hybrid]}


# -- entry points ----------------------------------------------------------------------------------


def run(url: str | None, *, size: str = "small", dims: int = 768, vectors: str = "tfidf",
        max_queries: int = 40, rounds: int = 5, peers: Sequence[str] = (),
        sweep: Sequence[int] = SWEEP, hybrid: bool = True) -> RealisticReport:
    """On a throwaway embedded server (or the server at the superuser ``url``), in a fresh
    migrated database: :func:`run_on`."""
    from ..env import database, server

    with server(url) as (admin, settings), database(admin) as db_url:
        report = run_on(db_url, size=size, dims=dims, vectors=vectors, max_queries=max_queries,
                        rounds=rounds, peers=peers, sweep=sweep, hybrid=hybrid)
        report.meta["server_settings"] = settings
        return report


def run_on(url: str, *, size: str = "small", dims: int = 768, vectors: str = "tfidf",
           max_queries: int = 40, rounds: int = 5, cache: Path | None = None,
           tuning: SearchTuning | None = None, peers: Sequence[str] = (),
           sweep: Sequence[int] = SWEEP, hybrid: bool = True) -> RealisticReport:
    """Build (or read from the cache) the dataset of ``size``, load it into the migrated
    database at ``url`` through aura-db, and measure the chosen workspaces. ``vectors``:
    ``tfidf`` (the dataset's embeddings) or ``random`` (same shape, no structure). ``tuning``
    replaces aura-db's default :class:`SearchTuning` (the smoke test lowers its thresholds so
    that a tiny dataset reaches the calibrated HNSW path too). ``peers``: names of
    :data:`benchmarks.realistic.peers.PEERS` to measure beside aura-db (each skipped with a
    note when its package is missing). ``sweep``: the ``hnsw.ef_search`` settings of the
    recall-vs-latency sweep on the largest measured workspace (empty: no sweep). ``hybrid``:
    measure hybrid search with identifier queries there too (not with random vectors: a query
    text has no random embedding)."""
    if dims not in DIMS:
        raise ValueError(f"dims must be one of {DIMS}, got {dims}")
    kwargs: dict[str, Any] = {} if cache is None else {"cache": cache}
    ds = build(size, max_queries=max_queries, **kwargs)
    vecs = ds.vectors[dims] if vectors == "tfidf" else random_like(ds, dims, seed=ds.seed)
    meta: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"), "size": size, "dims": dims,
        "vectors": vectors, "k": K, "rounds": rounds, "max_queries": max_queries,
        "dataset": {"key": ds.key, **ds.params, "chunks": len(ds.chunks),
                    "from_cache": ds.from_cache, "build_seconds": round(ds.build_seconds, 1),
                    "graph_nodes": len(ds.graph.nodes), "graph_edges": ds.graph.counts()},
    }
    with Database.connect(url) as db, psycopg.connect(url, autocommit=True) as exact_conn, \
            psycopg.connect(url, autocommit=True) as hnsw_conn:
        for conn in (exact_conn, hnsw_conn):
            register_vector(conn)
            conn.execute("SET plan_cache_mode = force_custom_plan")
        if tuning is not None:
            db.rag_chunks.tuning = tuning
        ids, timings = _load(db, exact_conn, ds, vecs, dims)
        meta.update(timings)
        meta["tuning"] = dataclasses.asdict(db.rag_chunks.tuning)
        chosen = choose(ds, db.rag_chunks.tuning)
        meta["measured"] = chosen
        calibrations = {}
        for name in chosen:
            for c in db.rag_chunks.search_calibrations(ids[name]):
                if c.embedding_dims == dims:
                    calibrations[name] = {"ef_search": c.ef_search, "recall": round(c.recall, 4),
                                          "queries": c.queries, "chunks": c.chunks,
                                          "exact_below": c.exact_below}
        report = RealisticReport(meta, ds.sizes(), calibrations)
        loaded = _open_peers(url, ds, vecs, dims, peers, report)
        try:
            bare = _Bare(exact_conn, hnsw_conn, dims, db.rag_chunks.tuning)
            for name in chosen:
                for content_type in (None, DOC):
                    row = _measure(db, bare, ds, vecs, name, ids[name], content_type, rounds, loaded,
                                   report.notes)
                    if row is not None:
                        report.rows.append(row)
                        logger.info("%s %s: %s aura %.2f ms bare %.2f ms recall %.3f/%s", name, row.filter,
                                    row.route, 1e3 * row.aura.p50, 1e3 * row.bare.p50, row.recall_same,
                                    row.recall_cross)
            if sweep:
                widest = chosen[0]  # largest first
                report.meta["sweep_workspace"] = widest
                report.meta["sweep_ef_search"] = list(sweep)
                report.sweep = _sweep(db, bare, ds, vecs, widest, ids[widest], rounds, loaded, sweep,
                                      report.notes)
            if hybrid and vectors == "tfidf":
                widest = chosen[0]
                report.meta["hybrid_workspace"] = widest
                report.hybrid = _hybrid(db, ds, dims, widest, ids[widest], rounds, loaded, report.notes)
        finally:
            for peer in loaded:
                peer.close()
    if vectors == "random":
        report.notes.append("random unit vectors in place of the embeddings: the adversarial case")
    return report


def _open_peers(url: str, ds: Dataset, vecs: np.ndarray, dims: int, names: Sequence[str],
                report: RealisticReport) -> list[Peer]:
    """Load every chunk of every workspace into each named peer that can run; a missing package
    or a failure is a note in the report, not the end of the run."""
    out: list[Peer] = []
    rows = [(name, ds.chunks[i].content_id, ds.chunks[i].chunk_index, ds.chunks[i].content_type,
             ds.chunks[i].content, vecs[i]) for name, members in ds.workspaces().items() for i in members]
    for name in names:
        why = missing(name)
        if why is not None:
            report.notes.append(why)
            continue
        began = time.perf_counter()
        try:
            peer = open_peer(name, url, rows, dims)
        except Exception as exc:  # a peer's failure is reported, aura-db's numbers still stand
            logger.exception("peer %s failed to load", name)
            report.notes.append(f"{name} skipped: its load failed: {type(exc).__name__}: {exc}"[:300])
            continue
        report.notes.append(f"{peer.note}: {len(rows):,} rows loaded (and indexed) in "
                            f"{time.perf_counter() - began:.1f} s")
        out.append(peer)
    return out


def choose(ds: Dataset, tuning: SearchTuning | None = None) -> list[str]:
    """The workspaces measured: smallest, median, largest, the smallest above aura-db's
    calibration floor (its searches may take the HNSW path), and the ones nearest 9,000 and
    11,000 chunks when within 20% of those sizes; each once, largest first."""
    sizes = {name: len(m) for name, m in ds.workspaces().items()}
    ordered = sorted(sizes, key=lambda n: (sizes[n], n))
    picks = [ordered[0], ordered[len(ordered) // 2], ordered[-1]]
    floor = (tuning or SearchTuning()).calibration_floor
    calibrated = [n for n in ordered if sizes[n] > floor]
    if calibrated:
        picks.append(calibrated[0])
    for target in (9_000, 11_000):
        near = min(ordered, key=lambda n: abs(sizes[n] - target))
        if abs(sizes[near] - target) <= 0.2 * target:
            picks.append(near)
    return sorted(set(picks), key=lambda n: (-sizes[n], n))


# -- loading ---------------------------------------------------------------------------------------


def _load(db: Database, admin: psycopg.Connection[Any], ds: Dataset, vecs: np.ndarray,
          dims: int) -> tuple[dict[str, str], dict[str, float]]:
    """Every workspace upserted, its chunks added in one ``add_many`` inside one ``bulk_load``
    (the index built and the workspaces calibrated on exit), then ``VACUUM ANALYZE rag_chunks``
    through the autocommit connection ``admin`` (what autovacuum does to a freshly loaded table
    sooner or later: the measurements should not depend on whether it has run yet); the
    seconds each part took."""
    ids: dict[str, str] = {}
    began = time.perf_counter()
    with db.rag_chunks.bulk_load(dims):
        for name, members in ds.workspaces().items():
            ids[name] = db.workspaces.upsert(f"/stdlib/{name}", name=name).id
            db.rag_chunks.add_many(ids[name], [_chunk(ds, vecs, i) for i in members])
        loaded = time.perf_counter()
    done = time.perf_counter()
    admin.execute("VACUUM ANALYZE rag_chunks")
    return ids, {"load_seconds": round(loaded - began, 1),
                 "index_and_calibration_seconds": round(done - loaded, 1),
                 "rows": sum(len(m) for m in ds.workspaces().values())}


def _chunk(ds: Dataset, vecs: np.ndarray, i: int) -> Chunk:
    c = ds.chunks[i]
    return Chunk(content=c.content, embedding=vecs[i], chunk_index=c.chunk_index, source_path=c.file_path,
                 content_type=c.content_type, title=c.name, content_id=c.content_id,
                 metadata={"name": c.name, "kind": c.kind, "start_line": c.start_line,
                           "end_line": c.end_line})


# -- the bare statements ---------------------------------------------------------------------------

_COLUMNS = sql.SQL("id, content_id, chunk_index, content, source_path, content_type, title")


class _Bare:
    """The two statements aura-db's paths run, written by hand, on plain psycopg connections:
    the exact scan (``exact_conn``, default settings) and the HNSW scan (``hnsw_conn``, with
    aura-db's HNSW-path settings set once per session; ``ef_search`` per workspace)."""

    def __init__(self, exact_conn: psycopg.Connection[Any], hnsw_conn: psycopg.Connection[Any], dims: int,
                 tuning: SearchTuning) -> None:
        self.exact_conn, self.hnsw_conn, self.dims = exact_conn, hnsw_conn, dims
        for name, value in (("hnsw.iterative_scan", "relaxed_order"),
                            ("hnsw.max_scan_tuples", str(tuning.max_scan_tuples)),
                            ("enable_seqscan", "off"), ("enable_bitmapscan", "off"), ("enable_sort", "off")):
            hnsw_conn.execute("SELECT set_config(%s, %s, false)", (name, value))
        self.ef: int | None = None

    def set_ef(self, ef: int) -> None:
        if ef != self.ef:
            self.hnsw_conn.execute("SELECT set_config('hnsw.ef_search', %s, false)", (str(ef),))
            self.ef = ef

    def statement(self, path: str, filtered: bool) -> sql.Composed:
        where = sql.SQL(" AND content_type = ANY (%(types)s::text[])") if filtered else sql.SQL("")
        if path == "exact":
            # ORDER BY the output column: the distance is computed once per row (an ORDER BY
            # expression differing from the select list's, e.g. 1 - distance, is computed again)
            return sql.SQL(
                "SELECT {cols}, embedding <=> %(q)s::vector AS distance FROM rag_chunks "
                "WHERE workspace_id = %(ws)s AND embedding_dims = %(dims)s{where} "
                "ORDER BY distance, id LIMIT %(k)s").format(cols=_COLUMNS, where=where)
        typed = sql.SQL("embedding::vector({d}) <=> %(q)s::vector({d})").format(d=sql.Literal(self.dims))
        return sql.SQL(
            "SELECT {cols}, {dist} AS distance FROM rag_chunks "
            "WHERE embedding_dims = {d} AND workspace_id = %(ws)s{where} "
            "ORDER BY {dist} LIMIT %(k)s").format(cols=_COLUMNS, dist=typed, d=sql.Literal(self.dims),
                                                   where=where)

    def search(self, path: str, workspace_id: str,
               content_type: str | None) -> Callable[[np.ndarray], list[Key]]:
        stmt = self.statement(path, content_type is not None)
        conn = self.exact_conn if path == "exact" else self.hnsw_conn
        types = [content_type] if content_type else None

        def op(q: np.ndarray) -> list[Key]:
            rows = conn.execute(stmt, {"q": q, "ws": workspace_id, "dims": self.dims, "k": K, "types": types})
            return [(r[1], r[2]) for r in rows]
        return op


# -- one measurement -------------------------------------------------------------------------------


def _measure(db: Database, bare: _Bare, ds: Dataset, vecs: np.ndarray, name: str, workspace_id: str,
             content_type: str | None, rounds: int, peers: Sequence[Peer] = (),
             notes: list[str] | None = None) -> Measured | None:
    members = ds.workspaces()[name]
    if content_type is not None:
        members = [i for i in members if ds.chunks[i].content_type == content_type]
        if not members:
            return None
    same, cross = ds.same_queries(name), ds.cross_queries(name)
    queries = [vecs[i] for i in same + cross]
    types = None if content_type is None else [content_type]
    plans = {(p.path, p.ef_search, p.reason) for p in
             (db.rag_chunks.explain_search(workspace_id, q, K, content_types=types) for q in queries[:3])}
    if len(plans) != 1:
        raise AssertionError(f"{name}: aura-db routes queries of one workspace and filter "
                             f"differently: {plans}")
    ((path, ef, reason),) = plans
    if ef is not None:
        bare.set_ef(ef)

    def aura(q: np.ndarray) -> list[Key]:
        hits = db.rag_chunks.search(workspace_id, q, K, content_types=types)
        return [(h.content_id, h.chunk_index) for h in hits]

    on_path = bare.search(path, workspace_id, content_type)
    exact = bare.search("exact", workspace_id, content_type)
    peer_ops = {p.name: op for p in peers
                if (op := _probe(p, name, content_type, queries[0], notes)) is not None}
    # The peers without a vector index scan their whole table on every search, evicting the
    # pages of everyone's indexes from shared buffers: interleaved among themselves, after the
    # others (in one rotation with them, aura-db came right after them every round and paid for
    # reading its index back: 2.55x the bare statement on the largest workspace, 1.1-1.2x alone).
    contenders = {"aura-db": each(aura), "bare": each(on_path), **{k: each(op) for k, op in peer_ops.items()}}
    samples = interleave(contenders, split(queries, rounds), queries[:3], settle=queries[:2],
                         apart={p.name for p in peers if not p.indexed})
    truth = _Truth(ds, vecs, members)
    ops = {"aura": aura, "bare": on_path, "exact": exact, **peer_ops}
    found = {label: [op(q) for q in queries] for label, op in ops.items()}
    n_same = len(same)

    def recall(label: str, part: slice) -> float | None:
        hits = found[label][part]
        qs = (same + cross)[part]
        if not hits:
            return None
        return float(np.mean([truth.recall(vecs[i], h) for i, h in zip(qs, hits, strict=True)]))

    def k_share(label: str) -> float:
        want = min(K, len(members))
        return float(np.mean([len(set(h)) >= want for h in found[label]]))

    everything = slice(None)
    peer_rows: dict[str, dict[str, float | None]] = {
        p: {"p50": Stats.of(samples[p]).p50, "recall_same": recall(p, slice(0, n_same)),
            "recall_cross": recall(p, slice(n_same, None)), "k_share": k_share(p)} for p in peer_ops}
    return Measured(
        name, len(ds.workspaces()[name]), "none" if content_type is None else f"content_type={content_type}",
        len(members), path, ef, reason, len(same), len(cross),
        Stats.of(samples["aura-db"]), Stats.of(samples["bare"]),
        recall("aura", slice(0, n_same)) or 0.0, recall("aura", slice(n_same, None)),
        recall("bare", slice(0, n_same)) or 0.0, recall("bare", slice(n_same, None)),
        recall("exact", everything) or 0.0, k_share("aura"), k_share("bare"), peer_rows)


def _peer_op(peer: Peer, workspace: str, content_type: str | None) -> Callable[[np.ndarray], list[Key]]:
    return lambda q: peer.search(workspace, q, K, content_type)


def _probe(peer: Peer, workspace: str, content_type: str | None, q: np.ndarray,
           notes: list[str] | None, setting: str = "") -> Callable[[np.ndarray], list[Key]] | None:
    """The peer's search op once it answered ``q``; None (and a note) when it failed: one
    peer's failure leaves the others' and aura-db's numbers."""
    op = _peer_op(peer, workspace, content_type)
    try:
        op(q)
    except Exception as exc:
        logger.exception("peer %s failed on %s", peer.name, workspace)
        if notes is not None:
            notes.append(f"{peer.name} failed on {workspace} ({content_type or 'no filter'}{setting}): "
                         f"{type(exc).__name__}: {str(exc)[:200]}")
        return None
    return op


def _sweep(db: Database, bare: _Bare, ds: Dataset, vecs: np.ndarray, name: str, workspace_id: str,
           rounds: int, peers: Sequence[Peer], settings: Sequence[int],
           notes: list[str] | None = None) -> list[SweepPoint]:
    """Recall@10 and p50 of every contender on workspace ``name`` (no filter, same and cross
    queries together): the exact scans once, then each HNSW contender at every ef_search of
    ``settings``, the contenders of one setting interleaved."""
    members = ds.workspaces()[name]
    queries = [vecs[i] for i in ds.same_queries(name) + ds.cross_queries(name)]
    truth = _Truth(ds, vecs, members)
    want = min(K, len(members))
    points: list[SweepPoint] = []

    def measure(ef: int | None, ops: dict[str, Callable[[np.ndarray], list[Key]]]) -> None:
        samples = interleave({label: each(op) for label, op in ops.items()}, split(queries, rounds),
                             queries[:3], settle=queries[:2])
        for label, op in ops.items():
            hits = [op(q) for q in queries]
            points.append(SweepPoint(
                label, ef, Stats.of(samples[label]).p50,
                float(np.mean([truth.recall(q, h) for q, h in zip(queries, hits, strict=True)])),
                float(np.mean([len(set(h)) >= want for h in hits]))))

    def aura(exact: bool, ef: int | None = None) -> Callable[[np.ndarray], list[Key]]:
        def op(q: np.ndarray) -> list[Key]:
            hits = db.rag_chunks.search(workspace_id, q, K, exact=exact, ef_search=ef)
            return [(h.content_id, h.chunk_index) for h in hits]
        return op

    exact_ops = {"aura-db": aura(True), "bare": bare.search("exact", workspace_id, None)}
    for p in peers:
        if not p.indexed and (op := _probe(p, name, None, queries[0], notes)) is not None:
            exact_ops[p.name] = op  # no vector index: its one point is its exact scan
    measure(None, exact_ops)
    for ef in settings:
        bare.set_ef(ef)
        ops = {"aura-db": aura(False, ef), "bare": bare.search("hnsw", workspace_id, None)}
        for p in peers:
            tuned = p.at_ef(ef)
            if tuned is not None and (op := _probe(tuned, name, None, queries[0], notes,
                                                   f", ef_search {ef}")) is not None:
                ops[p.name] = op
        measure(ef, ops)
        logger.info("sweep %s ef_search %d: %s", name, ef, ", ".join(
            f"{pt.contender} {1e3 * pt.p50:.2f} ms {pt.recall:.3f}" for pt in points[-len(ops):]))
    return points


def _hybrid(db: Database, ds: Dataset, dims: int, name: str, workspace_id: str, rounds: int,
            peers: Sequence[Peer], notes: list[str]) -> list[HybridPoint]:
    """Identifier queries on workspace ``name`` through aura-db's hybrid and vector-only
    searches and every peer's hybrid search, interleaved; where each put the defining chunk."""
    assert ds.model is not None
    model = ds.model
    vectors = {text: model.embed(text, dims) for text, _ in ds.identifier_queries(name)}
    unknown = [t for t, v in vectors.items() if not v.any()]
    if unknown:  # no term of the name in the vocabulary: no embedding to search with
        notes.append(f"hybrid: {len(unknown)} identifier queries left out (no known term): {unknown[:5]}")
    texts = [t for t in vectors if t not in unknown]
    expected = {t: (ds.chunks[i].content_id, ds.chunks[i].chunk_index)
                for t, i in ds.identifier_queries(name) if t in texts}
    if not texts:
        return []

    def aura_hybrid(text: str) -> list[Key]:
        hits = db.rag_chunks.hybrid_search(workspace_id, text, vectors[text], K)
        return [(h.content_id, h.chunk_index) for h in hits]

    def aura_vector(text: str) -> list[Key]:
        return [(h.content_id, h.chunk_index) for h in db.rag_chunks.search(workspace_id, vectors[text], K)]

    ops: dict[str, Callable[[str], list[Key]]] = {
        "aura-db hybrid_search": aura_hybrid, "aura-db search (vector only)": aura_vector}
    for p in peers:
        for label, search in p.hybrid().items():
            op = _hybrid_op(search, name, vectors)
            try:
                op(texts[0])
            except Exception as exc:  # one peer's failure leaves the others' numbers
                logger.exception("peer %s failed in hybrid search", label)
                notes.append(f"{label} failed on {name}: {type(exc).__name__}: {str(exc)[:200]}")
                continue
            ops[label] = op
    samples = interleave({label: each(fn) for label, fn in ops.items()}, split(texts, rounds),
                         texts[:3], settle=texts[:2])
    want = min(K, len(ds.workspaces()[name]))
    points = []
    for label, fn in ops.items():
        hits = [fn(t) for t in texts]
        ranks = [h.index(expected[t]) + 1 if expected[t] in h else None
                 for t, h in zip(texts, hits, strict=True)]
        points.append(HybridPoint(label, Stats.of(samples[label]).p50,
                                  float(np.mean([r == 1 for r in ranks])),
                                  float(np.mean([1 / r if r else 0.0 for r in ranks])),
                                  float(np.mean([len(set(h)) >= want for h in hits]))))
        logger.info("hybrid %s: %s %.2f ms, first %.2f", name, label, 1e3 * points[-1].p50, points[-1].first)
    return points


def _hybrid_op(search: HybridSearch, workspace: str, vectors: dict[str, np.ndarray],
               ) -> Callable[[str], list[Key]]:
    return lambda text: search(workspace, text, vectors[text], K)


class _Truth:
    """Exact numpy top-10 over the vectors inserted into a workspace (under a filter)."""

    def __init__(self, ds: Dataset, vecs: np.ndarray, members: Sequence[int]) -> None:
        self.matrix = vecs[list(members)]
        self.keys = {(ds.chunks[i].content_id, ds.chunks[i].chunk_index): j for j, i in enumerate(members)}

    def recall(self, q: np.ndarray, hits: Sequence[Key]) -> float:
        """Hits among the true top 10 (ties within :data:`TIE` of the 10th count) over
        min(10, rows kept)."""
        sims = self.matrix @ q
        want = min(K, len(sims))
        kth = float(np.partition(-sims, want - 1)[want - 1]) * -1
        good = {k for k in hits if k in self.keys and sims[self.keys[k]] >= kth - TIE}
        return min(len(good), want) / want


# -- the report ------------------------------------------------------------------------------------


def _ms(seconds: float) -> str:
    return f"{1e3 * seconds:.2f}"


def _f(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _default(report: RealisticReport) -> SweepPoint | None:
    """aura-db's own routed search on the swept workspace without a filter (its calibrated
    default), as a sweep point: recall over the same and cross queries together."""
    for r in report.rows:
        if r.workspace == report.meta.get("sweep_workspace") and r.filter == "none":
            n = r.queries_same + r.queries_cross
            recall = (r.recall_same * r.queries_same + (r.recall_cross or 0.0) * r.queries_cross) / n
            return SweepPoint(f"aura-db default ({r.route})", r.ef_search, r.aura.p50, recall, r.k_share)
    return None


def _sweep_lines(report: RealisticReport, png: str | None) -> list[str]:
    if not report.sweep:
        return []
    name = report.meta["sweep_workspace"]
    lines = ["", f"## Recall against latency: {name} ({report.workspaces[name]['chunks']:,} chunks), "
             "no filter, every query", "",
             "Each contender at each `hnsw.ef_search` through its own option (the contenders of one "
             "setting interleaved); *exact* = its exact scan (LangChain PGVector has no vector index). "
             "Recall@10 over the same and cross queries together.", ""]
    if png is not None:
        lines += [f"![recall against latency per contender]({png})", ""]
    lines += ["| contender | ef_search | p50 ms | recall@10 | k rows |", "|---|---:|---:|---:|---:|"]
    default = _default(report)
    for pt in sorted(report.sweep, key=lambda p: (p.contender != "aura-db", p.contender, p.ef_search or 0)):
        lines.append(f"| {pt.contender} | {pt.ef_search or 'exact'} | {_ms(pt.p50)} | {pt.recall:.3f} "
                     f"| {pt.k_share:.2f} |")
    if default is not None:
        lines.append(f"| {default.contender} | {default.ef_search or 'exact'} | {_ms(default.p50)} "
                     f"| {default.recall:.3f} | {default.k_share:.2f} |")
    return lines


def _hybrid_lines(points: Sequence[HybridPoint], name: str, chunks: int, heading: str = "##") -> list[str]:
    """The hybrid section: what was asked, one row per contender."""
    if not points:
        return []
    ref = next((p for p in points if p.contender == "aura-db hybrid_search"), points[0])
    return ["", f"{heading} Hybrid search: identifier queries on {name} ({chunks:,} chunks)", "",
            "The bare name of a function, class or method defined once in the workspace "
            "(`raw_decode`), embedded by the dataset's TF-IDF + SVD, searched for the top 10; "
            "*first* = share of queries whose defining chunk came first, MRR@10 = its mean "
            "reciprocal rank (0 when not in the top 10); each leg takes 40 candidates; ratio = p50 "
            "/ aura-db hybrid_search's.", "",
            "| contender | p50 ms | ratio | first | MRR@10 | k rows |", "|---|---:|---:|---:|---:|---:|",
            *[f"| {p.contender} | {_ms(p.p50)} | {p.p50 / ref.p50:.2f} | {p.first:.3f} | {p.mrr:.3f} "
              f"| {p.k_share:.2f} |" for p in points]]


def plot(report: RealisticReport, path: Path) -> bool:
    """Recall@10 over p50 (log), one line per contender across ef_search, its exact scan a
    square, aura-db's routed default a star (PNG); False when there is no sweep."""
    if not report.sweep:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    names = sorted({p.contender for p in report.sweep}, key=lambda n: (n != "aura-db", n))
    for n, name in enumerate(names):
        color = f"C{n}"
        hnsw = sorted((p for p in report.sweep if p.contender == name and p.ef_search is not None),
                      key=lambda p: p.ef_search or 0)
        if hnsw:
            ax.plot([1e3 * p.p50 for p in hnsw], [p.recall for p in hnsw], marker="o", color=color,
                    label=f"{name} (HNSW)")
            if name == "aura-db":
                for p in hnsw:
                    ax.annotate(f"ef {p.ef_search}", (1e3 * p.p50, p.recall), textcoords="offset points",
                                xytext=(4, -11), fontsize=7, color=color)
        for p in report.sweep:
            if p.contender == name and p.ef_search is None:
                ax.plot([1e3 * p.p50], [p.recall], marker="s", color=color, linestyle="none",
                        label=f"{name} exact scan")
    default = _default(report)
    if default is not None:
        ax.plot([1e3 * default.p50], [default.recall], marker="*", markersize=14, color="black",
                linestyle="none", label=default.contender)
    name = report.meta["sweep_workspace"]
    ax.set(xscale="log", xlabel="median latency per query (ms, log)", ylabel="recall@10",
           title=f"{name}: {report.workspaces[name]['chunks']:,} chunks, {report.meta['dims']}-d, no filter")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def render(report: RealisticReport, png: str | None = None) -> str:
    """The markdown report: what ran, the workspaces, then one table row per measurement, and
    the recall-against-latency sweep (``png``: the plot's path relative to the report)."""
    m = report.meta
    d = m["dataset"]
    built = "from the cache" if d["from_cache"] else f"built in {d['build_seconds']} s"
    lines = [
        f"# aura-db vector search on the Python {d['python']} standard library ({m['date']})", "",
        f"Size `{m['size']}`, {m['dims']} dimensions, {m['vectors']} vectors, top-{m['k']}, "
        f"{m['rounds']} interleaved rounds. Dataset `{d['key']}`: {d['chunks']:,} chunks "
        f"({built}), "
        f"{m['rows']:,} rows loaded in {m['load_seconds']} s, HNSW index and calibrations "
        f"{m['index_and_calibration_seconds']} s. Code graph: {d['graph_nodes']:,} nodes, edges "
        + ", ".join(f"{k} {v:,}" for k, v in sorted(d["graph_edges"].items())) + ".", "",
        "aura-db = `db.rag_chunks.search` (one round trip once a search has taken the route: the "
        "routing statement, the route's settings and its search in one pipeline; exact fallback when "
        "HNSW returns fewer rows); bare = the one statement of the path aura-db chose, by hand through "
        "psycopg (HNSW settings set once per session); ratio = aura-db p50 / bare p50. Recall@10 is "
        "against exact numpy search of the workspace's inserted vectors under the same filter (ties "
        "count as found); *same* = held-out chunks of the workspace, *cross* = chunks of other "
        "workspaces; *exact stmt* = the bare exact statement's recall (must be 1.0); k rows = share of "
        "queries that got min(10, kept) rows.", "",
        "| workspace | chunks | filter (kept) | path | aura-db p50 ms | bare p50 ms | ratio "
        "| recall same | recall cross | bare recall same / cross | exact stmt | k rows aura / bare |",
        "|---|---:|---|---|---:|---:|---:|---:|---:|---|---:|---|",
    ]
    for r in report.rows:
        lines.append(
            f"| {r.workspace} | {r.chunks:,} | {r.filter} ({r.kept:,}) | {r.route} | {_ms(r.aura.p50)} "
            f"| {_ms(r.bare.p50)} | {r.ratio:.2f} | {_f(r.recall_same)} | {_f(r.recall_cross)} "
            f"| {_f(r.bare_recall_same)} / {_f(r.bare_recall_cross)} | {_f(r.exact_recall)} "
            f"| {r.k_share:.2f} / {r.bare_k_share:.2f} |")
    peer_names = sorted({p for r in report.rows for p in r.peers})
    if peer_names:
        lines += ["", "Peers, same queries, same rounds (ratio = peer p50 / aura-db p50):", "",
                  "| workspace | filter (kept) | contender | p50 ms | ratio to aura-db | recall same "
                  "| recall cross | k rows |", "|---|---|---|---:|---:|---:|---:|---:|"]
        for r in report.rows:
            lines.append(f"| {r.workspace} | {r.filter} ({r.kept:,}) | aura-db ({r.route}) "
                         f"| {_ms(r.aura.p50)} | 1.00 | {_f(r.recall_same)} | {_f(r.recall_cross)} "
                         f"| {r.k_share:.2f} |")
            for p in peer_names:
                v = r.peers.get(p)
                if v is None:
                    continue
                p50 = float(v["p50"] or 0.0)
                lines.append(f"| {r.workspace} | {r.filter} ({r.kept:,}) | {p} | {_ms(p50)} "
                             f"| {p50 / r.aura.p50:.2f} | {_f(v['recall_same'])} | {_f(v['recall_cross'])} "
                             f"| {float(v['k_share'] or 0.0):.2f} |")
    lines += ["", "Why each path (explain_search):", ""]
    lines += [f"- {r.workspace}, {r.filter}: {r.reason}" for r in report.rows]
    if report.calibrations:
        lines += ["", "Calibrations recorded (measured workspaces):", ""]
        for name, c in report.calibrations.items():
            lines.append(f"- {name}: ef_search {c['ef_search'] or 'none (exact)'}, recall {c['recall']} on "
                         f"{c['queries']} queries, {c['chunks']:,} chunks, exact below {c['exact_below']}")
    lines += ["", "Workspaces (chunks inserted / of which Documentation / held-out queries):", "",
              "| workspace | chunks | documentation | held out |", "|---|---:|---:|---:|"]
    for name, s in report.workspaces.items():
        lines.append(f"| {name}{' (copy of all)' if name == SUPERSET else ''} | {s['chunks']:,} "
                     f"| {s['documentation']:,} | {s['held_out']} |")
    lines += _sweep_lines(report, png)
    if report.hybrid:
        name = report.meta["hybrid_workspace"]
        lines += _hybrid_lines(report.hybrid, name, report.workspaces[name]["chunks"])
    if report.notes:
        lines += ["", "## Notes", "", *[f"- {n}" for n in report.notes]]
    return "\n".join(lines) + "\n"


def write(report: RealisticReport, out: Path) -> Path:
    """``<out>/<date>-realistic[-<size>-<dims>].md``, the JSON and the sweep's ``-recall.png``
    beside it; the markdown's path."""
    out.mkdir(parents=True, exist_ok=True)
    m = report.meta
    stem = f"{m['date'][:10]}-realistic"
    if (m["size"], m["dims"], m["vectors"]) != ("small", 768, "tfidf"):
        stem += f"-{m['size']}-{m['dims']}" + ("" if m["vectors"] == "tfidf" else f"-{m['vectors']}")
    md = out / f"{stem}.md"
    png = out / f"{stem}-recall.png"
    md.write_text(render(report, png.name if plot(report, png) else None), encoding="utf-8")
    (out / f"{stem}.json").write_text(json.dumps(report.to_json(), indent=1, default=str), encoding="utf-8")
    return md


def summary(md: Path, base: Path, target: float = 0.95) -> list[str]:
    """Markdown lines for another report (benchmarks/RESULTS.md, at ``base``) on the realistic
    run whose report is ``md``: its link and plot, and per contender the fastest setting of its
    sweep reaching recall@10 >= ``target`` (or its best recall when none does). Empty when the
    run has no sweep."""
    data = json.loads(md.with_suffix(".json").read_text(encoding="utf-8"))
    points = [SweepPoint(**p) for p in data.get("sweep", [])]
    if not points:
        return []
    meta = data["meta"]
    name = meta["sweep_workspace"]
    png = md.with_name(f"{md.stem}-recall.png")
    rel = Path(os.path.relpath(md, base))
    lines = [f"Recall against latency per contender on real code and documentation: the largest "
             f"workspace ({name}, {data['workspaces'][name]['chunks']:,} chunks, {meta['dims']}-d "
             f"{meta['vectors']} embeddings of the Python standard library, no filter, held-out and "
             f"cross-workspace queries) of the `python -m benchmarks.realistic --size {meta['size']}` "
             f"run of {meta['date']} ([its report]({rel}): every workspace size and filter, the peers' "
             "recall and share of full answers).", ""]
    if png.exists():
        lines += [f"![recall against latency per contender]({Path(os.path.relpath(png, base))})", ""]
    lines += [f"| contender | fastest setting with recall@10 >= {target} | p50 ms | recall@10 | k rows |",
              "|---|---|---:|---:|---:|"]
    for contender in sorted({p.contender for p in points}, key=lambda c: (c != "aura-db", c)):
        mine = [p for p in points if p.contender == contender]
        good = [p for p in mine if p.recall >= target]
        best = min(good, key=lambda p: p.p50) if good else max(mine, key=lambda p: (p.recall, -p.p50))
        how = "exact scan" if best.ef_search is None else f"ef_search {best.ef_search}"
        lines.append(f"| {contender} | {how if good else f'none (best: {how})'} | {_ms(best.p50)} "
                     f"| {best.recall:.3f} | {best.k_share:.2f} |")
    hybrid = [HybridPoint(**p) for p in data.get("hybrid", [])]
    if hybrid:
        name = meta["hybrid_workspace"]
        lines += _hybrid_lines(hybrid, name, data["workspaces"][name]["chunks"], "####")
    return lines
