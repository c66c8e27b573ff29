# WARNING: generated from conversations_async.py by tools/async_to_sync.py: do not edit.
# Change the async source and run `python tools/async_to_sync.py`.
"""The async conversations repository: the source ``tools/async_to_sync.py`` generates
``conversations_sync.py`` from. Its rows, checks and helpers are :mod:`.conversations`'s, shared by both.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import ClassVar

from psycopg.rows import dict_row, tuple_row

from ..errors import ConcurrencyConflict, NotFound
from .base import not_found
from .base_sync import Repository, reads, writes
from .checks import check_enum, check_int, check_text, check_uuid, escape_like
from .conversations import (
    _CONVERSATION_FIELDS,
    _MESSAGE_FIELDS,
    ConversationRow,
    ConversationWithMessages,
    MessageRole,
    MessageRow,
    RagContext,
    RagContextRow,
    _conversation,
    _message,
    _rag_columns,
    _rag_context,
)
from .cursors import Page, decode_cursor, encode_cursor, newest_first_page, resume_below

__all__ = ["ConversationsRepository", "MessagesRepository"]


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
            if not rows and self._q("get_conversation").optional(
                    conn, _conversation, id=owner) is None:
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
            if not rows and self._q("find_live_message").optional(
                    conn, tuple_row, message_id=owner) is None:
                raise not_found("messages", owner)
        return rows
