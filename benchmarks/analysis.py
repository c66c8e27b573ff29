"""Where the time goes: the report's explanations, each computed from the cases of the run
(a bullet appears only when the run measured what it speaks of)."""

from __future__ import annotations

from collections.abc import Callable

from .harness import Case
from .workloads.reads import MACHINERY_OFF

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
    return (f"**Point read, a connection borrowed per call** ({case.title}): the raw psycopg call "
            f"costs {plain:.0f} µs on a plain pool and {safe:.0f} µs on a pool given psycopg_pool's "
            f"own `check_connection` on checkout and a `reset` callback (the usual way to get those "
            f"guarantees; psycopg_pool runs every return through a worker thread when a reset "
            f"callback is set). aura-db keeps the guarantees without paying per call: a repository "
            f"call runs in autocommit (no BEGIN/COMMIT), a connection is checked with a round trip "
            f"only when it sat idle (otherwise libpq reads what the server sent, which shows a "
            f"closed connection, without releasing the GIL), RESET runs only after raw access, and "
            f"returns are inline. It takes {aura:.0f} µs: "
            f"{aura / plain:.2f}x the plain pool, {aura / safe:.2f}x the checked one.")


def _machinery(case: Case) -> str:
    on, off = case.reference.stats, case.row(MACHINERY_OFF).stats
    return (f"**Retry and deadline machinery** ({case.title}): the pooled point read takes "
            f"{on.p50 * 1e6:.1f} µs with aura-db's defaults and {off.p50 * 1e6:.1f} µs with the retry "
            f"policy and the deadline taken out: {on.p50 / off.p50:.3f}x at p50, {on.p95 / off.p95:.3f}x "
            f"at p95. The machinery sends nothing to the server; it is client CPU per call, timed "
            f"alone on this machine: the decorator's RetryPolicy.run (one more frame and a try, "
            f"~0.1 µs) and four waits through AuraConnection.wait instead of psycopg's (the statement, "
            f"the borrow's and the return's autocommit switch, the commit on leaving the block): "
            f"~0.15 µs each for the override frame, and ~0.5-1 µs more on the statement's wait, which "
            f"psycopg runs with a timeout. ~1-1.5 µs in all, about 1% of the call: near the "
            f"run-to-run noise of two identical pools (~0.5%).")


def _ingest(case: Case) -> str:
    aura = case.reference.stats.p50
    copy, many = case.row("psycopg: binary COPY").stats.p50, case.row("psycopg: executemany").stats.p50
    return (f"**Ingest** ({case.title}): aura-db's add_many reaches {copy / aura:.2f}x the "
            f"throughput of a raw binary COPY and {many / aura:.2f}x that of executemany. The table "
            f"is emptied before each batch, so this is a workspace's first load, which add_many "
            f"COPYs straight into rag_chunks (later loads go through a staging table and one "
            f"INSERT ... ON CONFLICT). Every chunk is checked in Python (finite, non-zero vectors "
            f"of one supported size, text without NUL bytes, JSON metadata) as the COPY sends it, "
            f"so the checks run while the server stores the chunks before it; the rest of the gap "
            f"to a raw COPY is what add_many adds around the COPY: building the Chunk objects, the "
            f"workspace row lock, an index_metadata row per document (one INSERT of all of them), "
            f"all in one transaction, and this machine's noise. executemany is no straw "
            f"man in psycopg 3: it pipelines every statement, so the per-row server work (a 3 KB "
            f"vector, the generated tsvector, the GIN index, WAL) dominates all contenders and the "
            f">= 5x target over it cannot hold on this server.")


def _search(case: Case) -> str:
    aura = case.reference
    raw = case.row("psycopg: plain pool")
    exact = min((r for r in case.rows if r.contender == "exact scan"), key=lambda r: r.stats.p50)
    routed = "the exact path" if any("the exact path" in n for n in case.notes) else "the HNSW path"
    return (f"**Search** ({case.title}): aura-db's default search took {routed} "
            f"(p50 {aura.stats.p50 * 1e3:.2f} ms, recall@10 {aura.extra['recall@10']:.3f}); the same "
            f"HNSW statement sent raw takes {raw.stats.p50 * 1e3:.2f} ms, the fastest exact scan "
            f"{exact.stats.p50 * 1e3:.1f} ms. Once a search has taken its route, aura-db sends the "
            f"routing statement (the rows its filters keep, up to the exact threshold of 10,000, "
            f"or the calibration's proof that there are more), that route's settings and the query "
            f"in one pipeline: one round trip, one implicit transaction, which ends the settings; "
            f"the first search reads the route first (two); workspaces (or filters) at or under "
            f"the threshold are searched exactly (recall 1.0).")


def _concurrency(case: Case) -> str:
    aura = case.reference.stats.p50
    raw = min(r.stats.p50 for r in case.rows if r.contender == "psycopg")
    return (f"**Concurrency** ({case.title}): aura-db completes {1 / aura:,.0f} operations/s against "
            f"{1 / raw:,.0f} for raw psycopg on a plain pool (aura-db takes {aura / raw:.2f}x its time "
            f"per operation; the mix is 80% point reads, 20% inserts). Each aura-db read is one "
            f"statement on the borrowed connection, connections go back to the pool inline, and "
            f"the checkout check keeps the GIL (a select() on the socket released and re-acquired "
            f"it on every borrow, which made aura-db 1.81x raw psycopg at 8 threads). What remains "
            f"at 8 threads is Python time per operation (a named query through a RawCursor and a "
            f"frozen dataclass row) while 8 threads share one GIL and two cores with the server.")


_EXPLAINERS: list[tuple[Callable[[Case], bool], Callable[[Case], str]]] = [
    (lambda c: c.workload == "point_read" and "transaction" in c.title, _point_in_tx),
    (lambda c: c.workload == "point_read" and "borrowed" in c.title, _point_pooled),
    (lambda c: c.workload == "point_read_machinery", _machinery),
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
