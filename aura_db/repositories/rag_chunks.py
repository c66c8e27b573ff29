"""RAG chunks (002 §1.5): bulk ingest through binary COPY, maintenance, and HNSW index builds.

Ingest: chunks are validated in Python, then one transaction locks the workspace row (ingests
of one workspace serialize; the row also records rag_indexed_at / commit), checks the embedding
size against the workspace's chunks, COPYs every chunk into an unindexed temporary table in one
binary COPY, and moves them with one ``INSERT ... SELECT ... ON CONFLICT DO UPDATE`` (unchanged
chunks are not rewritten). ``replace_content`` also deletes the chunks the new set no longer
has; a reader sees the old set or the new one, never a mix. index_metadata is updated in the
same transaction.

Bulk mode, for initial loads: inserting into a table with an HNSW index costs an index insert
per row (~290 rows/s at 100k x 768 on 2 cores), while COPY into an unindexed table runs
~20,000 rows/s and building the index afterwards is faster than inserting into it::

    with db.rag_chunks.bulk_load(768):          # drops ix_rag_chunks_embedding_768
        db.rag_chunks.add_many(ws, chunks)      # searches meanwhile take the exact path
    # on exit: CREATE INDEX CONCURRENTLY with maintenance_work_mem / parallel workers set,
    # then the recall calibration of the workspaces above the exact threshold

An ingest (outside a caller's transaction) that takes an uncalibrated workspace past the
exact-path threshold, or finds more chunks written or deleted since the workspace's last
calibration than half of those measured then, calibrates its searches after committing (see
``calibrate_search``); deleting all of a workspace's chunks deletes its calibrations.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.rows import class_row

from .rag_indexes import SearchIndex
from .rag_ingest import Chunk
from .rag_search import index_name

__all__ = ["Chunk", "ChunkRow", "ChunkStats", "SearchIndex", "index_name"]

_T = "rag_chunks"
_COPY_TYPES = ["text", "text", "int4", "text", "bytea", "text", "text", "text", "bytea"]
"""The dumpers of the ingest COPY's columns. The embedding and the metadata come already in
their types' binary wire form (:func:`.rag_ingest.vector_wire`, ``jsonb``'s version byte and
text), which a binary COPY hands to the column type's own receive function (vector_recv,
jsonb_recv: they check it) whatever the client calls it: sent as bytes, they skip pgvector's
and psycopg's per-value dumpers, which re-check and copy what the ingest checks already made."""


@dataclass(frozen=True, slots=True)
class ChunkRow:
    id: uuid.UUID
    workspace_id: str
    content_id: str
    chunk_index: int
    content: str
    embedding_dims: int
    source_path: str | None
    content_type: str
    title: str | None
    metadata: Any
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ChunkStats:
    """Chunks and distinct documents of one content type in a workspace, with their sizes."""

    content_type: str
    chunks: int
    documents: int
    embedding_dims: list[int]


_chunk_row = class_row(ChunkRow)
_stats_row = class_row(ChunkStats)



