"""Conversations, their messages and the RAG contexts each message was answered with (002 §1.1-1.3)."""

from __future__ import annotations

import enum
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from psycopg.rows import class_row

from ..errors import InvalidValue
from .checks import check_enum, check_int, check_items, check_number, check_text
from .rows import member

__all__ = [
    "ConversationRow",
    "ConversationWithMessages",
    "MessageRole",
    "MessageRow",
    "RagContentType",
    "RagContext",
    "RagContextRow",
]


class MessageRole(enum.StrEnum):
    USER = "user"
    ASSISTANT = "assistant"
    SYSTEM = "system"
    TOOL = "tool"


class RagContentType(enum.StrEnum):
    UNKNOWN = "Unknown"
    CODE = "Code"
    MARKDOWN = "Markdown"
    PLAIN_TEXT = "PlainText"
    DOCUMENTATION = "Documentation"
    PDF = "Pdf"
    RECEIPT = "Receipt"
    PAPER = "Paper"


@dataclass(frozen=True, slots=True)
class ConversationRow:
    id: uuid.UUID
    title: str | None
    agent_id: str | None
    repository_path: str | None
    story_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime
    created_by: str | None
    updated_by: str | None
    deleted_at: datetime | None
    version: int


@dataclass(frozen=True, slots=True)
class MessageRow:
    id: uuid.UUID
    seq: int
    conversation_id: uuid.UUID
    role: MessageRole
    content: str
    model: str | None
    tokens_used: int | None
    created_at: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "role", member(MessageRole, self.role))


@dataclass(frozen=True, slots=True)
class RagContextRow:
    id: uuid.UUID
    message_id: uuid.UUID
    query: str
    content_id: str
    chunk_index: int
    chunk_content: str
    score: float
    source_path: str | None
    content_type: RagContentType | None
    retrieved_at: datetime

    def __post_init__(self) -> None:
        if self.content_type is not None:
            object.__setattr__(self, "content_type", member(RagContentType, self.content_type))


@dataclass(frozen=True, slots=True)
class RagContext:
    """One retrieved chunk to record for a message (see ``MessagesRepository.attach_rag_contexts``)."""

    query: str
    content_id: str
    chunk_index: int
    chunk_content: str
    score: float
    source_path: str | None = None
    content_type: RagContentType | str | None = None


@dataclass(frozen=True, slots=True)
class ConversationWithMessages:
    """A conversation and its latest messages, oldest first."""

    conversation: ConversationRow
    messages: list[MessageRow]


_conversation = class_row(ConversationRow)
_message = class_row(MessageRow)
_rag_context = class_row(RagContextRow)
_CONVERSATION_FIELDS = tuple(f.name for f in fields(ConversationRow))
_MESSAGE_FIELDS = tuple(f.name for f in fields(MessageRow) if f.name != "conversation_id")






def _rag_columns(contexts: Sequence[RagContext]) -> dict[str, list[Any]]:
    """Validate each context and transpose them into the arrays the insert unnests."""
    table = "message_rag_contexts"
    columns: dict[str, list[Any]] = {name: [] for name in (
        "queries", "content_ids", "chunk_indexes", "chunk_contents", "scores", "source_paths",
        "content_types")}
    for ctx in check_items(table, "contexts", contexts, RagContext):
        columns["queries"].append(check_text(table, "query", ctx.query, allow_blank=True))
        columns["content_ids"].append(check_text(table, "content_id", ctx.content_id))
        columns["chunk_indexes"].append(check_int(table, "chunk_index", ctx.chunk_index, required=True))
        columns["chunk_contents"].append(
            check_text(table, "chunk_content", ctx.chunk_content, allow_blank=True))
        score = check_number(table, "score", ctx.score)
        if score is None:
            raise InvalidValue(f"{table}.score: a value is required (got None)")
        columns["scores"].append(score)
        columns["source_paths"].append(
            check_text(table, "source_path", ctx.source_path, required=False))
        columns["content_types"].append(None if ctx.content_type is None else check_enum(
            table, "content_type", ctx.content_type, RagContentType).value)
    return columns
