"""The async workspaces repository: the source ``tools/async_to_sync.py`` generates
``workspaces_sync.py`` from. Its rows, checks and helpers are :mod:`.workspaces`'s, shared by both.
"""

from __future__ import annotations

import posixpath
from datetime import datetime
from typing import ClassVar, Literal

from ..errors import InvalidValue
from .base_async import AsyncRepository, idempotent, reads, writes
from .checks import check_bool, check_datetime, check_text, show
from .workspaces import WorkspaceRow, _id, _row, _sha, normalize_path, workspace_id

__all__ = ["AsyncWorkspacesRepository"]


class AsyncWorkspacesRepository(AsyncRepository):
    """``db.workspaces``: register, look up, mark indexed, soft-delete."""

    table: ClassVar[str] = "workspaces"

    @idempotent
    async def upsert(self, path: str, *, name: str | None = None, is_git_repository: bool = False,
                     current_commit_sha: str | None = None) -> WorkspaceRow:
        """Register the workspace at ``path`` (or refresh and un-delete it); the id is
        :func:`workspace_id` of the path and the name defaults to its last component."""
        normalized = normalize_path(path)
        name = name if name is not None else (posixpath.basename(normalized) or "/")
        check_text(self.table, "name", name)
        async with self._conn() as conn:
            return await self._q("upsert_workspace").aone(
                conn, _row, id=workspace_id(normalized), name=name, path=normalized,
                is_git_repository=check_bool(self.table, "is_git_repository", is_git_repository),
                current_commit_sha=_sha(current_commit_sha, "current_commit_sha"),
            )

    @reads
    async def get(self, id: str) -> WorkspaceRow:
        """The live workspace with this id; :class:`NotFound` otherwise."""
        row = await self.find(id)
        if row is None:
            raise self._not_found(id)
        return row

    @reads
    async def find(self, id: str) -> WorkspaceRow | None:
        """The live workspace with this id, or None."""
        async with self._conn() as conn:
            return await self._q("get_workspace").aoptional(conn, _row, id=_id(id))

    @reads
    async def find_by_path(self, path: str) -> WorkspaceRow | None:
        """The live workspace registered at ``path`` (any spelling of it), or None."""
        return await self.find(workspace_id(path))

    @reads
    async def list(self) -> list[WorkspaceRow]:
        """Every live workspace, by name."""
        async with self._conn() as conn:
            return await self._q("list_workspaces").amany(conn, _row)

    @reads
    async def count(self) -> int:
        """How many live workspaces there are."""
        async with self._conn() as conn:
            return int(await self._q("count_workspaces").ascalar(conn))

    @idempotent
    async def mark_indexed(self, id: str, kind: Literal["rag", "graph"], *, commit_sha: str | None = None,
                           at: datetime | None = None) -> WorkspaceRow:
        """Record that the ``rag`` or ``graph`` index was completed (now, or ``at``) at a commit."""
        if kind not in ("rag", "graph"):
            raise InvalidValue(f"workspaces.kind: {show(kind)} is not one of rag, graph")
        id, at = _id(id), check_datetime(self.table, f"{kind}_indexed_at", at)
        async with self._conn() as conn:
            row = await self._q(f"mark_{kind}_indexed").aoptional(
                conn, _row, id=id, commit_sha=_sha(commit_sha, f"{kind}_indexed_commit_sha"), at=at)
        if row is None:
            raise self._not_found(id)
        return row

    @writes
    async def delete(self, id: str) -> None:
        """Soft-delete: the workspace disappears from reads until restored."""
        id = _id(id)
        async with self._conn() as conn:
            if await self._q("soft_delete_workspace").aaffected(conn, id=id) == 0:
                raise self._not_found(id)

    @writes
    async def restore(self, id: str) -> None:
        """Undo a soft delete."""
        id = _id(id)
        async with self._conn() as conn:
            if await self._q("restore_workspace").aaffected(conn, id=id) == 0:
                raise self._not_found(id, "id (soft-deleted)")

    @writes
    async def purge(self, id: str) -> None:
        """Delete for good, with everything that belongs to the workspace: its RAG chunks,
        search calibrations and index metadata, and the code graph of the repository at its
        path. Registering the path again starts from nothing."""
        id = _id(id)
        async with self._conn() as conn:
            if await self._q("purge_workspace").aaffected(conn, id=id) == 0:
                raise self._not_found(id)
