"""stories: the repository (the async source of ``stories_sync.py``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any, ClassVar, Literal

from psycopg.rows import tuple_row

from ..errors import ConcurrencyConflict, InvalidTransition, InvalidValue
from .base_async import AsyncRepository, reads, writes
from .checks import (
    check_datetime,
    check_enum,
    check_int,
    check_items,
    check_text,
    check_uuid,
    escape_like,
    show,
)
from .cursors import Page, decode_cursor, encode_cursor
from .stories import (
    _CREATE_DEFAULTS,
    _CREATE_FIELDS,
    _ORDERS,
    _UPDATE_FIELDS,
    TRANSITIONS,
    StoryDetail,
    StoryRow,
    StoryStatus,
    _row,
    _value,
)
from .story_steps import StepDetail, step_row, task_row

__all__ = ['AsyncStoriesRepository']


class AsyncStoriesRepository(AsyncRepository):
    """``db.stories``: create, read, list, update with optimistic concurrency, move through
    the status machine, soft-delete."""

    table: ClassVar[str] = "stories"

    @writes
    async def create(self, title: str, **fields: Any) -> StoryRow:
        """Insert a story (status Created). ``fields``: any of the optional creation columns
        (description, repository_path, issue_*, priority, ...)."""
        unknown = sorted(set(fields) - set(_CREATE_FIELDS))
        if unknown:
            raise InvalidValue(f"stories: unknown field(s) for create: {', '.join(unknown)}")
        params = {name: _value(name, fields.get(name, _CREATE_DEFAULTS.get(name)))
                  for name in _CREATE_FIELDS}
        params["title"] = _value("title", title)
        async with self._conn() as conn:
            return await self._q("create_story").aone(conn, _row, **params)

    @reads
    async def get(self, id: uuid.UUID | str) -> StoryRow:
        """The live story with this id; :class:`NotFound` otherwise."""
        story_id = check_uuid(self.table, "id", id)
        async with self._conn() as conn:
            row = await self._q("get_story").aoptional(conn, _row, id=story_id)
        if row is None:
            raise self._not_found(story_id)
        return row

    @reads
    async def get_with_steps(self, id: uuid.UUID | str) -> StoryDetail:
        """The live story with its steps and their tasks, in one round trip (three queries
        pipelined); :class:`NotFound` when there is no such story."""
        story_id = check_uuid(self.table, "id", id)
        async with self._conn() as conn, conn.pipeline():
            story_cur = await self._q("get_story").aexecute(conn, _row, id=story_id)
            steps_cur = await self._q("list_story_steps").aexecute(
                conn, step_row, story_id=story_id, wave=None)
            tasks_cur = await self._q("list_story_tasks_of_story").aexecute(conn, task_row, story_id=story_id)
        story = await story_cur.fetchone()
        if story is None:
            raise self._not_found(story_id)
        tasks: dict[uuid.UUID, list[Any]] = {}
        for task in await tasks_cur.fetchall():
            tasks.setdefault(task.step_id, []).append(task)
        steps = tuple(StepDetail(st, tuple(tasks.get(st.id, ()))) for st in await steps_cur.fetchall())
        return StoryDetail(story, steps)

    def _filters(self, statuses: Iterable[StoryStatus | str] | None, repository_path: str | None,
                 created_from: datetime | None, created_before: datetime | None,
                 title_contains: str | None) -> dict[str, Any]:
        status_list = None if statuses is None else [
            check_enum(self.table, "status", s, StoryStatus).value
            for s in check_items(self.table, "statuses", statuses)]
        check_text(self.table, "repository_path", repository_path, required=False)
        check_text(self.table, "title", title_contains, required=False, allow_blank=True)
        check_datetime(self.table, "created_from", created_from)
        check_datetime(self.table, "created_before", created_before)
        return {
            "statuses": status_list, "repository_path": repository_path,
            "created_from": created_from, "created_before": created_before,
            "title_like": None if title_contains is None else f"%{escape_like(title_contains)}%",
        }

    @reads
    async def list(self, *, statuses: Iterable[StoryStatus | str] | None = None,
                   repository_path: str | None = None, created_from: datetime | None = None,
                   created_before: datetime | None = None, title_contains: str | None = None,
                   order: Literal["newest", "oldest"] = "newest", limit: int = 50,
                   cursor: str | None = None) -> Page[StoryRow]:
        """One page of live stories matching every filter given (``created_from`` inclusive,
        ``created_before`` exclusive, ``title_contains`` case-insensitive and literal), in
        ``order``; pass the page's ``next_cursor`` back to get the next page. Keyset
        pagination: rows inserted meanwhile never make a row appear twice or go missing."""
        if order not in _ORDERS:
            raise InvalidValue(f"stories.order: {show(order)} is not one of {', '.join(_ORDERS)}")
        check_int(self.table, "limit", limit, minimum=1, maximum=1000, required=True)
        after: list[Any] = [None, None]
        if cursor is not None:
            after = decode_cursor(cursor, self.table, (datetime, uuid.UUID))
        params = self._filters(statuses, repository_path, created_from, created_before, title_contains)
        async with self._conn() as conn:
            rows = await self._q(_ORDERS[order]).amany(
                conn, _row, **params, after_created_at=after[0], after_id=after[1], limit=limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        return Page(rows, encode_cursor(rows[-1].created_at, rows[-1].id) if more else None)

    @reads
    async def count(self, *, statuses: Iterable[StoryStatus | str] | None = None,
                    repository_path: str | None = None, created_from: datetime | None = None,
                    created_before: datetime | None = None, title_contains: str | None = None) -> int:
        """How many live stories match the same filters as :meth:`list`."""
        params = self._filters(statuses, repository_path, created_from, created_before, title_contains)
        async with self._conn() as conn:
            return int(await self._q("count_stories").ascalar(conn, **params))

    @writes
    async def update(self, id: uuid.UUID | str, *, version: int, **changes: Any) -> StoryRow:
        """Change the given fields if the story is still at ``version`` (from the row you
        read); raises :class:`ConcurrencyConflict` when someone changed it meanwhile. Status
        changes go through :meth:`transition`."""
        story_id = check_uuid(self.table, "id", id)
        check_int(self.table, "version", version, minimum=1, required=True)
        unknown = sorted(set(changes) - set(_UPDATE_FIELDS))
        if unknown:
            raise InvalidValue(f"stories: {', '.join(unknown)} cannot be updated "
                               f"(status moves through transition())")
        params = {name: _value(name, changes[name]) if name in changes else None
                  for name in _UPDATE_FIELDS}
        async with self._conn() as conn:
            row = await self._q("update_story").aoptional(
                conn, _row, id=story_id, version=version, fields=sorted(changes), **params)
            if row is None:
                await self._explain_refusal(conn, story_id, version)
        assert row is not None
        return row

    @writes
    async def transition(self, id: uuid.UUID | str, status: StoryStatus | str, *,
                         version: int | None = None) -> StoryRow:
        """Move a story to ``status`` along an allowed edge (Created → Analyzing → Analyzed →
        Planning → Planned → Executing → Completed; Failed or Cancelled from any open state).
        Raises :class:`InvalidTransition` otherwise — also for the loser of two racing
        transitions — and :class:`ConcurrencyConflict` when ``version`` is stale."""
        story_id = check_uuid(self.table, "id", id)
        target = check_enum(self.table, "status", status, StoryStatus)
        check_int(self.table, "version", version, minimum=1)
        allowed = sorted(s.value for s in TRANSITIONS[target])
        async with self._conn() as conn:
            row = await self._q("transition_story").aoptional(
                conn, _row, id=story_id, status=target.value, allowed_from=allowed,
                terminal=target.terminal, version=version)
            if row is None:
                await self._explain_refusal(conn, story_id, version, target=target)
        assert row is not None
        return row

    async def _explain_refusal(self, conn: Any, story_id: uuid.UUID, version: int | None,
                               target: StoryStatus | None = None) -> None:
        state = await self._q("get_story_state").aoptional(conn, tuple_row, id=story_id)
        if state is None or state[2]:
            raise self._not_found(story_id)
        current = StoryStatus(state[0])
        if target is not None and current not in TRANSITIONS[target]:
            allowed = ", ".join(sorted(s.value for s in TRANSITIONS[target])) or "nothing"
            raise InvalidTransition(
                f"stories.status: story {story_id} cannot move from {current} to {target} "
                f"(allowed from: {allowed})")
        raise ConcurrencyConflict(
            f"stories.version: story {story_id} is at version {state[1]}, not {version}: "
            f"it changed since you read it; read it again and retry")

    @writes
    async def delete(self, id: uuid.UUID | str) -> None:
        """Soft-delete: the story disappears from reads until restored."""
        story_id = check_uuid(self.table, "id", id)
        async with self._conn() as conn:
            if await self._q("soft_delete_story").aaffected(conn, id=story_id) == 0:
                raise self._not_found(story_id)

    @writes
    async def restore(self, id: uuid.UUID | str) -> None:
        """Undo a soft delete."""
        story_id = check_uuid(self.table, "id", id)
        async with self._conn() as conn:
            if await self._q("restore_story").aaffected(conn, id=story_id) == 0:
                raise self._not_found(story_id, "id (soft-deleted)")

    @writes
    async def purge(self, id: uuid.UUID | str) -> None:
        """Delete for good, with its steps and tasks."""
        story_id = check_uuid(self.table, "id", id)
        async with self._conn() as conn:
            if await self._q("purge_story").aaffected(conn, id=story_id) == 0:
                raise self._not_found(story_id)
