"""The nine workloads, in report order: name -> function(bench) -> cases."""

from __future__ import annotations

from collections.abc import Callable

from ..env import Bench
from ..harness import Case
from .aio import async_api
from .isolation import isolation
from .reads import aggregate, list_pages, point_read
from .vectors import ingest, search
from .writes import concurrency, insert

__all__ = ["TITLES", "WORKLOADS"]

WORKLOADS: dict[str, Callable[[Bench], list[Case]]] = {
    "point_read": point_read,
    "insert": insert,
    "list": list_pages,
    "aggregate": aggregate,
    "ingest": ingest,
    "search": search,
    "concurrency": concurrency,
    "isolation": isolation,
    "async": async_api,
}

TITLES = {
    "point_read": "1. Point read by primary key",
    "point_read_machinery": "1b. Retry and deadline machinery on the pooled point read",
    "insert": "2. Single-row insert + commit",
    "list": "3. List with a filter, keyset pagination (50 a page)",
    "aggregate": "4. An aggregate with its children (story + steps)",
    "ingest": "5. Bulk ingest of 768-d RAG chunks",
    "search": "6. Top-10 vector search",
    "search_curve": "6b. Recall vs latency over hnsw.ef_search",
    "search_growth": "6c. Growth with the chunk count, and a projection to 1M and 10M chunks",
    "concurrency": "7. Concurrency: threads sharing the pool, mixed read/write",
    "isolation": "8. Row-level security per workspace: the cost of the policies",
    "async": "9. The async API: AsyncDatabase, raw psycopg async and asyncpg",
}
