"""Workspaces: registered source trees, keyed by a hash of their normalized path (seed 002 §6)."""

from __future__ import annotations

import hashlib
import posixpath
from dataclasses import dataclass
from datetime import datetime

from ..errors import InvalidValue
from .checks import check_text, show
from .rows import typed_row

__all__ = ["WorkspaceRow", "normalize_path", "workspace_id"]


def normalize_path(path: str) -> str:
    """The canonical form of a workspace path: absolute, ``.``/``..`` resolved lexically (symlinks
    are not followed), duplicate and trailing separators removed. Relative paths are refused:
    the data layer cannot know which directory they are relative to."""
    check_text("workspaces", "path", path)
    if not path.startswith("/"):
        raise InvalidValue(f"workspaces.path: must be absolute (got {show(path)})")
    normalized = posixpath.normpath(path)
    # POSIX lets normpath keep a leading '//'; for us it is the same directory as '/'.
    return "/" + normalized.lstrip("/") if normalized.startswith("//") else normalized


def workspace_id(path: str) -> str:
    """First 16 hex characters of SHA-256 of the UTF-8 normalized path."""
    return hashlib.sha256(normalize_path(path).encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class WorkspaceRow:
    id: str
    name: str
    path: str
    is_git_repository: bool
    current_commit_sha: str | None
    rag_indexed_at: datetime | None
    rag_indexed_commit_sha: str | None
    graph_indexed_at: datetime | None
    graph_indexed_commit_sha: str | None
    created_at: datetime
    updated_at: datetime
    created_by: str | None
    updated_by: str | None
    deleted_at: datetime | None
    version: int


_row = typed_row(WorkspaceRow)  # SELECT *: tolerant of columns added by later migrations


def _id(value: object) -> str:
    """A workspace id as given: text (16 hex characters when it came from :func:`workspace_id`)."""
    checked = check_text("workspaces", "id", value)
    assert checked is not None
    return checked


def _sha(value: str | None, field: str) -> str | None:
    check_text("workspaces", field, value, required=False)
    return value


