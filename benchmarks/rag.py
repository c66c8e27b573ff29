"""aura-db's side of workloads 5 and 6: ``db.rag_chunks`` when the tree has it, else a fallback.

The one place the RAG workloads touch aura-db's RAG API: :func:`aura_rag` returns an adapter
with ``add_many(chunks)`` and ``search(vector, k, ef_search)``. When ``Database`` has no
``rag_chunks`` repository the fallback does what such a repository does (binary COPY, the
HNSW query) through aura-db's pool, and the report says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from psycopg import sql

from aura_db import Database

from . import raw_sql
from .data import Chunk

__all__ = ["AuraRag", "aura_rag"]


class AuraRag(Protocol):
    label: str  # how the report names the calls measured
    fallback: bool

    def add_many(self, chunks: Sequence[Chunk]) -> None: ...

    def search(self, workspace_id: str, vector: Any, k: int, ef_search: int | None) -> list[tuple[str, int]]:
        """The (content_id, chunk_index) of the ``k`` nearest chunks, nearest first."""
        ...


def aura_rag(db: Database) -> AuraRag:
    """The adapter for this tree: the repository when it exists, else the fallback."""
    if hasattr(db, "rag_chunks"):
        return _Repository(db)
    return _Fallback(db)


class _Repository:
    label = "db.rag_chunks"
    fallback = False

    def __init__(self, db: Database) -> None:
        self.repo: Any = db.rag_chunks  # type: ignore[attr-defined]

    def add_many(self, chunks: Sequence[Chunk]) -> None:
        self.repo.add_many(chunks)

    def search(self, workspace_id: str, vector: Any, k: int, ef_search: int | None) -> list[tuple[str, int]]:
        hits = self.repo.search(workspace_id, vector, limit=k, ef_search=ef_search)
        return [(h.content_id, h.chunk_index) for h in hits]


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

    def search(self, workspace_id: str, vector: Any, k: int, ef_search: int | None) -> list[tuple[str, int]]:
        with self.db.connection() as conn:
            if ef_search is not None:
                conn.execute(sql.SQL("SET LOCAL hnsw.ef_search = {}").format(sql.Literal(ef_search)))
            rows = conn.execute(raw_sql.SEARCH_CHUNKS, {"q": vector, "workspace_id": workspace_id,
                                                        "k": k}).fetchall()
        return [(r[1], r[2]) for r in rows]
