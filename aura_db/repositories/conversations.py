"""Conversations, their messages and the RAG contexts each message was answered with (002 §1.1-1.3)."""

from __future__ import annotations

import enum
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, ClassVar

from psycopg.rows import class_row, dict_row, tuple_row

from ..errors import ConcurrencyConflict, InvalidValue, NotFound
from .base import Repository, not_found, reads, writes
from .checks import check_enum, check_int, check_items, check_number, check_text, check_uuid, escape_like
from .cursors import Page, decode_cursor, encode_cursor, newest_first_page, resume_below
from .rows import member

__all__ = [
    "ConversationRow",
    "ConversationWithMessages",
    "ConversationsRepository",
    "MessageRole",
    "MessageRow",
    "MessagesRepository",
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


class ConversationsRepository(Repository):
    """``db.conversations``: create, read, list, rename, soft-delete and restore conversations."""

    table: ClassVar[str] = "conversations"

    @writes
    def create(self, *, title: str | None = None, agent_id: str | None = None,
               repository_path: str | None = None,
               story_id: uuid.UUID | str | None = None) -> ConversationRow:
        """Start a conversation, optionally with an agent, about a repository, for a story.

        Raises :class:`NotFound` when ``story_id`` names no story.
        """
        params = {
            "title": check_text(self.table, "title", title, required=False),
            "agent_id": check_text(self.table, "agent_id", agent_id, required=False),
            "repository_path": check_text(self.table, "repository_path", repository_path,
                                          required=False),
            "story_id": None if story_id is None else check_uuid(self.table, "story_id", story_id),
        }
        with self._conn() as conn:
            return self._q("create_conversation").one(conn, _conversation, **params)

    @reads
    def get(self, id: uuid.UUID | str) -> ConversationRow:
        """The live conversation with this id; :class:`NotFound` when missing or soft-deleted."""
        row = self.find(id)
        if row is None:
            raise self._not_found(id)
        return row

    @reads
    def find(self, id: uuid.UUID | str) -> ConversationRow | None:
        """The live conversation with this id, or None."""
        conversation_id = check_uuid(self.table, "id", id)
        with self._conn() as conn:
            return self._q("get_conversation").optional(conn, _conversation, id=conversation_id)

    @reads
    def list(self, *, agent_id: str | None = None, story_id: uuid.UUID | str | None = None,
             title_contains: str | None = None, limit: int = 50,
             cursor: str | None = None) -> Page[ConversationRow]:
        """One page of live conversations, newest first, matching every filter given
        (``title_contains`` is literal and case-insensitive); pass ``next_cursor`` back for the
        next page."""
        check_text(self.table, "agent_id", agent_id, required=False)
        check_text(self.table, "title", title_contains, required=False, allow_blank=True)
        check_int(self.table, "limit", limit, minimum=1, maximum=1000, required=True)
        with self._conn() as conn:
            rows = self._q("list_conversations").many(
                conn, _conversation, agent_id=agent_id,
                story_id=None if story_id is None else check_uuid(self.table, "story_id", story_id),
                title_like=None if title_contains is None else f"%{escape_like(title_contains)}%",
                **resume_below(cursor, self.table), limit=limit + 1)
        return newest_first_page(rows, limit)

    @writes
    def rename(self, id: uuid.UUID | str, title: str | None, *, version: int) -> ConversationRow:
        """Set the title if the conversation is still at ``version``; returns the new row.

        Raises :class:`ConcurrencyConflict` when it changed meanwhile, :class:`NotFound` when
        it is missing or soft-deleted.
        """
        conversation_id = check_uuid(self.table, "id", id)
        check_text(self.table, "title", title, required=False)
        check_int(self.table, "version", version, minimum=1, required=True)
        with self._conn() as conn:
            row = self._q("rename_conversation").optional(
                conn, _conversation, id=conversation_id, title=title, expected_version=version)
        if row is None:
            current = self.get(conversation_id)  # raises NotFound
            raise self._stale(conversation_id, version, current.version)
        return row

    @writes
    def delete(self, id: uuid.UUID | str) -> None:
        """Soft-delete: the conversation disappears from reads until restored."""
        conversation_id = check_uuid(self.table, "id", id)
        with self._conn() as conn:
            if self._q("soft_delete_conversation").affected(conn, id=conversation_id) == 0:
                raise self._not_found(conversation_id)

    @writes
    def restore(self, id: uuid.UUID | str) -> None:
        """Undo a soft delete; :class:`NotFound` when no soft-deleted conversation has this id."""
        conversation_id = check_uuid(self.table, "id", id)
        with self._conn() as conn:
            if self._q("restore_conversation").affected(conn, id=conversation_id) == 0:
                raise self._not_found(conversation_id, "id (soft-deleted)")

    @reads
    def with_messages(self, id: uuid.UUID | str, *, latest: int = 20) -> ConversationWithMessages:
        """The live conversation and its ``latest`` messages (oldest first), in one round trip;
        :class:`NotFound` when missing or soft-deleted."""
        conversation_id = check_uuid(self.table, "id", id)
        check_int(self.table, "latest", latest, minimum=0, maximum=10_000, required=True)
        with self._conn() as conn:
            rows = self._q("get_conversation_with_latest_messages").many(
                conn, dict_row, id=conversation_id, latest=latest)
        if not rows:
            raise self._not_found(conversation_id)
        conversation = ConversationRow(**{name: rows[0][name] for name in _CONVERSATION_FIELDS})
        messages = [
            MessageRow(conversation_id=conversation.id,
                       **{name: row[f"m_{name}"] for name in _MESSAGE_FIELDS})
            for row in rows if row["m_id"] is not None
        ]
        return ConversationWithMessages(conversation, messages)

    def _stale(self, id: uuid.UUID, expected: int, current: int) -> ConcurrencyConflict:
        return ConcurrencyConflict(
            f"{self.table}: row {id} is at version {current}, not {expected} (reload and retry)")


class MessagesRepository(Repository):
    """``db.messages``: append messages, page through them in order, attach RAG contexts."""

    table: ClassVar[str] = "messages"

    @writes
    def append(self, conversation_id: uuid.UUID | str, role: MessageRole | str, content: str, *,
               model: str | None = None, tokens_used: int | None = None) -> MessageRow:
        """Append a message to a live conversation; it gets the next ``seq``.

        Raises :class:`InvalidValue` for a bad role, text or token count and :class:`NotFound`
        when the conversation is missing or soft-deleted.
        """
        owner = check_uuid(self.table, "conversation_id", conversation_id)
        params = {
            "role": check_enum(self.table, "role", role, MessageRole).value,
            "content": check_text(self.table, "content", content, allow_blank=True),
            "model": check_text(self.table, "model", model, required=False),
            "tokens_used": check_int(self.table, "tokens_used", tokens_used),
        }
        with self._conn() as conn:
            row = self._q("append_message").optional(conn, _message, conversation_id=owner, **params)
        if row is None:
            raise NotFound(f"conversations: no live conversation with id {owner}")
        return row

    @reads
    def page(self, conversation_id: uuid.UUID | str, *, limit: int = 50,
             cursor: str | None = None) -> Page[MessageRow]:
        """One page of a live conversation's messages in order (by ``seq``); pass
        ``next_cursor`` back for the next page. :class:`NotFound` for a missing or soft-deleted
        conversation."""
        owner = check_uuid(self.table, "conversation_id", conversation_id)
        check_int(self.table, "limit", limit, minimum=1, maximum=1000, required=True)
        after = 0 if cursor is None else int(decode_cursor(cursor, self.table, (int,))[0])
        with self._conn() as conn:
            rows = self._q("page_messages").many(
                conn, _message, conversation_id=owner, after_seq=after, limit=limit + 1)
            if not rows and self._q("get_conversation").optional(conn, _conversation, id=owner) is None:
                raise not_found("conversations", owner)
        more = len(rows) > limit
        rows = rows[:limit]
        return Page(rows, encode_cursor(rows[-1].seq) if more else None)

    @writes
    def attach_rag_contexts(self, message_id: uuid.UUID | str,
                            contexts: Sequence[RagContext]) -> list[RagContextRow]:
        """Record the chunks a message was answered with, in one statement; returns the rows in
        the order given. Raises :class:`NotFound` when the message does not exist or its
        conversation is soft-deleted."""
        owner = check_uuid(self.table, "message_id", message_id)
        columns = _rag_columns(contexts)
        if not columns["queries"]:
            return []
        with self._conn() as conn:
            rows = self._q("attach_rag_contexts").many(conn, _rag_context, message_id=owner, **columns)
        if not rows:
            raise not_found("messages", owner)
        return rows

    @reads
    def rag_contexts(self, message_id: uuid.UUID | str) -> list[RagContextRow]:
        """The RAG contexts recorded for a message, best score first; :class:`NotFound` when
        the message does not exist or its conversation is soft-deleted."""
        owner = check_uuid(self.table, "message_id", message_id)
        with self._conn() as conn:
            rows = self._q("list_rag_contexts").many(conn, _rag_context, message_id=owner)
            if not rows and self._q("find_live_message").optional(conn, tuple_row, message_id=owner) is None:
                raise not_found("messages", owner)
        return rows


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
