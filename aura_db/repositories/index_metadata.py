"""Index metadata: which content each workspace file was last indexed from, per index type (002 §1.9)."""

from __future__ import annotations

import enum
import re
import uuid
from dataclasses import dataclass
from datetime import datetime

from psycopg.rows import class_row

from .rows import member

__all__ = ["FileChanges", "IndexMetadataRow", "IndexType"]

_SHA256_HEX = re.compile(r"[0-9a-f]{64}\Z")


class IndexType(enum.StrEnum):
    RAG = "rag"
    GRAPH = "graph"


@dataclass(frozen=True, slots=True)
class IndexMetadataRow:
    id: uuid.UUID
    file_path: str
    workspace_path: str
    content_hash: str
    indexed_at: datetime
    index_type: IndexType

    def __post_init__(self) -> None:
        object.__setattr__(self, "index_type", member(IndexType, self.index_type))


@dataclass(frozen=True, slots=True)
class FileChanges:
    """What an indexer must do: index ``new`` and ``changed`` files, drop ``deleted`` ones
    (each sorted by path)."""

    new: list[str]
    changed: list[str]
    deleted: list[str]

    def __bool__(self) -> bool:
        return bool(self.new or self.changed or self.deleted)


_row = class_row(IndexMetadataRow)


