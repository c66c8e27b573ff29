"""Recall calibration of the HNSW path, per workspace: how wide ``ef_search`` must be for a
workspace's searches to meet :attr:`SearchTuning.recall_target`, measured against the exact scan
and recorded in ``rag_search_calibrations`` (which every search reads in the round trip that
already counts the workspace). :class:`RagCalibration` adds it to the search of
:mod:`.rag_search`; ``db.rag_chunks`` is both, plus ingest (:mod:`.rag_chunks`)."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from psycopg.rows import class_row

from .rag_route import Path

__all__ = ["SearchCalibration", "tie_recall"]

_T = "rag_chunks"
logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SearchCalibration:
    """The measured recall of one workspace's HNSW path (``rag_search_calibrations``).

    ``ef_search`` is what its searches use; None when they take the exact path: no ef_search
    of the ladder met ``recall_target``, or only the widest did and the exact path answered the
    calibration's queries faster. ``recall`` is the HNSW path's mean top-10 recall at
    ``ef_search`` (at the widest one tried when None), the lower of the workspace's own and
    other workspaces' queries. ``changed_chunks``: chunks written or deleted since; past
    ``chunks / 2`` the next ingest measures again. ``exact_below``: the candidates at which the
    exact scan costs what the HNSW path at ``ef_search`` does, from the latencies measured
    (exact grows with the candidates, HNSW barely). The workspace's own threshold follows from
    it: a filter keeping n of its N chunks makes the exact scan cost n/N of the unfiltered one
    and the HNSW path N/n times more, so its searches scan exactly up to sqrt(exact_below * N)
    candidates (exact_below unfiltered), and never above
    :attr:`SearchTuning.exact_threshold`; None without an ef_search."""

    workspace_id: str
    embedding_dims: int
    ef_search: int | None
    recall: float
    recall_target: float
    queries: int
    chunks: int
    changed_chunks: int
    exact_below: int | None
    calibrated_at: datetime

    @property
    def path(self) -> Path:
        return "exact" if self.ef_search is None else "hnsw"


_calibration = class_row(SearchCalibration)




def _lower_bound(recalls: Sequence[float]) -> float:
    """The lower end of a one-sided 95% confidence interval of the mean recall."""
    if len(recalls) < 2:
        return float(np.mean(recalls))
    return float(np.mean(recalls) - 1.645 * np.std(recalls, ddof=1) / math.sqrt(len(recalls)))


def tie_recall(found: Sequence[Any], truth: Sequence[Any]) -> float:
    """The share of the exact top ``len(truth)`` that ``found`` holds, a hit as near as the
    exact list's farthest counting as found (ties at the cut: chunks with equal embeddings, as
    copies of one license header or docstring, are as good an answer as one another, and which
    of them either path returns is arbitrary). Both lists are hits with ``id`` and ``score``."""
    if not truth:
        return 1.0
    ids, cut = {h.id for h in truth}, min(h.score for h in truth) - 1e-9
    return min(sum(1 for h in found if h.id in ids or h.score >= cut), len(truth)) / len(truth)
