"""The route of one vector search: exact or HNSW, with which ef_search, and why.

Decided from what ``set_search_settings`` returns in the search's first round trip: the rows
the filters keep (counted up to the threshold + 1), the workspace's calibration and whether the
size's HNSW index is valid. :class:`RagSearch` runs the route; ``explain_search`` reports it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["EXACT_FALLBACK", "Path", "Route", "decide"]

Path = Literal["exact", "hnsw"]


@dataclass(frozen=True, slots=True)
class Route:
    path: Path
    ef_search: int | None  # the HNSW path's
    candidates: int
    calibrated: bool
    reason: str  # one clause for explain_search
    # the candidates are at most the workspace's threshold whatever the limit: when they were
    # counted without a filter, every search of the workspace takes the exact path
    settled: bool = False


EXACT_FALLBACK = Route("exact", None, 0, False, "the HNSW path returned fewer rows than asked")


def decide(before: dict[str, Any], index: str, threshold: int, ef_for: Callable[[int | None], int],
           exact: bool | None, ef_search: int | None, *, limit: int = 1) -> Route:
    """The route: ``exact``/``ef_search`` as the caller forced them, else exact while the HNSW
    ``index`` is missing or invalid, for at most ``threshold`` candidates (lowered to the
    workspace's own threshold, from its calibrated ``exact_below``, when it has one; never
    below ``limit``), or when the
    calibration found no ef_search meeting the recall target; HNSW otherwise
    (``ef_for(calibrated ef)``)."""
    count, calibrated = int(before["candidates"]), bool(before["calibrated"])
    own = before.get("calibrated_threshold")
    measured = own is not None and own < threshold
    base = min(threshold, own) if own is not None else threshold
    settled = exact is None and ef_search is None and count <= base
    threshold = max(base, limit)
    which = " (the threshold its calibration measured)" if measured else ""
    if exact is not None:
        reason = f"{'exact' if exact else 'hnsw'} asked for"
        if not exact and not before["index_ready"]:
            reason += f", but {index} is missing or being built: every candidate is compared"
    elif not before["index_ready"]:
        exact, reason = True, f"{index} is missing or being built (a bulk load drops it)"
    elif count <= threshold:
        exact, reason = True, f"{count} candidates, at most {threshold}{which}"
    elif calibrated and before["calibrated_ef"] is None:
        exact, reason = True, "the calibration found no ef_search meeting the recall target"
    else:
        exact, reason = False, f"more than {threshold} candidates{which}"
    if exact:
        return Route("exact", None, count, calibrated, reason, settled)
    ef = ef_search if ef_search is not None else ef_for(before["calibrated_ef"])
    return Route("hnsw", ef, count, calibrated, reason)
