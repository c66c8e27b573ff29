"""Timing: per-call samples, interleaved rounds, order statistics, and the result records.

Every number in a report is a time per unit (call, page, row, operation) in seconds; ratios
are ratios of medians measured in the same run, with the contenders interleaved round by round
(the order rotates every round) so that a noisy neighbour hurts them all alike.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Case", "Row", "Stats", "each", "interleave", "per_call", "split", "timed"]

Batch = Callable[[Sequence[Any]], list[float]]  # items -> seconds per unit, one or more samples


@dataclass(frozen=True)
class Stats:
    """Order statistics of samples (seconds per unit)."""

    n: int
    p50: float
    p95: float
    q1: float
    q3: float
    min: float
    max: float

    @classmethod
    def of(cls, samples: Sequence[float]) -> Stats:
        if not samples:
            raise ValueError("no samples to summarize")
        ordered = sorted(samples)
        if len(ordered) == 1:
            only = ordered[0]
            return cls(1, only, only, only, only, only, only)
        q = statistics.quantiles(ordered, n=100, method="inclusive")
        return cls(len(ordered), statistics.median(ordered), q[94], q[24], q[74], ordered[0], ordered[-1])

    @property
    def iqr(self) -> float:
        return self.q3 - self.q1


@dataclass
class Row:
    """One contender's result in one case."""

    contender: str  # "aura-db", "psycopg", "sqlalchemy-orm", "aiosql", "exact scan"
    variant: str  # how it was called, e.g. "db.stories.get" or "session.get"
    stats: Stats
    extra: dict[str, float] = field(default_factory=dict)  # e.g. recall@10

    @property
    def label(self) -> str:
        return f"{self.contender}: {self.variant}" if self.variant else self.contender


@dataclass
class Case:
    """One workload at one size: a row per contender, the first aura-db row is the reference."""

    workload: str  # key, e.g. "point_read"
    title: str
    unit: str  # what one sample measures the time of: "call", "page", "row", "op"
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def row(self, label: str) -> Row:
        for row in self.rows:
            if row.label == label or row.contender == label:
                return row
        raise KeyError(f"no row {label!r} in case {self.title!r} (have {[r.label for r in self.rows]})")

    @property
    def reference(self) -> Row:
        return self.row("aura-db")

    def ratio(self, label: str, other: str) -> float:
        """``label``'s median time divided by ``other``'s (below 1: ``label`` is faster)."""
        return self.row(label).stats.p50 / self.row(other).stats.p50


def per_call(items: Sequence[Any], call: Callable[[Any], object]) -> list[float]:
    """Call ``call`` on each item; one sample (seconds) per call."""
    clock = time.perf_counter
    out: list[float] = []
    append = out.append
    for item in items:
        start = clock()
        call(item)
        append(clock() - start)
    return out


def each(call: Callable[[Any], object]) -> Batch:
    """A batch that calls ``call`` on every item, one sample per call."""
    return lambda items: per_call(items, call)


def timed(units: int, work: Callable[[], object]) -> list[float]:
    """Run ``work`` once; one sample: its time divided by the ``units`` it handled."""
    start = time.perf_counter()
    work()
    return [(time.perf_counter() - start) / units]


def interleave(contenders: Mapping[str, Batch], batches: Sequence[Sequence[Any]],
               warmup: Sequence[Any], settle: Sequence[Any] = (),
               apart: Collection[str] = ()) -> dict[str, list[float]]:
    """Run every contender on ``warmup`` (not recorded), then on each batch in turn, the order
    rotated every two rounds and reversed every other one; return every contender's samples.
    ``settle``: items each contender runs, unrecorded, right before each of its batches: the
    contender after a heavy one would pay for what that one left behind in its first calls
    (CPU caches, the OS page cache its scans churned). Give items that are not in the batches
    (the warm-up's), so that no contender warms the pages of the batch's own queries.
    ``apart``: contenders interleaved among themselves only, after all the others (ones whose
    every call scans a table: they evict the pages of the indexes the others share, and
    whoever ran after them paid for reading those back)."""
    rest = {k: v for k, v in contenders.items() if k not in apart}
    if len(rest) < len(contenders):
        away = {k: v for k, v in contenders.items() if k in apart}
        return (interleave(rest, batches, warmup, settle) if rest else {}) | interleave(
            away, batches, warmup, settle)
    names = list(contenders)
    for name in names:
        contenders[name](warmup)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for r, batch in enumerate(batches):
        k = (r // 2) % len(names)
        order = names[k:] + names[:k]
        # every other round the previous round's order backwards: each contender comes before
        # each other one as often as after it (a plain rotation puts the one listed first
        # before the second in all rounds but one, and whatever the first leaves warm or cold
        # in the caches they share, the second gets)
        for name in reversed(order) if r % 2 else order:
            gc.collect()  # nobody pays for the previous contender's garbage
            if settle:
                contenders[name](settle)
            samples[name].extend(contenders[name](batch))
    return samples


def split(items: Sequence[Any], parts: int) -> list[Sequence[Any]]:
    """``items`` cut into ``parts`` consecutive batches of (nearly) equal size."""
    parts = max(1, min(parts, len(items)))
    step, rest = divmod(len(items), parts)
    out, start = [], 0
    for i in range(parts):
        end = start + step + (1 if i < rest else 0)
        out.append(items[start:end])
        start = end
    return out
