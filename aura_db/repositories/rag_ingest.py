"""The chunks an ingest takes (:class:`Chunk`), checked before anything is sent: each becomes
a COPY row for ``rag_chunks`` or an :class:`~aura_db.errors.InvalidValue` naming the chunk (its
position and chunk_index) and the problem."""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InvalidValue
from .checks import check_enum, check_int, check_items, check_text, check_unicode, json_text, show
from .conversations import RagContentType
from .limits import column_limit
from .rag_search import SUPPORTED_DIMS, embedding_array

__all__ = ["CheckedChunks", "Chunk", "check_content_hash"]

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


class CheckedChunks:
    """The COPY rows of ``chunks``, checked as the COPY consumes them: the checks and encoding
    of one chunk run while the server stores the ones before it, so a bulk load costs what a
    bare COPY costs instead of a checking pass plus a COPY. A refused chunk raises
    :class:`InvalidValue` (naming its position and chunk_index and the problem) out of the
    iteration, which abandons the COPY and its transaction: nothing is written. The first
    chunk's embedding is checked at once (its size, :attr:`dims`, is checked against the
    workspace's before anything is sent); the documents' content hashes are ready once all are
    consumed.
    """

    def __init__(self, workspace_id: str, chunks: Sequence[Chunk], replace: str | None) -> None:
        self.workspace_id, self.replace = workspace_id, replace
        self.chunks = check_items(_T, "chunks", chunks, Chunk)
        self._parts: dict[str, list[tuple[int, str]]] = {}
        self._seen: set[tuple[str, int]] = set()
        self.dims = embedding_array(self.chunks[0].embedding, f"{_T}.embedding: {_where(0, self.chunks[0])}"
                                    ).size if self.chunks else 0

    def __len__(self) -> int:
        return len(self.chunks)

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        self._parts, self._seen = {}, set()  # iterated again, it starts afresh
        row = self._row
        for pos, chunk in enumerate(self.chunks):
            yield row(pos, chunk)

    def _row(self, pos: int, chunk: Chunk) -> tuple[Any, ...]:
        try:
            return self._checked(chunk)
        except InvalidValue as refused:  # placed only now: no message is built for a good chunk
            table_field, _, problem = str(refused).partition(": ")
            raise InvalidValue(f"{table_field}: {_where(pos, chunk)}: {problem}") from None

    def _checked(self, chunk: Chunk) -> tuple[Any, ...]:
        index = check_int(_T, "chunk_index", chunk.chunk_index, required=True) or 0
        content_id = _content_id(chunk, self.replace)
        if (content_id, index) in self._seen:
            raise InvalidValue(f"{_T}.chunk_index: appears twice for content_id {content_id!r}")
        self._seen.add((content_id, index))
        text = _content(chunk.content)
        vector = embedding_array(chunk.embedding, f"{_T}.embedding")
        if vector.size != self.dims:
            raise InvalidValue(f"{_T}.embedding: {vector.size} dimensions, but earlier chunks have "
                               f"{self.dims} (one size per call)")
        metadata = json_text(_T, "metadata", chunk.metadata)
        row = (self.workspace_id, content_id, index, text, vector_wire(vector),
               check_text(_T, "source_path", chunk.source_path, max_len=_PATH_LIMIT, required=False),
               check_enum(_T, "content_type", chunk.content_type, RagContentType).value,
               check_text(_T, "title", chunk.title, max_len=_TITLE_LIMIT, required=False,
                          allow_blank=True),
               None if metadata is None else b"\x01" + metadata.encode())  # jsonb's wire form
        self._parts.setdefault(content_id, []).append((index, text))
        return row

    def hashes(self, given: str | None) -> dict[str, str]:
        """content_id -> content hash for index_metadata, once every row is consumed: ``given``
        (checked by :func:`check_content_hash`), else the SHA-256 of the chunk texts of that
        document in chunk order, NUL-separated (NUL never occurs in a chunk)."""
        if given is not None and self.replace is not None:
            return {self.replace: given}
        return {doc: hashlib.sha256("\x00".join(t for _, t in sorted(parts)).encode()).hexdigest()
                for doc, parts in sorted(self._parts.items())}


def vector_wire(array: np.ndarray[Any, np.dtype[np.float32]]) -> bytes:
    """A checked embedding in pgvector's binary form (``vector_recv``): dimensions and an unused
    word as big-endian int16, then the values as big-endian float32."""
    return _VECTOR_HEADS[array.size] + array.astype(">f4").tobytes()


_VECTOR_HEADS = {dims: struct.pack(">HH", dims, 0) for dims in SUPPORTED_DIMS}
_ID_LIMIT, _PATH_LIMIT, _TITLE_LIMIT = (column_limit(_T, c) for c in ("content_id", "source_path", "title"))


def _where(pos: int, chunk: Chunk) -> str:
    return f"chunk {pos} (chunk_index {chunk.chunk_index!r})"


def _content_id(chunk: Chunk, replace: str | None) -> str:
    if replace is not None:
        if chunk.content_id is not None and chunk.content_id != replace:
            raise InvalidValue(f"{_T}.content_id: {chunk.content_id!r} differs from the document "
                               f"being replaced, {replace!r}")
        return replace
    if chunk.content_id is None:
        raise InvalidValue(f"{_T}.content_id: a value is required for add_many (got None)")
    checked = check_text(_T, "content_id", chunk.content_id, max_len=_ID_LIMIT)
    assert checked is not None
    return checked


def _content(content: object) -> str:
    if not isinstance(content, str):
        raise InvalidValue(f"{_T}.content: expected text, got {type(content).__name__}")
    if "\x00" in content:
        raise InvalidValue(f"{_T}.content: text must not contain NUL bytes (at offset "
                           f"{content.index(chr(0))})")
    if not content.isascii():
        check_unicode(_T, "content", content)
    if not content.strip():
        raise InvalidValue(f"{_T}.content: must not be empty or blank (got {show(content)})")
    return content


def check_content_hash(given: str | None, replace: str | None) -> None:
    """A document's ``content_hash`` as given to replace_content: 64 lower-case hex digits."""
    if given is not None and (replace is None or not isinstance(given, str) or len(given) != 64
                              or given.strip("0123456789abcdef")):
        raise InvalidValue(f"index_metadata.content_hash: {show(given)} is not 64 lower-case "
                           f"hex digits (SHA-256)")
