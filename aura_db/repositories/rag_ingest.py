"""The chunks an ingest takes (:class:`Chunk`), checked before anything is sent: each becomes
a COPY row for ``rag_chunks`` or an :class:`~aura_db.errors.InvalidValue` naming the chunk (its
position and chunk_index) and the problem."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidValue
from .checks import check_enum, check_int, check_items, check_json, check_text, check_unicode, show
from .conversations import RagContentType
from .rag_search import embedding_array

__all__ = ["Chunk", "content_hashes", "validate_chunks"]

_T = "rag_chunks"


@dataclass(frozen=True, slots=True)
class Chunk:
    """One chunk to ingest. ``embedding``: numpy array, list of numbers or pgvector Vector of a
    supported size (384, 768, 1536, 3072). ``content_id`` is required by
    :meth:`RagChunksRepository.add_many` and implied by ``replace_content``."""

    content: str
    embedding: Any
    chunk_index: int
    source_path: str | None = None
    content_type: RagContentType | str = RagContentType.UNKNOWN
    title: str | None = None
    metadata: Any = None
    content_id: str | None = None


def validate_chunks(workspace_id: str, chunks: Sequence[Chunk],
              replace: str | None) -> tuple[list[tuple[Any, ...]], int]:
    """The COPY rows of ``chunks``, and their one embedding size; InvalidValue naming the
    chunk (position and chunk_index) and the problem otherwise."""
    rows: list[tuple[Any, ...]] = []
    seen: set[tuple[str, int]] = set()
    dims = 0
    for pos, chunk in enumerate(check_items(_T, "chunks", chunks, Chunk)):
        where = f"chunk {pos} (chunk_index {chunk.chunk_index!r})"
        index = check_int(_T, f"chunk_index: {where}", chunk.chunk_index, required=True) or 0
        content_id = _content_id(chunk, replace, where)
        if (content_id, index) in seen:
            raise InvalidValue(f"{_T}.chunk_index: {where}: appears twice for content_id {content_id!r}")
        seen.add((content_id, index))
        text = _content(chunk.content, where)
        vector = embedding_array(chunk.embedding, f"{_T}.embedding: {where}")
        if dims and vector.size != dims:
            raise InvalidValue(f"{_T}.embedding: {where}: {vector.size} dimensions, but earlier "
                               f"chunks have {dims} (one size per call)")
        dims = vector.size
        rows.append((
            workspace_id, content_id, index, text, vector,
            check_text(_T, f"source_path: {where}", chunk.source_path, required=False),
            check_enum(_T, f"content_type: {where}", chunk.content_type, RagContentType).value,
            check_text(_T, f"title: {where}", chunk.title, required=False,
                       allow_blank=True),
            check_json(_T, f"metadata: {where}", chunk.metadata),
        ))
    return rows, dims


def _content_id(chunk: Chunk, replace: str | None, where: str) -> str:
    if replace is not None:
        if chunk.content_id is not None and chunk.content_id != replace:
            raise InvalidValue(f"{_T}.content_id: {where}: {chunk.content_id!r} differs from the "
                               f"document being replaced, {replace!r}")
        return replace
    if chunk.content_id is None:
        raise InvalidValue(f"{_T}.content_id: {where}: a value is required for add_many (got None)")
    checked = check_text(_T, f"content_id: {where}", chunk.content_id)
    assert checked is not None
    return checked


def _content(content: object, where: str) -> str:
    if not isinstance(content, str):
        raise InvalidValue(f"{_T}.content: {where}: expected text, got {type(content).__name__}")
    if "\x00" in content:
        raise InvalidValue(f"{_T}.content: {where}: text must not contain NUL bytes "
                           f"(at offset {content.index(chr(0))})")
    if not content.isascii():
        check_unicode(_T, f"content: {where}", content)
    if not content.strip():
        raise InvalidValue(f"{_T}.content: {where}: must not be empty or blank (got {show(content)})")
    return content


def content_hashes(rows: list[tuple[Any, ...]], replace: str | None, given: str | None) -> dict[str, str]:
    """content_id -> content hash for index_metadata: ``given``, else SHA-256 of the chunk
    texts of that document in chunk order, NUL-separated (NUL never occurs in a chunk)."""
    if given is not None:
        if replace is None or not isinstance(given, str) or len(given) != 64 or given.strip(
                "0123456789abcdef"):
            raise InvalidValue(f"index_metadata.content_hash: {show(given)} is not 64 lower-case "
                               f"hex digits (SHA-256)")
        return {replace: given}
    by_doc: dict[str, list[tuple[int, str]]] = {}
    for row in rows:
        by_doc.setdefault(row[1], []).append((row[2], row[3]))
    return {doc: hashlib.sha256("\x00".join(t for _, t in sorted(parts)).encode()).hexdigest()
            for doc, parts in sorted(by_doc.items())}
