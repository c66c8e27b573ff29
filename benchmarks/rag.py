"""aura-db's side of workloads 5 and 6: ``db.rag_chunks`` when the tree has it, else a fallback.

The one place the RAG workloads touch aura-db's RAG API: :func:`aura_rag` returns an adapter
with ``add_many(chunks)`` and ``search(vector, k, ef_search)``. When ``Database`` has no
``rag_chunks`` repository the fallback does what such a repository does (binary COPY, the
HNSW query) through aura-db's pool, and the report says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple, Protocol

from psycopg import sql

from aura_db import Database

from . import raw_sql
from .data import Chunk

__all__ = ["AuraRag", "Route", "aura_rag", "default_ef_search"]


class Route(NamedTuple):
    """The path aura-db's default search takes and the hnsw.ef_search it sets on it (its
    calibrated one, else its default)."""
    path: str
    ef_search: int

    def __str__(self) -> str:
        return self.path if self.path == "exact" else f"{self.path} (ef_search {self.ef_search})"


class AuraRag(Protocol):
    label: str  # how the report names the calls measured
    fallback: bool

    def add_many(self, chunks: Sequence[Chunk]) -> None: ...

    def search(self, workspace_id: str, vector: Any, k: int, ef_search: int | None,
               exact: bool | None = None) -> list[tuple[str, int]]:
        """The (content_id, chunk_index) of the ``k`` nearest chunks, nearest first; ``exact``
        forces the exact (True) or the HNSW (False) path, None lets aura-db route."""
        ...

    def route(self, workspace_id: str, vector: Any, k: int) -> Route:
        """The path a default search takes ("exact" or "hnsw") and the ef_search it runs at."""
        ...

    def calibrate(self, workspace_id: str, dims: int) -> str:
        """Measure the workspace's search route (when this tree can); a note for the report."""
        ...


def default_ef_search() -> int:
    """The ef_search aura-db's search uses by default (pgvector's own default is 40)."""
    try:
        from aura_db.repositories import SearchTuning
    except ImportError:
        return 100
    return int(SearchTuning().ef_search)


def aura_rag(db: Database) -> AuraRag:
    """The adapter for this tree: the repository when it exists, else the fallback."""
    if hasattr(db, "rag_chunks"):
        return _Repository(db)
    return _Fallback(db)


class _Repository:
    label = "db.rag_chunks"
    fallback = False

    def __init__(self, db: Database) -> None:
        from aura_db.repositories import Chunk as AuraChunk

        self.repo: Any = db.rag_chunks
        self.chunk = AuraChunk

    def add_many(self, chunks: Sequence[Chunk]) -> None:
        if not chunks:
            return
        workspace = chunks[0].workspace_id
        self.repo.add_many(workspace, [
            self.chunk(content=c.content, embedding=c.embedding, chunk_index=c.chunk_index,
                       source_path=c.source_path, content_type=c.content_type, title=c.title,
                       metadata=c.metadata, content_id=c.content_id) for c in chunks])

    def search(self, workspace_id: str, vector: Any, k: int, ef_search: int | None,
               exact: bool | None = None) -> list[tuple[str, int]]:
        hits = self.repo.search(workspace_id, vector, k, ef_search=ef_search, exact=exact)
        return [(h.content_id, h.chunk_index) for h in hits]

    def route(self, workspace_id: str, vector: Any, k: int) -> Route:
        plan = self.repo.explain_search(workspace_id, vector, k)
        return Route(str(plan.path), plan.ef_search or default_ef_search())

    def calibrate(self, workspace_id: str, dims: int) -> str:
        """Calibrate the workspace as an index build through the repository would have (the
        bench builds the index itself), and say what was recorded."""
        c = self.repo.calibrate_search(workspace_id, dims)
        below = getattr(c, "exact_below", None)
        return (f"calibrated after the load, as the repository's index builds do: ef_search "
                f"{c.ef_search or 'none (exact)'}, recall {c.recall:.3f} on {c.queries} queries"
                + ("" if below is None else f", exact scan below {below:,} candidates"))


class _Fallback:
    label = "fallback (binary COPY / HNSW query through aura-db's pool)"
    fallback = True

    def __init__(self, db: Database) -> None:
        self.db = db

    def add_many(self, chunks: Sequence[Chunk]) -> None:
        with self.db.connection() as conn, conn.cursor() as cur, cur.copy(raw_sql.COPY_CHUNKS) as copy:
            copy.set_types(raw_sql.COPY_CHUNK_TYPES)
            for chunk in chunks:
                copy.write_row(chunk.values())

    def search(self, workspace_id: str, vector: Any, k: int, ef_search: int | None,
               exact: bool | None = None) -> list[tuple[str, int]]:
        with self.db.connection() as conn:
            if exact:
                conn.execute("SET LOCAL enable_indexscan = off")
            if ef_search is not None:
                conn.execute(sql.SQL("SET LOCAL hnsw.ef_search = {}").format(sql.Literal(ef_search)))
            rows = conn.execute(raw_sql.SEARCH_CHUNKS, {**raw_sql.NO_FILTERS, "embedding": vector,
                                                        "workspace_id": workspace_id, "limit": k})
        return [(r[1], r[2]) for r in rows]

    def route(self, workspace_id: str, vector: Any, k: int) -> Route:
        return Route("hnsw", default_ef_search())

    def calibrate(self, workspace_id: str, dims: int) -> str:
        return "no calibration in this tree"
