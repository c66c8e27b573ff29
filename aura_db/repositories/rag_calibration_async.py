"""The async rag_calibration repository: the source ``tools/async_to_sync.py`` generates
``rag_calibration_sync.py`` from. Its rows, checks and helpers are :mod:`.rag_calibration`'s, shared by both.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import psycopg
from pgvector import Vector
from psycopg.rows import tuple_row

from ..errors import AuraError, InvalidValue
from ..progress import Progress, Tracker, check_progress
from .base_async import idempotent, reads
from .checks import check_int, check_items, check_number, check_text, show
from .rag_calibration import _T, SearchCalibration, _calibration, _lower_bound, logger, tie_recall
from .rag_search import check_dims, embedding_array, index_name
from .rag_search_async import AsyncRagSearch

__all__ = ["AsyncRagCalibration"]


class AsyncRagCalibration(AsyncRagSearch):
    """The calibration half of ``db.rag_chunks``: measure, record and read the recall of each
    workspace's HNSW path."""

    @idempotent
    async def calibrate_search(self, workspace_id: str, dims: int | None = None, *,
                               recall_target: float | None = None, queries: Sequence[object] | None = None,
                               sample_size: int | None = None, progress: Progress | None = None
                         ) -> SearchCalibration:
        """Measure how wide the HNSW path must search this workspace, and record it.

        Finds the exact top 10 of each query, then tries the ef_search values of
        :attr:`SearchTuning.ef_ladder` in order until recall against the exact scan meets
        ``recall_target`` (default :attr:`SearchTuning.recall_target`) at 95% confidence. When
        none does, or only the widest does and the exact path answered the same queries faster,
        the workspace's searches take the exact path (recall 1). The result goes to
        ``rag_search_calibrations``; every later search of the workspace uses it.

        ``queries``: real query embeddings (e.g. recent questions), the best measure; the first
        ef_search that meets the target is kept. Without them, ``sample_size`` (default
        :attr:`SearchTuning.calibration_queries`) queries are made of two kinds, each of which
        must meet the target on its own. Half are chunks of other workspaces of the same size
        (``calibration_foreign_sample``): searching one project for "code like this" from
        another is the normal case, and such queries lie away from the workspace's data, where
        HNSW recall is lowest (on clustered data, in a workspace of 40% of the index: its own
        queries 1.0 at ef_search 40, other workspaces' 0.86 at 40 and 0.96 at 400). The rest (all, when
        there is no other workspace or the workspace scope hides them) come from a fixed sample
        of the workspace's chunks, each moved away from itself as far as its 10th nearest
        neighbour is. Such probes still sit nearer the graph than real queries (on
        embedding-like data they measured 0.975 at ef_search 40 where fresh queries got 0.922),
        so for them one more ladder step is kept as headroom (none at the widest step).
        ``dims`` defaults to the size of the workspace's chunks.

        Costs one exact search and up to one HNSW search per ladder step per query (2-4 s at
        15,000 chunks on 2 cores). Raises :class:`InvalidValue` for bad arguments, a workspace
        without chunks (of that size), or no valid HNSW index of that size (build it first).
        ``progress`` hears the searches done (of at most one exact and one per ladder step per
        query).
        """
        check_text(_T, "workspace_id", workspace_id)
        check_progress(progress, _T)
        if dims is not None:
            check_dims(dims)
        target = self.tuning.recall_target if recall_target is None else check_number(
            "rag_search_calibrations", "recall_target", recall_target)
        if target is None or not 0 < target <= 1:
            raise InvalidValue(f"rag_search_calibrations.recall_target: expected a number in (0, 1], "
                               f"got {show(recall_target)}")
        check_int("rag_search_calibrations", "sample_size", sample_size, minimum=2, maximum=1000)
        given = None if queries is None else [
            embedding_array(q, f"rag_search_calibrations: query {i}")
            for i, q in enumerate(check_items("rag_search_calibrations", "queries", queries))]
        if given is not None and not 2 <= len(given) <= 1000:
            raise InvalidValue(f"rag_search_calibrations: expected 2 to 1000 queries, got {len(given)}")
        wanted = self.tuning.calibration_queries if sample_size is None else sample_size
        async with self._conn() as conn:
            sample = await self._q("calibration_sample").amany(
                conn, tuple_row, workspace_id=workspace_id, dims=dims, n=1 if given else wanted)
            if not sample:
                size = "" if dims is None else f" of {dims} dimensions"
                raise InvalidValue(f"{_T}: workspace {workspace_id!r} has no chunks{size} to calibrate on")
            dims, chunks = int(sample[0][0]), int(sample[0][2])
        if not await self._has_valid_index(dims):
            raise InvalidValue(f"{_T}: no valid HNSW index {index_name(dims)} to calibrate against "
                               f"(build_search_index({dims}) first)")
        if given is not None:
            for i, q in enumerate(given):
                if q.size != dims:
                    raise InvalidValue(f"rag_search_calibrations: query {i} has {q.size} dimensions, "
                                       f"workspace {workspace_id!r} holds {dims}-dimension embeddings")
        if given is not None:
            groups = [given]
        else:
            foreign = await self._foreign_probes(workspace_id, dims, len(sample) // 2)
            own = [await self._probe(workspace_id, row[1], seed)
                   for seed, row in enumerate(sample[:max(1, len(sample) - len(foreign))])]
            groups = [own, foreign] if foreign else [own]
        probes = sum(map(len, groups))
        with Tracker(progress, f"calibrate {workspace_id} ({dims}-d)",
                     probes * (1 + len(self.tuning.ef_ladder)), "searches") as tracker:
            ef, recall, cost = await self._measure(workspace_id, groups, min(10, chunks), target,
                                                   headroom=given is None, tracker=tracker)
        # exact costs ~ chunks x cost per candidate: equal to the HNSW path at chunks x ratio
        below = None if ef is None else min(int(chunks * cost), 2**31 - 1)
        async with self._conn() as conn:
            return await self._q("save_search_calibration").aone(
                conn, _calibration, workspace_id=workspace_id, embedding_dims=dims, ef_search=ef,
                recall=recall, recall_target=target, queries=probes, chunks=chunks, exact_below=below)

    async def _measure(self, workspace_id: str, groups: Sequence[Sequence[Any]], limit: int, target: float,
                       *, headroom: bool, tracker: Tracker) -> tuple[int | None, float, float]:
        """(ef_search, recall, cost): the first ladder step whose recall meets ``target`` in
        every group of queries (with ``headroom``, the step after it; at the widest step, only
        when it is faster than the exact path); (None, recall at the widest step, ...) when no
        step meets it. ``recall`` is the lowest of the groups' mean recalls; ``cost`` the time
        of the HNSW path at that step over that of the exact path on the same queries."""
        tracker.update(0, phase="exact top 10")
        probes = [q for group in groups for q in group]
        started = time.perf_counter()
        truths = [await self.search(workspace_id, q, limit, exact=True)
                  for q in tracker.iterate(probes, every=1)]
        exact_time = time.perf_counter() - started
        recall, own_passed = 0.0, False
        for step, ef in enumerate(self.tuning.ef_ladder, start=1):
            tracker.update(tracker.done, phase=f"ef_search {ef}")
            started = time.perf_counter()
            found = [tie_recall(await self.search(workspace_id, q, limit, exact=False, ef_search=ef), truth)
                     for q, truth in zip(probes, truths, strict=True)]
            hnsw_time = time.perf_counter() - started
            tracker.update(len(probes) * (1 + step))
            parts, at = [], 0
            for group in groups:
                parts.append(found[at:at + len(group)])
                at += len(group)
            means, bounds = [float(np.mean(p)) for p in parts], [_lower_bound(p) for p in parts]
            recall = min(means)
            logger.debug("calibration of %s: ef_search %d, recall %s (lower bounds %s), %.1f ms a "
                         "query (exact %.1f ms)", workspace_id, ef, [round(m, 3) for m in means],
                         [round(b, 3) for b in bounds], 1000 * hnsw_time / len(probes),
                         1000 * exact_time / len(probes))
            met = [b >= target for b in bounds]
            # The first group holds the probes: with headroom they must have met the target one
            # step earlier (at the widest step, there is no step left to keep in reserve).
            last = step == len(self.tuning.ef_ladder)
            if all(met[1:]) and (met[0] if not headroom else own_passed or (last and met[0])):
                # the widest step may be slower than the exact path, which is exact
                cost = hnsw_time / max(exact_time, 1e-9)
                return (None, recall, cost) if last and cost > 1 else (ef, recall, cost)
            own_passed = own_passed or met[0]
        return None, recall, hnsw_time / max(exact_time, 1e-9)

    async def _foreign_probes(self, workspace_id: str, dims: int, n: int) -> list[np.ndarray[Any, Any]]:
        """Up to ``n`` chunks of other workspaces, as queries (none when the workspace scope
        hides the others, or there are none)."""
        if n < 1:
            return []
        async with self._conn() as conn:
            rows = await self._q("calibration_foreign_sample").amany(
                conn, tuple_row, workspace_id=workspace_id, dims=dims, n=n)
        return [row[0].to_numpy().astype(np.float32) for row in rows]

    @idempotent
    async def calibrate_workspaces(self, dims: int, *,
                                   progress: Progress | None = None) -> list[SearchCalibration]:
        """Calibrate every workspace holding more than :attr:`SearchTuning.calibration_floor`
        chunks of ``dims`` dimensions (those whose searches may take that HNSW index), largest
        first; done after every index build when :attr:`SearchTuning.auto_calibrate`.
        ``progress`` hears each workspace's calibration."""
        check_dims(dims)
        check_progress(progress, _T)
        async with self._conn() as conn:
            names = await self._q("workspaces_to_calibrate").amany(
                conn, tuple_row, dims=dims, threshold=self.tuning.calibration_floor)
        return [await self.calibrate_search(name, dims, progress=progress) for (name,) in names]

    @reads
    async def search_calibrations(self, workspace_id: str | None = None) -> list[SearchCalibration]:
        """The recorded calibrations of one workspace (of every workspace when None)."""
        check_text(_T, "workspace_id", workspace_id, required=False)
        async with self._conn() as conn:
            return await self._q("list_search_calibrations").amany(
                conn, _calibration, workspace_id=workspace_id)

    async def _probe(self, workspace_id: str, chunk: Vector, seed: int) -> np.ndarray[Any, Any]:
        """A query near the workspace's data but not in it: one of its chunks moved in a random
        direction until it is only as similar to that chunk as the chunk is to its 10th
        nearest neighbour (measured through the index, where the chunk itself sits). A stored
        chunk as the query would overstate recall: the graph links it to its neighbours."""
        x = chunk.to_numpy().astype(np.float32)
        x /= np.linalg.norm(x)
        scores = [h.score for h in await self.search(workspace_id, x, 11, exact=False, ef_search=100)
                  if h.score < 0.9999]  # not the chunk itself (or its exact copies)
        similarity = min(max(scores[min(9, len(scores) - 1)] if scores else 0.5, 0.05), 0.99)
        direction = np.random.default_rng(seed).standard_normal(x.size).astype(np.float32)
        direction -= direction.dot(x) * x
        direction /= np.linalg.norm(direction)
        return x + math.sqrt(1 / similarity**2 - 1) * direction

    async def _has_valid_index(self, dims: int) -> bool:
        async with self._conn() as conn:
            indexes = await self._q("search_indexes").amany(conn, tuple_row)
        return (index_name(dims), True) in {(row[0], row[1]) for row in indexes}

    async def _auto_calibrate(self, workspace_id: str, dims: int,
                              progress: Progress | None = None) -> SearchCalibration | None:
        """Calibrate after an ingest committed: a failure is logged, never raised (the chunks
        are stored; searches use the configured ef_search until a calibration succeeds)."""
        try:
            if not await self._has_valid_index(dims):
                return None  # a bulk load: the index build at its end calibrates
            return await self.calibrate_search(workspace_id, dims, progress=progress)
        except InvalidValue as exc:
            logger.info("rag_chunks: search calibration of workspace %s skipped: %s", workspace_id, exc)
        except (AuraError, psycopg.Error) as exc:  # e.g. the workspace deleted meanwhile
            logger.warning("rag_chunks: search calibration of workspace %s failed: %s", workspace_id, exc)
        return None
