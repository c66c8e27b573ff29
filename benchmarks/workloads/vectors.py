"""Workloads 5 and 6: bulk ingest of 768-d RAG chunks, and top-10 search (HNSW vs exact), with
how search, load, index build and storage grow with the chunk count (``search_growth``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any

import numpy as np
from pgvector.sqlalchemy import Vector
from psycopg import sql
from sqlalchemy import cast, insert, select
from sqlalchemy.orm import Session

from .. import raw_sql
from ..data import DIMS, Chunk, chunks, embeddings
from ..env import POOL_SIZE, Bench
from ..harness import Batch, Case, Row, Stats, each, interleave, split, timed
from ..orm import RagChunk
from ..rag import Route, aura_rag, default_ef_search
from .common import AIOSQL, AURA, PSYCOPG, SQLALCHEMY, measure

__all__ = ["INDEX", "SEARCH_WORKSPACE", "K", "hnsw_settings", "ingest", "search", "search_data"]

K = 10
INDEX = "ix_rag_chunks_embedding_768"


def _workspace(bench: Bench, path: str) -> str:
    return bench.db.workspaces.upsert(path).id


def _truncate(bench: Bench) -> None:
    with bench.pool.connection() as conn:
        conn.execute("TRUNCATE rag_chunks, index_metadata")


@contextmanager
def _without_index(bench: Bench) -> Iterator[str]:
    """Drop the 768-d HNSW index for the block and yield its definition (not rebuilt here)."""
    with bench.pool.connection() as conn:
        row = conn.execute("SELECT pg_get_indexdef(%s::regclass)", (INDEX,)).fetchone()
        assert row is not None
        conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(INDEX)))
    yield str(row[0])


def _build_index(bench: Bench, definition: str) -> float:
    """Create the HNSW index again; its build time in seconds."""
    with bench.pool.connection() as conn:
        conn.autocommit = True
        try:
            conn.execute("SET maintenance_work_mem = '1GB'")
            began = time.perf_counter()
            conn.execute(definition)  # pg_get_indexdef's text of our own migration's index
            took = time.perf_counter() - began
            conn.execute("VACUUM ANALYZE rag_chunks")
        finally:
            # back as the pool lent it: left in autocommit, the exact scan's SET LOCALs on this
            # connection would be no-ops and its "exact" searches would take the index
            conn.execute("RESET maintenance_work_mem")
            conn.autocommit = False
    return took


# -- 5. bulk ingest ------------------------------------------------------------------------------


def ingest(bench: Bench) -> list[Case]:
    """Insert N chunks (768-d embeddings), each contender into an emptied table, without the
    HNSW index (bulk-load practice: build it after the load; workload 6 times the build)."""
    rag = aura_rag(bench.db)
    workspace = _workspace(bench, "/bench/ingest")
    cases = []
    with _without_index(bench) as definition:
        for rows, rounds in bench.size.ingest:
            data = chunks(workspace, embeddings(rows, seed=rows), seed=rows)
            case = Case("ingest", f"{rows:,} chunks of {DIMS} dimensions", "row", notes=[
                "table emptied (TRUNCATE, then CHECKPOINT: not timed) before every contender's "
                "batch; the 768-d HNSW index is dropped during ingest, the full-text GIN index stays"])
            if rag.fallback:
                case.notes.append(f"aura-db: {rag.label} — this tree has no db.rag_chunks yet")
            contenders = {k: _emptied_first(bench, op, rows) for k, op in _ingest_ops(bench).items()}
            warm = data[: min(200, rows)]
            cases.append(measure(case, contenders, [data] * rounds, warm))
        _truncate(bench)
        _build_index(bench, definition)
    return cases


def _emptied_first(bench: Bench, op: Callable[[Sequence[Chunk]], object], rows: int) -> Batch:
    def batch(items: Sequence[Chunk]) -> list[float]:
        _truncate(bench)
        # every contender starts with no dirty buffers: with 2 GB of shared buffers the loads
        # before leave up to ~0.5 GB dirty, and whoever runs when they force a checkpoint pays
        # for writing them (at 100k rows aura-db, first in the only round, took 1.44x the binary
        # COPY after it; 0.87x with 128 MB of shared buffers)
        with bench.pool.connection() as conn:
            conn.execute("CHECKPOINT")
        return timed(len(items), lambda: op(items))
    return batch


def _ingest_ops(bench: Bench) -> dict[str, Callable[[Sequence[Chunk]], object]]:
    rag, pool, aq = aura_rag(bench.db), bench.pool, bench.aq

    def copy(items: Sequence[Chunk]) -> None:
        with pool.connection() as conn, conn.cursor() as cur, cur.copy(raw_sql.COPY_CHUNKS) as cp:
            cp.set_types(raw_sql.COPY_CHUNK_TYPES)
            for chunk in items:
                cp.write_row(chunk.values())

    def executemany(items: Sequence[Chunk]) -> None:
        with pool.connection() as conn, conn.cursor() as cur:
            cur.executemany(raw_sql.INSERT_CHUNK, [c.values() for c in items])

    def orm(items: Sequence[Chunk]) -> None:
        with Session(bench.engine) as s, s.begin():
            s.execute(insert(RagChunk), [_orm_values(c) for c in items])

    def via_aiosql(items: Sequence[Chunk]) -> None:
        with pool.connection() as conn:
            aq.insert_chunks(conn, [dict(zip(_COLUMNS, c.values(), strict=True)) for c in items])

    aura = "db.rag_chunks.add_many" if not rag.fallback else "binary COPY (fallback)"
    return {f"{AURA}: {aura}": rag.add_many,
            f"{PSYCOPG}: binary COPY": copy, f"{PSYCOPG}: executemany": executemany,
            f"{SQLALCHEMY}: session.execute(insert(), rows)": orm,
            f"{AIOSQL}: insert_chunks*! (executemany)": via_aiosql}


_COLUMNS = ("workspace_id", "content_id", "chunk_index", "content", "embedding", "source_path",
            "content_type", "title", "metadata")


def _orm_values(c: Chunk) -> dict[str, Any]:
    return {"workspace_id": c.workspace_id, "content_id": c.content_id, "chunk_index": c.chunk_index,
            "content": c.content, "embedding": c.embedding, "source_path": c.source_path,
            "content_type": c.content_type, "title": c.title, "meta": c.metadata}


# -- 6. vector search ----------------------------------------------------------------------------


def search(bench: Bench) -> list[Case]:
    """Top-10 cosine search over N chunks: aura-db's search (routed: exact up to its threshold,
    else HNSW), every peer through the HNSW index at the same ef_search, exact scans, and a
    recall/latency curve over ef_search; first the same search at the smaller sizes of
    ``search_growth`` (each loaded alone), for the growth case."""
    size = bench.size
    queries = list(embeddings(size.search_queries, seed=4242))
    growth = Case("search_growth", f"top-{K} search, COPY load, HNSW build and storage from "
                  f"{min((*size.search_growth, size.search_rows)):,} to {size.search_rows:,} chunks x {DIMS}",
                  "query", notes=[
                      "each size loaded alone into an emptied table (binary COPY, one stream), the HNSW "
                      "index (m=16, ef_construction=64) built after the load with maintenance_work_mem "
                      "1GB, VACUUM ANALYZE, the workspace calibrated as an index build through the "
                      "repository does; aura-db = its default (routed) search, psycopg = aura-db's HNSW "
                      "statement on a plain pool with the HNSW settings set once per session; table = "
                      "pg_table_size(rag_chunks) (heap, TOAST, maps), HNSW = pg_relation_size of the index"])
    for n in size.search_growth:
        _grow(bench, growth, n, queries)
    workspace, vectors, loaded = search_data(bench)
    build = None if loaded is None else loaded[1]
    truth = _truth(vectors, np.array(queries))
    calibrated = aura_rag(bench.db).calibrate(workspace, DIMS)
    route = aura_rag(bench.db).route(workspace, queries[0], K)
    ef = route.ef_search
    head = Case("search", f"top-{K} of {size.search_rows:,} x {DIMS}, ef_search={ef}", "query", notes=[
        "HNSW index (m=16, ef_construction=64) " + (
            "left by an earlier workload of this run" if build is None
            else f"built in {build:.1f} s after the load"),
        f"aura-db's default search: counts the workspace's chunks (up to its exact threshold; "
        f"not at all when its calibration proves it larger), then the exact or the HNSW path "
        f"(ef_search={ef}: its calibrated one, else its default {default_ef_search()}; iterative "
        f"scan), one round trip once the route is known (the routing "
        f"statement and the route's statements in one pipeline); the peers send aura-db's HNSW "
        f"statement with the same settings "
        f"(ef_search, iterative scan, planner forced onto the index) set once per session",
        "recall@10 against an exact numpy cosine search of the same vectors",
        "the exact scans are interleaved among themselves after the others: each reads the whole "
        "table and evicts the index's pages, which the contender after it paid for"])
    head.notes.insert(0, calibrated)
    head.notes.insert(0, f"aura-db's default search took the {route} path at this size")
    with _peer_settings(bench, ef):
        _measure_search(bench, head, _search_ops(bench, workspace), queries, truth)
        curve = Case("search_curve", f"recall vs latency over ef_search, {size.search_rows:,} x {DIMS}",
                     "query", notes=["raw psycopg, SET LOCAL hnsw.ef_search then aura-db's HNSW "
                                     "statement; the exact scan turns index scans off for the query"])
        _measure_search(bench, curve, _curve_ops(bench, workspace), queries, truth)
    _grown(bench, growth, size.search_rows, loaded, route, head.rows[0], head.row(f"{PSYCOPG}: plain pool"))
    return [head, curve, growth]


def _grow(bench: Bench, case: Case, n: int, queries: list[Any]) -> None:
    """One smaller size of the growth case: ``n`` chunks loaded alone, aura-db's default search
    and the bare HNSW statement interleaved on the same queries."""
    workspace = _workspace(bench, SEARCH_WORKSPACE)
    vectors = embeddings(n, seed=2024)
    loaded = _load_for_search(bench, chunks(workspace, vectors, seed=1))
    rag = aura_rag(bench.db)
    rag.calibrate(workspace, DIMS)
    route = rag.route(workspace, queries[0], K)
    ops = {f"{AURA}: {rag.label}.search": lambda q: rag.search(workspace, q, K, None),
           f"{PSYCOPG}: plain pool": _search_ops(bench, workspace)[f"{PSYCOPG}: plain pool"]}
    measured = Case("search", "", "query")
    with _peer_settings(bench, route.ef_search):
        _measure_search(bench, measured, ops, queries, _truth(vectors, np.array(queries)))
    _grown(bench, case, n, loaded, route, *measured.rows)


def _grown(bench: Bench, case: Case, n: int, loaded: tuple[float, float] | None, route: Route,
           aura: Row, raw: Row) -> None:
    """Add the growth rows of size ``n``: aura-db's search with the load, build and storage
    figures of that size, and the bare statement's."""
    with bench.pool.connection() as conn:
        row = conn.execute("SELECT pg_table_size('rag_chunks'), pg_relation_size(%s::regclass)",
                           (INDEX,)).fetchone()
    assert row is not None
    extra = {"chunks": float(n), "table_mb": row[0] / 2**20, "hnsw_mb": row[1] / 2**20, **aura.extra}
    if loaded is not None:
        extra |= {"load_rows_per_s": n / loaded[0], "build_s": loaded[1]}
    case.rows.append(Row(aura.contender, f"{n:,} chunks, {route} path", aura.stats, extra))
    case.rows.append(Row(raw.contender, f"{n:,} chunks, HNSW statement (ef_search {route.ef_search})",
                         raw.stats, {"chunks": float(n), **raw.extra}))


SEARCH_WORKSPACE = "/bench/search"
EXACT_SCAN = "exact scan"  # the contenders measured apart from the index's (_measure_search)


def search_data(bench: Bench) -> tuple[str, np.ndarray, tuple[float, float] | None]:
    """The search workspace with its ``search_rows`` chunks and HNSW index: loaded (and the
    index built) unless an earlier workload of this run left exactly them in place; returns the
    workspace id, its vectors and the seconds the load and the index build took (None when
    reused)."""
    workspace = _workspace(bench, SEARCH_WORKSPACE)
    vectors = embeddings(bench.size.search_rows, seed=2024)
    with bench.pool.connection() as conn:
        row = conn.execute("SELECT count(*), to_regclass(%s) IS NOT NULL FROM rag_chunks "
                           "WHERE workspace_id = %s", (INDEX, workspace)).fetchone()
    assert row is not None
    if row[0] == len(vectors) and row[1]:
        return workspace, vectors, None
    return workspace, vectors, _load_for_search(bench, chunks(workspace, vectors, seed=1))


def hnsw_settings(ef: int) -> dict[str, str]:
    """The session settings of aura-db's HNSW path (its set_search_settings and
    set_hnsw_settings queries): without force_custom_plan a prepared statement would keep a
    generic plan made under other settings."""
    return {"plan_cache_mode": "force_custom_plan", "hnsw.ef_search": str(ef),
            "hnsw.iterative_scan": "relaxed_order",
            "hnsw.max_scan_tuples": "20000", "enable_seqscan": "off", "enable_bitmapscan": "off",
            "enable_sort": "off"}


@contextmanager
def _peer_settings(bench: Bench, ef: int) -> Iterator[None]:
    """Give every connection of the peers' pools aura-db's HNSW-path settings for the block,
    once per session (so their search stays one round trip), and reset them afterwards."""
    settings = hnsw_settings(ef)
    statements = [sql.SQL("SET {} = {}").format(sql.Identifier(*k.split(".")), sql.Literal(v))
                  for k, v in settings.items()]
    _on_every_connection(bench, statements)
    try:
        yield
    finally:
        _on_every_connection(bench, [sql.SQL("RESET ALL")])


def _on_every_connection(bench: Bench, statements: Sequence[sql.Composed | sql.SQL]) -> None:
    with ExitStack() as stack:
        for _ in range(POOL_SIZE):
            conn = stack.enter_context(bench.pool.connection())
            for st in statements:
                conn.execute(st)
            sa = stack.enter_context(bench.engine.connect())
            raw = sa.connection.driver_connection
            assert raw is not None
            for st in statements:
                raw.execute(st)
            raw.commit()  # SQLAlchemy did not begin this transaction: its commit() is a no-op


def _load_for_search(bench: Bench, data: list[Chunk]) -> tuple[float, float]:
    """``data`` alone in rag_chunks: one binary COPY, then the HNSW index built; the seconds
    each took (the load's include its commit)."""
    _truncate(bench)
    with _without_index(bench) as definition:
        began = time.perf_counter()
        with bench.pool.connection() as conn, conn.cursor() as cur, cur.copy(raw_sql.COPY_CHUNKS) as cp:
            cp.set_types(raw_sql.COPY_CHUNK_TYPES)
            for chunk in data:
                cp.write_row(chunk.values())
        load = time.perf_counter() - began
        return load, _build_index(bench, definition)


def _truth(vectors: np.ndarray, queries: np.ndarray) -> list[set[tuple[str, int]]]:
    best = np.argsort(-(queries @ vectors.T), axis=1)[:, :K]
    return [{(f"src/module_{i // 8}.py", int(i % 8)) for i in row} for row in best]


SearchOp = Callable[[Any], list[tuple[str, int]]]


def _measure_search(bench: Bench, case: Case, ops: dict[str, SearchOp], queries: list[Any],
                    truth: list[set[tuple[str, int]]]) -> None:
    """Every contender of ``ops`` on the same queries, interleaved; the exact scans among
    themselves, after the others. An exact scan reads the whole table, through shared buffers
    and the OS page cache, and evicts the index's pages: in one rotation with them, the
    contender after them (always the same one) paid for reading the index back (2026-12-07,
    100k: aura-db 4.49 ms, min 2.11, against 1.95 ms for the same statement measured after
    it)."""
    warmup = queries[: max(3, len(queries) // 20)]
    samples = interleave({k: each(op) for k, op in ops.items()}, split(queries, bench.size.rounds),
                         warmup, settle=warmup[:2], apart=[k for k in ops if k.startswith(EXACT_SCAN)])
    for key, values in samples.items():
        found = [set(ops[key](q)) for q in queries]
        recall = float(np.mean([len(f & t) / K for f, t in zip(found, truth, strict=True)]))
        contender, _, variant = key.partition(": ")
        case.rows.append(Row(contender, variant, Stats.of(values), {"recall@10": recall}))


def _search_ops(bench: Bench, workspace: str) -> dict[str, SearchOp]:
    rag, pool, aq = aura_rag(bench.db), bench.pool, bench.aq

    def raw(q: Any) -> list[tuple[str, int]]:
        with pool.connection() as conn:
            return _hits(conn.execute(raw_sql.SEARCH_CHUNKS, _params(workspace, q)))

    def via_aiosql(q: Any) -> list[tuple[str, int]]:
        with pool.connection() as conn:
            return _hits(aq.search_chunks(conn, **_params(workspace, q)))

    def orm(q: Any) -> list[tuple[str, int]]:
        distance = cast(RagChunk.embedding, Vector(DIMS)).cosine_distance(cast(q, Vector(DIMS)))
        stmt = (select(RagChunk.content_id, RagChunk.chunk_index, RagChunk.content,
                       RagChunk.source_path, RagChunk.content_type, RagChunk.title)
                .where(RagChunk.workspace_id == workspace, RagChunk.embedding_dims == DIMS)
                .order_by(distance).limit(K))
        with Session(bench.engine) as s:
            return [(r[0], r[1]) for r in s.execute(stmt)]

    return {f"{AURA}: {rag.label}.search": lambda q: rag.search(workspace, q, K, None),
            f"{PSYCOPG}: plain pool": raw,
            f"{SQLALCHEMY}: select() order_by cosine_distance": orm,
            f"{AIOSQL}: search_chunks": via_aiosql,
            f"{EXACT_SCAN}: {rag.label}.search(exact=True)":
                lambda q: rag.search(workspace, q, K, None, True),
            f"{EXACT_SCAN}: psycopg, index scans off": _exact(bench, workspace)}


def _params(workspace: str, q: Any) -> dict[str, Any]:
    return {**raw_sql.NO_FILTERS, "embedding": q, "workspace_id": workspace, "limit": K}


def _hits(rows: Any) -> list[tuple[str, int]]:
    return [(r[1], r[2]) for r in rows]


def _exact(bench: Bench, workspace: str) -> SearchOp:
    def op(q: Any) -> list[tuple[str, int]]:
        with bench.pool.connection() as conn:
            conn.execute("SET LOCAL enable_indexscan = off; SET LOCAL enable_seqscan = on; "
                         "SET LOCAL enable_sort = on")
            # never prepared: on a connection whose plan_cache_mode is back at auto a generic
            # plan cached after five runs would be made with the index and ignore the SET LOCALs
            return _hits(conn.execute(raw_sql.SEARCH_CHUNKS, _params(workspace, q), prepare=False))
    return op


def _curve_ops(bench: Bench, workspace: str) -> dict[str, SearchOp]:
    def at(ef: int) -> SearchOp:
        def op(q: Any) -> list[tuple[str, int]]:
            with bench.pool.connection() as conn:
                conn.execute(sql.SQL("SET LOCAL hnsw.ef_search = {}").format(sql.Literal(ef)))
                return _hits(conn.execute(raw_sql.SEARCH_CHUNKS, _params(workspace, q)))
        return op
    ops = {f"{PSYCOPG}: ef_search={ef}": at(ef) for ef in bench.size.ef_search}
    ops[f"{EXACT_SCAN}: psycopg, index scans off"] = _exact(bench, workspace)
    return ops
