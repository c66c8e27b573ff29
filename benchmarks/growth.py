"""The growth case of the search workload (``search_growth``): its table, and the projection to
1M and 10M chunks made from it.

The projection is arithmetic on the measured sizes, nothing more: storage (the table and the
HNSW index) per chunk at the largest size, multiplied out (it is linear in the chunk count);
the HNSW build time and the bare HNSW statement's p50 as power laws ``a * N ** e`` fitted
(least squares on the logarithms) through every measured size, the build's exponent at
least 1 and the statement's at least 0 (noise between close small sizes can fit a build
that gets cheaper per chunk, or a search that gets faster, neither of which holds); COPY at
the largest size's rate, one stream. The build figure holds only while the graph fits in
``maintenance_work_mem`` (pgvector then builds in memory; the graph takes about the index's
size, docs/scaling.md); past that pgvector says so in a NOTICE and builds on disk, far slower:
not measured here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .harness import Case, Row

__all__ = ["PROJECTED", "Projection", "fit", "lines", "project"]

PROJECTED = (1_000_000, 10_000_000)


@dataclass(frozen=True)
class Projection:
    chunks: int
    table_gb: float
    hnsw_gb: float  # also the maintenance_work_mem an in-memory build needs
    build_s: float
    copy_s: float
    statement_ms: float  # the bare HNSW statement's p50


def fit(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float]:
    """``(a, e)`` of ``y = a * x ** e`` through the points (least squares on the logs); a
    single point gives ``e = 1``."""
    if len(xs) < 2:
        return ys[0] / xs[0], 1.0
    e, log_a = np.polyfit(np.log(xs), np.log(ys), 1)
    return float(math.exp(log_a)), float(e)


def _sizes(case: Case) -> tuple[list[Row], dict[float, Row]]:
    aura = sorted((r for r in case.rows if r.contender == "aura-db"), key=lambda r: r.extra["chunks"])
    raw = {r.extra["chunks"]: r for r in case.rows if r.contender != "aura-db"}
    return aura, raw


def project(case: Case, sizes: Sequence[int] = PROJECTED) -> tuple[list[Projection], float, float]:
    """The projection to ``sizes``, with the build-time and statement-latency exponents."""
    aura, raw = _sizes(case)
    built = [r for r in aura if "build_s" in r.extra]
    top = built[-1]
    n = top.extra["chunks"]
    build = _at_least(fit([r.extra["chunks"] for r in built], [r.extra["build_s"] for r in built]),
                      1.0, n, top.extra["build_s"])
    statement = _at_least(fit(list(raw), [r.stats.p50 for r in raw.values()]), 0.0, n, raw[n].stats.p50)
    out = [Projection(size, size * top.extra["table_mb"] / n / 1024, size * top.extra["hnsw_mb"] / n / 1024,
                      build[0] * size ** build[1], size / top.extra["load_rows_per_s"],
                      1e3 * statement[0] * size ** statement[1]) for size in sizes]
    return out, build[1], statement[1]


def _at_least(law: tuple[float, float], floor: float, x: float, y: float) -> tuple[float, float]:
    """``law``, or when its exponent is below ``floor`` the law of that exponent through the
    point ``(x, y)``."""
    if law[1] >= floor:
        return law
    return y / x ** floor, floor


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def lines(case: Case) -> list[str]:
    """The growth table and the projection, as markdown lines."""
    aura, raw = _sizes(case)
    out = ["| chunks | COPY rows/s | HNSW build | table MB | HNSW MB | aura-db p50 ms (its path) "
           "| aura-db recall@10 | HNSW statement p50 ms | recall@10 | aura-db ÷ statement |",
           "|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|"]
    for r in aura:
        n = r.extra["chunks"]
        bare = raw[n]
        load = f"{r.extra['load_rows_per_s']:,.0f}" if "load_rows_per_s" in r.extra else "n/a"
        build = f"{r.extra['build_s']:.1f} s" if "build_s" in r.extra else "n/a"
        path = r.variant.split(", ", 1)[-1]
        out.append(f"| {n:,.0f} | {load} | {build} | {r.extra['table_mb']:,.0f} | {r.extra['hnsw_mb']:,.0f} "
                   f"| {1e3 * r.stats.p50:.2f} ({path}) | {r.extra['recall@10']:.3f} "
                   f"| {1e3 * bare.stats.p50:.2f} | {bare.extra['recall@10']:.3f} "
                   f"| {r.stats.p50 / bare.stats.p50:.2f} |")
    if not any("build_s" in r.extra for r in aura):
        return out
    projected, build_e, statement_e = project(case)
    out += ["", f"Projection from these sizes (storage per chunk at the largest, multiplied out; build "
            f"time fitted as N^{build_e:.2f} (at least linear); the HNSW statement's p50 as "
            f"N^{statement_e:.2f} (at least flat), an upper bound for a graph search that grows about "
            "logarithmically; COPY at the largest "
            "size's rate, one stream). The build holds while the graph fits in "
            "`maintenance_work_mem` (about the index size): past that pgvector builds on disk, far "
            "slower, which was not measured.", "",
            "| chunks | table | HNSW index = `maintenance_work_mem` for an in-memory build | HNSW build "
            "| COPY, one stream | HNSW statement p50 |", "|---:|---:|---:|---:|---:|---:|"]
    for p in projected:
        out.append(f"| {p.chunks:,} | {p.table_gb:,.1f} GB | {p.hnsw_gb:,.1f} GB | ~{_duration(p.build_s)} "
                   f"| ~{_duration(p.copy_s)} | ~{p.statement_ms:.1f} ms |")
    return out
