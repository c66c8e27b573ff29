"""Where the time goes: the report's explanations, each computed from the cases of the run
(a bullet appears only when the run measured what it speaks of)."""

from __future__ import annotations

from collections.abc import Callable

from .harness import Case

__all__ = ["explain"]


def _us(case: Case, label: str) -> float:
    return case.row(label).stats.p50 * 1e6


def _point_in_tx(case: Case) -> str:
    aura = _us(case, "aura-db: tx.stories.get")
    layer = _us(case, "aura-db: Query.optional (the named-query layer alone)")
    tup, per_call = _us(case, "psycopg: tuple rows"), _us(case, "psycopg: conn.execute (a cursor per call)")
    typed = _us(case, "psycopg: class_row(StoryRow)")
    return (f"**Point read, one transaction** ({case.title}), medians: psycopg with one cursor and "
            f"tuples {tup:.1f} µs; a new cursor per call {per_call:.1f} µs; psycopg's class_row "
            f"(frozen dataclass rows, as aura-db returns) {typed:.1f} µs; aura-db's named-query layer "
            f"alone {layer:.1f} µs; the repository call {aura:.1f} µs. So against the absolute floor "
            f"aura-db takes {aura / tup:.2f}x, against psycopg returning the same row objects "
            f"{aura / typed:.2f}x. The gap is the per-call cursor (aura-db opens a RawCursor per "
            f"query), building a 37-field frozen dataclass, and ~3 µs of repository plumbing "
            f"(two context managers, argument binding): a profile (pyinstrument) shows no other "
            f"aura-db frame. Returning frozen dataclasses is a design rule (STYLE.md), not an accident.")


def _point_pooled(case: Case) -> str:
    plain, safe = _us(case, "psycopg: plain pool"), _us(case, "psycopg: aura-db's pool (check + reset)")
    aura = case.reference.stats.p50 * 1e6
    return (f"**Point read, a connection borrowed per call** ({case.title}): the same raw psycopg "
            f"call costs {plain:.0f} µs on a plain pool and {safe:.0f} µs on aura-db's pool: "
            f"{safe - plain:.0f} µs ({safe / plain:.2f}x) is the price of the pool's safety "
            f"features, `check` on checkout (one empty query, a round trip) and `RESET ALL; "
            f"pg_advisory_unlock_all(); UNLISTEN *` on return (another round trip). They are "
            f"deliberate and kept. On the same pool aura-db's repository takes "
            f"{aura / safe:.2f}x the raw call. Inside `db.transaction()` (previous case) "
            f"neither is paid per call.")


def _ingest(case: Case) -> str:
    aura = case.reference.stats.p50
    copy, many = case.row("psycopg: binary COPY").stats.p50, case.row("psycopg: executemany").stats.p50
    return (f"**Ingest** ({case.title}): aura-db's add_many reaches {copy / aura:.2f}x the "
            f"throughput of a raw binary COPY and {many / aura:.2f}x that of executemany. add_many "
            f"is an upsert with bookkeeping, not a plain COPY: binary COPY into a temporary staging "
            f"table, then one INSERT ... SELECT ... ON CONFLICT DO UPDATE (skipping unchanged rows), "
            f"plus the workspace lock and per-document index_metadata. A profile (pyinstrument, "
            f"30,000 chunks, 2026-11-23) put 57% of add_many in that INSERT ... SELECT, 23% in "
            f"Python validation (check_json's NUL scan and json.dumps of each chunk's metadata, "
            f"embedding_array's finiteness checks) and 13% in the staging COPY: the validation is "
            f"the part a change in aura-db could shrink. executemany is no straw man in psycopg 3: "
            f"it pipelines every statement, so "
            f"the per-row server work (a 3 KB vector, the generated tsvector, the GIN index, WAL) "
            f"dominates all contenders and the >= 5x target over it cannot hold on this server.")


def _search(case: Case) -> str:
    aura = case.reference
    raw = case.row("psycopg: plain pool")
    exact = min((r for r in case.rows if r.contender == "exact scan"), key=lambda r: r.stats.p50)
    routed = "the exact path" if any("the exact path" in n for n in case.notes) else "the HNSW path"
    return (f"**Search** ({case.title}): aura-db's default search took {routed} "
            f"(p50 {aura.stats.p50 * 1e3:.2f} ms, recall@10 {aura.extra['recall@10']:.3f}); the same "
            f"HNSW statement sent raw takes {raw.stats.p50 * 1e3:.2f} ms, the fastest exact scan "
            f"{exact.stats.p50 * 1e3:.1f} ms. aura-db adds two round trips per search before the "
            f"query (counting the workspace's chunks, up to its exact threshold of 10,000, to route; "
            f"setting the HNSW parameters) and rolls the transaction back; workspaces at or under "
            f"the threshold are always searched exactly (recall 1.0).")


def _concurrency(case: Case) -> str:
    aura = case.reference.stats.p50
    raw = min(r.stats.p50 for r in case.rows if r.contender == "psycopg")
    return (f"**Concurrency** ({case.title}): aura-db completes {1 / aura:,.0f} operations/s against "
            f"{1 / raw:,.0f} for raw psycopg on a plain pool ({raw / aura:.2f}x). With two cores "
            f"shared by client and server the server is the bottleneck, and each aura-db operation "
            f"costs it three statements instead of one (the pool's check and reset, see the point "
            f"reads), so the gap widens with threads instead of closing.")


_EXPLAINERS: list[tuple[Callable[[Case], bool], Callable[[Case], str]]] = [
    (lambda c: c.workload == "point_read" and "transaction" in c.title, _point_in_tx),
    (lambda c: c.workload == "point_read" and "borrowed" in c.title, _point_pooled),
    (lambda c: c.workload == "ingest", _ingest),
    (lambda c: c.workload == "search", _search),
    (lambda c: c.workload == "concurrency", _concurrency),
]


def explain(cases: list[Case]) -> list[str]:
    """One paragraph per explained case (for ingest and concurrency, only the largest)."""
    out = []
    last = {w: [c for c in cases if c.workload == w][-1:] for w in ("ingest", "concurrency")}
    for case in cases:
        if case.workload in last and case not in last[case.workload]:
            continue
        for applies, text in _EXPLAINERS:
            if applies(case):
                try:
                    out.append(text(case))
                except KeyError:  # a run without that contender (e.g. the RAG fallback)
                    continue
    return out
