# WARNING: generated from rag_chunks_async.py by tools/async_to_sync.py: do not edit.
# Change the async source and run `python tools/async_to_sync.py`.
"""The async rag_chunks repository: the source ``tools/async_to_sync.py`` generates
``rag_chunks_sync.py`` from. Its rows, checks and helpers are :mod:`.rag_chunks`'s, shared by both.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any, ClassVar

import psycopg
from psycopg.rows import tuple_row

from ..errors import InvalidValue
from ..progress import Progress, Tracker, check_progress
from .base import not_found, own_call
from .base_sync import idempotent, reads, writes
from .checks import (
    check_text,
    escape_like,
)
from .rag_chunks import _COPY_TYPES, _T, ChunkRow, ChunkStats, _chunk_row, _stats_row
from .rag_indexes_sync import RagIndexes
from .rag_ingest import CheckedChunks, Chunk, check_content_hash

__all__ = ["RagChunksRepository"]


class RagChunksRepository(RagIndexes):
    """``db.rag_chunks``: ingest (replace a document, bulk add), search (see
    :class:`~aura_db.repositories.rag_search.RagSearch`), delete, stats and index builds."""

    table: ClassVar[str] = _T

    # -- ingest ---------------------------------------------------------------------------------

    @idempotent
    def replace_content(self, workspace_id: str, content_id: str, chunks: Sequence[Chunk], *,
                        content_hash: str | None = None, commit_sha: str | None = None,
                        progress: Progress | None = None) -> int:
        """Replace every chunk of one document atomically; returns the number of chunks.

        Concurrent readers see the old chunks or the new ones, never a mix. Records the
        document in index_metadata ('rag', file_path = content_id, ``content_hash`` or the
        SHA-256 of the chunk texts in order) and the workspace's rag_indexed_at (and
        ``commit_sha``) in the same transaction. Raises :class:`InvalidValue` naming the chunk
        and the problem (nothing is written), :class:`NotFound` for an unknown workspace.
        """
        check_text(_T, "content_id", content_id)
        if not chunks:
            raise InvalidValue(f"{_T}: no chunks for content_id {content_id!r} "
                               f"(use delete_content to remove a document)")
        return self._ingest(workspace_id, chunks, content_id, content_hash, commit_sha, progress)

    @writes
    def add_many(self, workspace_id: str, chunks: Sequence[Chunk], *,
                 commit_sha: str | None = None, progress: Progress | None = None) -> int:
        """Bulk upsert chunks of many documents (each chunk names its ``content_id``) with one
        binary COPY and one INSERT; chunks of those documents not given are kept. Into a
        workspace that holds no chunk yet (an initial load) the COPY goes straight into
        rag_chunks. Returns the number of chunks. Records each document in index_metadata
        (hash of its given chunks) and the workspace's rag_indexed_at. Raises as
        :meth:`replace_content`. ``progress`` (see :mod:`aura_db.progress`) hears the chunks
        checked, then sent, then the commit (and a calibration, when one follows).
        """
        if not chunks:
            return 0
        return self._ingest(workspace_id, chunks, None, None, commit_sha, progress)

    def _ingest(self, workspace_id: str, chunks: Sequence[Chunk], replace: str | None,
                content_hash: str | None, commit_sha: str | None,
                progress: Progress | None = None) -> int:
        check_text("workspaces", "id", workspace_id)
        check_text("workspaces", "rag_indexed_commit_sha", commit_sha, required=False)
        check_progress(progress, _T)
        tracker = Tracker(progress, f"ingest into workspace {workspace_id}", None, "chunks")
        with tracker:
            tracker.update(0, phase="checking")
            check_content_hash(content_hash, replace)
            rows = CheckedChunks(workspace_id, chunks, replace)  # checked as the COPY sends them
            threshold = self.tuning.calibration_floor
            tracker.update(0, phase="sending", total=len(rows))
            with self._conn() as conn:
                owned = own_call(conn)
                with conn.transaction():
                    calibrate = self._move(conn, workspace_id, rows, tracker, content_hash,
                                           commit_sha, threshold)
                    tracker.update(len(rows), phase="committing")
        self._forget_settled(workspace_id)  # it may have grown past its exact threshold
        if owned and calibrate and self.tuning.auto_calibrate:
            # the workspace came onto the HNSW path, or changed much since it was measured
            self._auto_calibrate(workspace_id, rows.dims, progress)
        return len(rows)

    def _move(self, conn: psycopg.Connection[Any], workspace_id: str, rows: CheckedChunks,
              tracker: Tracker, content_hash: str | None, commit_sha: str | None,
              threshold: int) -> bool:
        """The ingest's transaction; returns whether the workspace's search recall should be
        measured once it is committed (see count_calibration_changes)."""
        replace, dims, count = rows.replace, rows.dims, len(rows)
        sent = tracker.iterate(rows, every=2000)
        locked = self._q("lock_workspace_for_rag").optional(
            conn, tuple_row, workspace_id=workspace_id, commit_sha=commit_sha,
            replaced=[replace] if replace is not None else [])
        if locked is None:
            raise not_found("workspaces", workspace_id)
        path, existing = locked
        if existing is not None and existing != dims:
            raise InvalidValue(
                f"{_T}.embedding: workspace {workspace_id!r} holds {existing}-dimension "
                f"embeddings, these chunks have {dims} (one model per workspace; delete its "
                f"chunks to change models)")
        if replace is None and existing is None:
            # the workspace's first load: nothing to upsert against, so no staging hop
            self._q("copy_chunks_direct").copy_in(conn, _COPY_TYPES, sent)
        else:
            self._q("create_chunk_staging").script(conn)
            self._q("copy_chunk_staging").copy_in(conn, _COPY_TYPES, sent)
            if replace is not None:
                count += self._q("delete_unstaged_chunks").script(conn)
            self._q("upsert_staged_chunks").script(conn)
        hashes = rows.hashes(content_hash)
        self._q("record_index_metadata").affected(
            conn, workspace_path=path, index_type="rag", paths=list(hashes),
            hashes=list(hashes.values()), indexed_at=None)
        return bool(self._q("count_calibration_changes").scalar(
            conn, workspace_id=workspace_id, changed=count, cap=threshold + 1))

    @reads
    def chunks(self, workspace_id: str, content_id: str) -> builtins.list[ChunkRow]:
        """The chunks of one document, by chunk_index (empty when none)."""
        check_text(_T, "workspace_id", workspace_id)
        check_text(_T, "content_id", content_id)
        with self._conn() as conn:
            return self._q("list_content_chunks").many(
                conn, _chunk_row, workspace_id=workspace_id, content_id=content_id)

    # -- maintenance ----------------------------------------------------------------------------

    @writes
    def delete_content(self, workspace_id: str, content_id: str) -> int:
        """Delete one document's chunks (and its 'rag' index_metadata); returns chunks deleted."""
        check_text(_T, "workspace_id", workspace_id)
        check_text(_T, "content_id", content_id)
        with self._conn() as conn:
            return int(self._q("delete_content_chunks").scalar(
                conn, workspace_id=workspace_id, content_id=content_id))

    @writes
    def delete_path_prefix(self, workspace_id: str, prefix: str) -> int:
        """Delete the chunks whose source_path starts with ``prefix`` (literally: ``%`` and
        ``_`` match themselves) and their documents' index_metadata; returns chunks deleted."""
        check_text(_T, "workspace_id", workspace_id)
        check_text(_T, "source_path", prefix)
        with self._conn() as conn:
            return int(self._q("delete_path_chunks").scalar(
                conn, workspace_id=workspace_id, path_like=escape_like(prefix) + "%"))

    @writes
    def delete_workspace(self, workspace_id: str) -> int:
        """Delete every chunk of a workspace (and its 'rag' index_metadata and search
        calibrations); returns how many."""
        check_text(_T, "workspace_id", workspace_id)
        with self._conn() as conn:
            return int(self._q("delete_workspace_chunks").scalar(conn, workspace_id=workspace_id))

    @reads
    def stats(self, workspace_id: str) -> builtins.list[ChunkStats]:
        """Chunks, documents and embedding sizes per content type of a workspace."""
        check_text(_T, "workspace_id", workspace_id)
        with self._conn() as conn:
            return self._q("rag_stats").many(conn, _stats_row, workspace_id=workspace_id)
