"""Vector and hybrid search over ``rag_chunks``, routed by workspace size (the recall
calibration that decides the HNSW width is :mod:`.rag_calibration`).

Routing (see ``sql/queries/rag_chunks.sql``): the rows the filters keep in the workspace are
counted, capped at :attr:`SearchTuning.exact_threshold` + 1, through the (workspace_id, ...)
B-trees. Up to the threshold the search is *exact* (B-tree + sort: recall 1.0, cost linear in
the workspace); above it, it goes through the HNSW index of the embedding's size with iterative
scans, and falls back to the exact path when the index returns fewer than ``limit`` rows.

How wide the HNSW path searches is measured, not assumed: HNSW recall depends on the data
(embedding-like vectors reach recall@10 0.95 at ef_search 40-100, uniformly random 768-d ones
need ~1000). ``calibrate_search`` (:mod:`.rag_calibration`) measures, on queries built from the
workspace's own chunks, the smallest ef_search whose recall against the exact scan meets
:attr:`SearchTuning.recall_target` (or that none does: then the workspace is searched exactly)
and records it in ``rag_search_calibrations``, which every search reads in the round trip that
already counts the workspace. Index builds, the ingest that takes a workspace past the threshold
and the one that finds it much changed since its last calibration calibrate on their own.

Every setting is transaction-local, inside a transaction (or a savepoint of the caller's) that
restores the previous values before it ends: nothing leaks to the caller's transaction or to
the next borrower of the pooled connection. ``plan_cache_mode = force_custom_plan`` is set
before any vector query, so a statement psycopg has prepared is still planned for its actual
workspace and filters.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pgvector import HalfVector, Vector

from ..errors import InvalidValue
from .checks import (
    show,
)
from .rag_route import Path
from .rows import typed_row

__all__ = [
    "SUPPORTED_DIMS",
    "HybridHit",
    "SearchHit",
    "SearchPlan",
    "SearchTuning",
    "check_dims",
    "embedding_array",
    "index_name",
]

SUPPORTED_DIMS = (384, 768, 1536, 3072)
_T = "rag_chunks"


def index_name(dims: int) -> str:
    """The name of the HNSW index serving embeddings of ``dims`` dimensions."""
    return f"ix_rag_chunks_embedding_{dims}"


def check_dims(dims: int) -> None:
    """Raise :class:`InvalidValue` unless ``dims`` is a supported embedding size."""
    if isinstance(dims, bool) or not isinstance(dims, int) or dims not in SUPPORTED_DIMS:
        raise InvalidValue(f"{_T}.embedding_dims: {show(dims)} is not a supported size "
                           f"({', '.join(map(str, SUPPORTED_DIMS))})")


def embedding_array(value: object, what: str) -> np.ndarray[Any, np.dtype[np.float32]]:
    """``value`` (numpy array, sequence of numbers, :class:`pgvector.Vector` or ``HalfVector``)
    as a 1-D float32 array of a supported size, finite, with a norm of at least :data:`MIN_NORM`.

    Raises :class:`InvalidValue` naming ``what`` (e.g. ``rag_chunks.embedding: chunk 3``) and
    the problem. Values beyond float32 range become infinite, and are refused as such.
    """
    if type(value) is np.ndarray and value.dtype == np.float32:
        array = value  # the common case (an embedding model's output): nothing to convert
    else:
        if isinstance(value, Vector | HalfVector):
            value = value.to_numpy()
        if isinstance(value, str | bytes) or not isinstance(value, np.ndarray | Sequence):
            raise InvalidValue(f"{what}: expected a numpy array, a list of numbers or a Vector, "
                               f"got {type(value).__name__} {show(value)}")
        try:
            with np.errstate(over="ignore"):
                array = np.asarray(value, dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise InvalidValue(f"{what}: not a vector of numbers ({exc})") from None
    # one dot product says all is well in the common case: a NaN or an infinity makes it NaN
    # or infinite, too small a norm shows (the checks below name the problem otherwise)
    if (array.ndim == 1 and array.size in SUPPORTED_DIMS
            and MIN_NORM <= math.sqrt(np.dot(array, array)) < math.inf):
        return array
    if array.ndim != 1:
        raise InvalidValue(f"{what}: expected one dimension, got shape {array.shape}")
    if array.size not in SUPPORTED_DIMS:
        raise InvalidValue(f"{what}: {array.size} dimensions is not a supported size "
                           f"({', '.join(map(str, SUPPORTED_DIMS))})")
    finite = np.isfinite(array)
    if not finite.all():
        bad = int(np.flatnonzero(~finite)[0])
        raise InvalidValue(f"{what}: values must be finite, got {array[bad]} at position {bad}")
    norm = float(np.sqrt(np.dot(array, array)))  # float32 squares: denormals vanish, as in pgvector
    if norm < MIN_NORM:
        if not array.any():
            raise InvalidValue(f"{what}: an all-zero vector has no cosine distance")
        raise InvalidValue(f"{what}: a vector whose norm is below {MIN_NORM:g} (got {norm:.3g}) "
                           f"has no usable cosine distance")
    return array


MIN_NORM = 1e-6
"""The smallest embedding norm accepted: below it (all zeros, or denormal values whose squares
vanish in float32) cosine distance is undefined or noise, and PostgreSQL would score the vector
as equally close to everything."""


@dataclass(frozen=True, slots=True)
class SearchTuning:
    """How searches route, how wide the HNSW path searches, and how that width is calibrated.

    ``exact_threshold``: workspaces (after filters) with at most this many chunks are searched
    exactly unless their calibration gave them a lower threshold of their own (from
    ``exact_below``, the candidates at which the exact scan costs what the HNSW path at its
    ef_search does, e.g. ~1,600 of 10,000 768-d chunks; sqrt(exact_below * chunks) under a filter).
    Measured on 2 cores with 768-d chunks: exact ~2.3 µs per chunk (16k chunks: 37 ms), HNSW
    with iterative scans 2-15 ms whatever the size, so 10,000 (~20 ms) is the most an
    uncalibrated workspace pays for recall 1.0.
    ``calibrate_from``: workspaces with more chunks than this (or than ``exact_threshold``,
    when lower) are calibrated, so that those between it and ``exact_threshold`` can take the
    HNSW path where it is faster.
    ``ef_search``: HNSW candidate list of a workspace that has no calibration (raised to
    ``2 * limit`` for large limits). 100 gives recall@10 >= 0.95 on embedding-like (low
    intrinsic dimension) data; uniformly random 768-d vectors are the worst case (recall@10
    0.33 at 100, ~0.95 at 1000), which calibration detects.
    ``max_scan_tuples``: how far an iterative scan may go before giving up (then the search
    falls back to the exact path).
    ``recall_target``: the top-10 recall a calibration must show, as the lower bound of a
    one-sided 95% confidence interval over its queries (so a calibration that barely passes
    on its sample does not ship an ef_search that misses the target on the next queries).
    ``calibration_queries``: queries per calibration (each costs one exact search and one
    HNSW search per ef_search tried). ``ef_ladder``: the ef_search values tried, in order.
    ``auto_calibrate``: calibrate after index builds, when an ingest takes a workspace past
    :attr:`calibration_floor`, and when one finds more chunks changed since the last calibration than
    half of those it measured (seconds of work at 10-20k chunks, ~15 s at 100k; off: call
    calibrate_search yourself).
    ``recount_after``: seconds for which a workspace a routed search counted, without a
    filter, at or below its exact threshold (only the exact path can serve it, whatever the
    filter) is searched with the exact statement alone, nothing counted; then the next search
    is routed (and counts) again. An ingest through the same repository forgets the count at
    once; one by another process or repository is seen within this time (the answer is exact
    meanwhile, only dearer if the workspace grew far past its threshold); a new
    :class:`SearchTuning` forgets every count. 0: route every search.
    """

    exact_threshold: int = 10_000
    calibrate_from: int = 1_000
    ef_search: int = 100
    max_scan_tuples: int = 20_000
    recall_target: float = 0.95
    calibration_queries: int = 40
    ef_ladder: tuple[int, ...] = (40, 100, 200, 400, 1000)
    auto_calibrate: bool = True
    recount_after: float = 5.0

    @property
    def calibration_floor(self) -> int:
        """Workspaces with more chunks than this are calibrated: ``calibrate_from``, or
        ``exact_threshold`` when that is lower."""
        return min(self.calibrate_from, self.exact_threshold)

    def ef_for(self, limit: int, base: int | None = None) -> int:
        return min(1000, max(self.ef_search if base is None else base, 2 * limit))


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One chunk found by :meth:`RagSearch.search`; ``score`` is cosine similarity (1 - distance)."""

    id: uuid.UUID
    content_id: str
    chunk_index: int
    content: str
    source_path: str | None
    content_type: str
    title: str | None
    score: float


@dataclass(frozen=True, slots=True)
class HybridHit:
    """One chunk found by :meth:`RagSearch.hybrid_search`: ``score`` is the fused RRF score,
    ``vector_rank`` / ``text_rank`` its 1-based rank in each leg (None when absent from it),
    ``similarity`` its cosine similarity when the vector leg found it."""

    id: uuid.UUID
    content_id: str
    chunk_index: int
    content: str
    source_path: str | None
    content_type: str
    title: str | None
    score: float
    vector_rank: int | None
    text_rank: int | None
    similarity: float | None


@dataclass(frozen=True, slots=True)
class SearchPlan:
    """How a search would run: the route, the query, the HNSW ef_search (None on the exact
    path), whether the workspace's calibration decided them, and the plan's node types and
    indexes."""

    path: Path
    query: str
    candidates: int
    ef_search: int | None
    calibrated: bool
    node_types: tuple[str, ...]
    indexes: tuple[str, ...]
    plan: Any = field(repr=False)  # EXPLAIN (FORMAT JSON) output (long: the query vector is in it)
    reason: str  # why this path: the candidates, the calibration, a missing index, forced

    def __str__(self) -> str:
        """One line: ``hnsw via ix_rag_chunks_embedding_768, ef_search 40 (calibrated),
        query search_hnsw_768, plan Limit > Sort > Index Scan; <why this path>``."""
        where = f" via {', '.join(self.indexes)}" if self.indexes else " (no index: a sequential scan)"
        width = f", ef_search {self.ef_search}" if self.ef_search is not None else ""
        how = "calibrated" if self.calibrated else "not calibrated: configured defaults"
        nodes = " > ".join(dict.fromkeys(self.node_types))
        return f"{self.path}{where}{width} ({how}), query {self.query}, plan {nodes}; {self.reason}"


_hit = typed_row(SearchHit)
_hybrid_hit = typed_row(HybridHit)


@dataclass(frozen=True, slots=True)
class _Request:
    workspace_id: str
    embedding: Vector
    dims: int
    limit: int
    filters: dict[str, Any]




_FILTERS = ("content_types", "path_like")
_SETTINGS = ("plan_cache_mode", "ef_search", "iterative_scan", "max_scan_tuples", "enable_seqscan",
             "enable_bitmapscan", "enable_sort")


def _only(args: dict[str, Any], names: Sequence[str]) -> dict[str, Any]:
    return {k: v for k, v in args.items() if k in names}


def _walk(plan: dict[str, Any], nodes: list[str], indexes: list[str]) -> None:
    nodes.append(plan["Node Type"])
    if "Index Name" in plan:
        indexes.append(plan["Index Name"])
    for child in plan.get("Plans", ()):
        _walk(child, nodes, indexes)

