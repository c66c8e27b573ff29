"""How much each workload does at each ``--size``."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SIZES", "Size"]


@dataclass(frozen=True)
class Size:
    name: str
    rounds: int  # interleaved rounds per case (batches the calls are cut into)
    stories: tuple[int, ...]  # table sizes the listing runs at; the last one also for reads
    point_calls: int
    # the machinery's cost is ~1% of a call: more calls in finer rounds than the other cases
    machinery_calls: int
    machinery_rounds: int
    insert_calls: int
    pages: int  # pages walked per listing batch (from the first page on)
    agg_steps: tuple[int, ...]  # children per aggregate
    agg_calls: int
    ingest: tuple[tuple[int, int], ...]  # (rows per batch, rounds)
    search_rows: int
    search_growth: tuple[int, ...]  # smaller sizes the search is measured at too, each loaded alone
    search_queries: int
    ef_search: tuple[int, ...]
    threads: tuple[int, ...]
    ops_per_thread: int


SIZES: dict[str, Size] = {
    s.name: s
    for s in (
        Size("tiny", rounds=3, stories=(300, 600), point_calls=90, machinery_calls=90,
             machinery_rounds=6, insert_calls=60, pages=3, agg_steps=(2, 5), agg_calls=12,
             ingest=((300, 2),), search_rows=600, search_growth=(300,), search_queries=6,
             ef_search=(10, 40), threads=(1, 2),
             ops_per_thread=15),
        Size("small", rounds=10, stories=(2_000, 10_000), point_calls=2_000, machinery_calls=4_000,
             machinery_rounds=100, insert_calls=2_000, pages=20, agg_steps=(5, 20, 50), agg_calls=200,
             ingest=((2_000, 3), (10_000, 2)), search_rows=10_000, search_growth=(2_000,),
             search_queries=100,
             ef_search=(10, 20, 40, 80, 160), threads=(1, 2, 4, 8), ops_per_thread=250),
        Size("medium", rounds=20, stories=(10_000, 100_000), point_calls=10_000,
             machinery_calls=20_000, machinery_rounds=500, insert_calls=10_000, pages=40,
             agg_steps=(5, 20, 50), agg_calls=400, ingest=((10_000, 3), (30_000, 2)),
             search_rows=30_000, search_growth=(10_000,),
             search_queries=200, ef_search=(10, 20, 40, 80, 160, 320),
             threads=(1, 2, 4, 8), ops_per_thread=500),
        Size("full", rounds=20, stories=(10_000, 100_000), point_calls=10_000, machinery_calls=20_000,
             machinery_rounds=500, insert_calls=10_000, pages=40, agg_steps=(5, 20, 50), agg_calls=400,
             ingest=((10_000, 3), (100_000, 1)), search_rows=100_000, search_growth=(10_000, 30_000),
             search_queries=200,
             ef_search=(10, 20, 40, 80, 160, 320), threads=(1, 2, 4, 8), ops_per_thread=500),
    )
}
