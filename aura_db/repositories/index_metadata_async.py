"""The async index_metadata repository: the source ``tools/async_to_sync.py`` generates
``index_metadata_sync.py`` from. Its rows, checks and helpers are :mod:`.index_metadata`'s, shared by both.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, ClassVar

from psycopg.rows import tuple_row

from ..errors import InvalidValue
from .base_async import AsyncRepository, idempotent, reads, writes
from .checks import check_datetime, check_enum, check_items, check_text, show
from .index_metadata import _SHA256_HEX, FileChanges, IndexMetadataRow, IndexType, _row
from .workspaces import normalize_path

__all__ = ["AsyncIndexMetadataRepository"]


class AsyncIndexMetadataRepository(AsyncRepository):
    """``db.index_metadata``: diff files against the index, record indexed files, forget them."""

    table: ClassVar[str] = "index_metadata"

    @reads
    async def changes(self, workspace_path: str, index_type: IndexType | str,
                      files: Mapping[str, str]) -> FileChanges:
        """Compare ``files`` (path -> SHA-256 hex of the content, as on disk now) with what was
        indexed, in one round trip; files absent from ``files`` count as deleted."""
        paths, hashes = self._files(files)
        async with self._conn() as conn:
            rows = await self._q("diff_index_metadata").amany(
                conn, tuple_row, **self._key(workspace_path, index_type), paths=paths, hashes=hashes)
        by_change: dict[str, list[str]] = {"new": [], "changed": [], "deleted": []}
        for path, change in rows:
            by_change[change].append(path)
        return FileChanges(**by_change)

    @idempotent
    async def record(self, workspace_path: str, index_type: IndexType | str, files: Mapping[str, str], *,
                     indexed_at: datetime | None = None) -> int:
        """Record that ``files`` (path -> content hash) were indexed (now, or ``indexed_at``), in
        one upsert; returns how many files were recorded."""
        paths, hashes = self._files(files)
        check_datetime(self.table, "indexed_at", indexed_at)
        if not paths:
            return 0
        async with self._conn() as conn:
            return await self._q("record_index_metadata").aaffected(
                conn, **self._key(workspace_path, index_type), paths=paths, hashes=hashes,
                indexed_at=indexed_at)

    @writes
    async def forget(self, workspace_path: str, index_type: IndexType | str, paths: Iterable[str]) -> int:
        """Drop the records of ``paths``; returns how many existed."""
        if isinstance(paths, str):
            raise InvalidValue(f"{self.table}.file_path: expected a collection of paths, got {show(paths)}")
        wanted = [self._path(p) for p in check_items(self.table, "paths", paths)]
        async with self._conn() as conn:
            return await self._q("forget_index_metadata").aaffected(
                conn, **self._key(workspace_path, index_type), paths=wanted)

    @writes
    async def clear(self, workspace_path: str, index_type: IndexType | str) -> int:
        """Drop every record of the workspace for ``index_type``; returns how many there were."""
        async with self._conn() as conn:
            return await self._q("clear_index_metadata").aaffected(
                conn, **self._key(workspace_path, index_type))

    @reads
    async def list(self, workspace_path: str, index_type: IndexType | str) -> builtins.list[IndexMetadataRow]:
        """The recorded files of the workspace for ``index_type``, by path."""
        async with self._conn() as conn:
            return await self._q("list_index_metadata").amany(
                conn, _row, **self._key(workspace_path, index_type))

    # -- checks ---------------------------------------------------------------------------------

    def _key(self, workspace_path: str, index_type: IndexType | str) -> dict[str, Any]:
        check_text(self.table, "workspace_path", workspace_path)
        if not workspace_path.startswith("/"):
            raise InvalidValue(f"{self.table}.workspace_path: must be absolute (got {show(workspace_path)})")
        kind = check_enum(self.table, "index_type", index_type, IndexType)
        return {"workspace_path": normalize_path(workspace_path), "index_type": kind.value}

    def _path(self, path: object) -> str:
        checked = check_text(self.table, "file_path", path)
        assert checked is not None
        return checked

    def _files(self, files: Mapping[str, str]) -> tuple[builtins.list[str], builtins.list[str]]:
        if not isinstance(files, Mapping):
            raise InvalidValue(f"{self.table}: expected a mapping of path -> content hash, got {show(files)}")
        paths: builtins.list[str] = []
        hashes: builtins.list[str] = []
        for path, digest in files.items():
            paths.append(self._path(path))
            # either case is accepted (C#'s Convert.ToHexString is upper-case); stored lower-case
            if not isinstance(digest, str) or not _SHA256_HEX.match(digest.lower()):
                raise InvalidValue(
                    f"{self.table}.content_hash: {show(digest)} for {show(path)} is not 64 "
                    f"hex digits (SHA-256)")
            hashes.append(digest.lower())
        return paths, hashes
