# WARNING: generated from story_steps_async.py by tools/async_to_sync.py: do not edit.
# Change the async source and run `python tools/async_to_sync.py`.
"""The async story_steps repository: the source ``tools/async_to_sync.py`` generates
``story_steps_sync.py`` from. Its rows, checks and helpers are :mod:`.story_steps`'s, shared by both.
"""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

from psycopg.rows import tuple_row

from ..errors import ConcurrencyConflict, InvalidTransition, InvalidValue
from .base import not_found
from .base_sync import Repository, reads, writes
from .checks import check_enum, check_int, check_items, check_json, check_text, check_uuid, show
from .story_steps import _T, STEP_TRANSITIONS, StepStatus, StoryStepRow, StoryTaskRow, step_row, task_row

__all__ = ["StoryStepsRepository"]


class StoryStepsRepository(Repository):
    """``db.story_steps``: add and reorder steps, run them (start/complete/fail/skip), review
    them, and manage the tasks under each step."""

    table: ClassVar[str] = _T

    @writes
    def add(self, story_id: uuid.UUID | str, *, name: str, capability: str,
            description: str | None = None, input: Any = None, wave: int = 0) -> StoryStepRow:
        """Append a step after the story's last one (its order is assigned here; concurrent
        additions to one story serialize on the story row)."""
        sid = check_uuid("stories", "id", story_id)
        check_text(_T, "name", name)
        check_text(_T, "capability", capability)
        check_text(_T, "description", description, required=False)
        check_int(_T, "wave", wave, required=True)
        with self._conn() as conn, conn.pipeline(), conn.transaction():
            self._q("lock_story_for_steps").execute(conn, tuple_row, story_id=sid)
            cur = self._q("add_story_step").execute(
                conn, step_row, story_id=sid, name=name, capability=capability,
                description=description, input=check_json(_T, "input", input), wave=wave)
        row = cur.fetchone()
        if row is None:
            raise not_found("stories", sid)
        return row

    @reads
    def get(self, id: uuid.UUID | str) -> StoryStepRow:
        """A live step of a live story; :class:`NotFound` otherwise."""
        step_id = check_uuid(_T, "id", id)
        with self._conn() as conn:
            row = self._q("get_story_step").optional(conn, step_row, id=step_id)
        if row is None:
            raise self._not_found(step_id)
        return row

    @reads
    def list(self, story_id: uuid.UUID | str, *, wave: int | None = None) -> list[StoryStepRow]:
        """The live steps of a live story in order; only those of ``wave`` when given.
        :class:`NotFound` for a missing or soft-deleted story."""
        sid = check_uuid("stories", "id", story_id)
        check_int(_T, "wave", wave)
        with self._conn() as conn:
            rows = self._q("list_story_steps").many(conn, step_row, story_id=sid, wave=wave)
            if not rows and self._q("get_story").optional(conn, tuple_row, id=sid) is None:
                raise not_found("stories", sid)
        return rows

    @writes
    def reorder(self, story_id: uuid.UUID | str, step_ids: Sequence[uuid.UUID | str]) -> None:
        """Renumber the story's steps in the order given, atomically; ``step_ids`` must be
        exactly the story's live steps, else :class:`InvalidValue` and nothing changes."""
        sid = check_uuid("stories", "id", story_id)
        ids = [check_uuid(_T, "id", s) for s in check_items(_T, "step_ids", step_ids)]
        if len(set(ids)) != len(ids):
            raise InvalidValue(f"{_T}.id: a step appears twice in the new order")
        with self._conn() as conn, conn.transaction():
            if self._q("lock_story_for_steps").optional(conn, tuple_row, story_id=sid) is None:
                raise not_found("stories", sid)
            changed = self._q("reorder_story_steps").affected(conn, story_id=sid, ids=ids)
        if changed != len(ids) or not ids:
            raise InvalidValue(
                f"{_T}.order: the new order must list every live step of story {sid} exactly once "
                f"(got {len(ids)} ids)")

    @writes
    def start(self, id: uuid.UUID | str, *, agent_id: str | None = None,
              version: int | None = None) -> StoryStepRow:
        """Pending or Failed → Running: counts an attempt, stamps started_at."""
        check_text(_T, "assigned_agent_id", agent_id, required=False)
        return self._move(id, StepStatus.RUNNING, version=version, agent_id=agent_id)

    @writes
    def complete(self, id: uuid.UUID | str, output: Any = None, *,
                 version: int | None = None) -> StoryStepRow:
        """Running → Completed with its output (JSON)."""
        return self._move(id, StepStatus.COMPLETED, version=version,
                          output=check_json(_T, "output", output))

    @writes
    def fail(self, id: uuid.UUID | str, error: str, *, version: int | None = None) -> StoryStepRow:
        """Running → Failed with the error text."""
        check_text(_T, "error", error)
        return self._move(id, StepStatus.FAILED, version=version, error=error)

    @writes
    def skip(self, id: uuid.UUID | str, *, version: int | None = None) -> StoryStepRow:
        """Pending or Failed → Skipped."""
        return self._move(id, StepStatus.SKIPPED, version=version)

    def _move(self, id: uuid.UUID | str, status: StepStatus, *, version: int | None,
              agent_id: str | None = None, output: Any = None,
              error: str | None = None) -> StoryStepRow:
        step_id = check_uuid(_T, "id", id)
        check_int(_T, "version", version, minimum=1)
        allowed = sorted(s.value for s in STEP_TRANSITIONS[status])
        with self._conn() as conn:
            row = self._q("set_story_step_status").optional(
                conn, step_row, id=step_id, status=status.value, allowed_from=allowed,
                version=version, agent_id=agent_id, output=output, error=error)
            if row is None:
                state = self._q("get_story_step_state").optional(conn, tuple_row, id=step_id)
        if row is not None:
            return row
        if state is None:
            raise self._not_found(step_id)
        current = StepStatus(state[0])
        if current not in STEP_TRANSITIONS[status]:
            raise InvalidTransition(
                f"{_T}.status: step {step_id} cannot move from {current} to {status} "
                f"(allowed from: {', '.join(allowed)})")
        raise ConcurrencyConflict(f"{_T}.version: step {step_id} is at version {state[1]}, not {version}")

    @writes
    def review(self, id: uuid.UUID | str, decision: Literal["Approved", "Rejected"],
               feedback: str | None = None) -> StoryStepRow:
        """Approve or reject a Completed step with feedback; a rejected step returns to Pending
        so it can run again."""
        step_id = check_uuid(_T, "id", id)
        if decision not in ("Approved", "Rejected"):
            raise InvalidValue(f"{_T}.approval: {show(decision)} is not one of Approved, Rejected")
        check_text(_T, "review_feedback", feedback, required=False)
        with self._conn() as conn:
            row = self._q("review_story_step").optional(
                conn, step_row, id=step_id, approval=decision, feedback=feedback)
            if row is None:
                state = self._q("get_story_step_state").optional(conn, tuple_row, id=step_id)
        if row is not None:
            return row
        if state is None:
            raise self._not_found(step_id)
        raise InvalidTransition(f"{_T}.approval: step {step_id} is {state[0]}, only a Completed step "
                                f"can be reviewed")

    @writes
    def approve(self, id: uuid.UUID | str, feedback: str | None = None) -> StoryStepRow:
        """Approve a Completed step."""
        return self.review(id, "Approved", feedback)

    @writes
    def reject(self, id: uuid.UUID | str, feedback: str) -> StoryStepRow:
        """Reject a Completed step with feedback; it goes back to Pending."""
        return self.review(id, "Rejected", feedback)

    @writes
    def delete(self, id: uuid.UUID | str) -> None:
        """Soft-delete one step (its tasks go with it; :meth:`restore` brings both back)."""
        step_id = check_uuid(_T, "id", id)
        with self._conn() as conn:
            if self._q("delete_story_step").affected(conn, id=step_id) == 0:
                raise self._not_found(step_id)

    @writes
    def restore(self, id: uuid.UUID | str) -> None:
        """Undo the soft delete of a step of a live story."""
        step_id = check_uuid(_T, "id", id)
        with self._conn() as conn:
            if self._q("restore_story_step").affected(conn, id=step_id) == 0:
                raise self._not_found(step_id, "id (soft-deleted, of a live story)")

    # -- tasks --------------------------------------------------------------------------------

    @writes
    def add_task(self, step_id: uuid.UUID | str, description: str) -> StoryTaskRow:
        """Append a task to a live step."""
        sid = check_uuid(_T, "id", step_id)
        check_text("story_tasks", "description", description)
        with self._conn() as conn, conn.pipeline(), conn.transaction():
            self._q("lock_story_step_for_tasks").execute(conn, tuple_row, step_id=sid)
            cur = self._q("add_story_task").execute(
                conn, task_row, step_id=sid, description=description)
        row = cur.fetchone()
        if row is None:
            raise self._not_found(sid)
        return row

    @reads
    def tasks(self, step_id: uuid.UUID | str) -> builtins.list[StoryTaskRow]:
        """The tasks of a live step of a live story, in order; :class:`NotFound` otherwise."""
        sid = check_uuid(_T, "id", step_id)
        with self._conn() as conn:
            rows = self._q("list_story_tasks").many(conn, task_row, step_id=sid)
            if not rows and self._q("get_story_step").optional(conn, step_row, id=sid) is None:
                raise self._not_found(sid)
        return rows

    @writes
    def set_task_status(self, task_id: uuid.UUID | str, status: StepStatus | str) -> StoryTaskRow:
        """Set a task's status (any of the step statuses)."""
        tid = check_uuid("story_tasks", "id", task_id)
        target = check_enum("story_tasks", "status", status, StepStatus)
        with self._conn() as conn:
            row = self._q("set_story_task_status").optional(
                conn, task_row, id=tid, status=target.value)
        if row is None:
            raise not_found("story_tasks", tid)
        return row
