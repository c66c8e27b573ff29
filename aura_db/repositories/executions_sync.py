# WARNING: generated from executions_async.py by tools/async_to_sync.py: do not edit.
# Change the async source and run `python tools/async_to_sync.py`.
"""The async executions repository: the source ``tools/async_to_sync.py`` generates
``executions_sync.py`` from. Its rows, checks and helpers are :mod:`.executions`'s, shared by both.
"""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar

from ..errors import InvalidTransition, InvalidValue
from .base_sync import Repository, reads, writes
from .checks import (
    check_bool,
    check_enum,
    check_int,
    check_json,
    check_range,
    check_text,
    check_uuid,
)
from .cursors import Page, newest_first_page, resume_below
from .executions import (
    AgentExecution,
    AgentExecutionRow,
    ToolExecutionRow,
    ToolStatus,
    UsageRow,
    _agent_row,
    _columns,
    _tool_row,
    _usage_row,
)

__all__ = ["AgentExecutionsRepository", "ToolExecutionsRepository"]


class AgentExecutionsRepository(Repository):
    """``db.agent_executions``: record agent runs (one or a batch), list them, report usage."""

    table: ClassVar[str] = "agent_executions"

    @writes
    def record(self, agent_id: str, prompt: str, *, success: bool, **fields: Any) -> AgentExecutionRow:
        """Record one agent run; ``fields`` are the optional :class:`AgentExecution` fields
        (provider, model, response, token counts, duration_ms, error, conversation_id,
        story_step_id). Raises :class:`InvalidValue` or :class:`NotFound` (unknown link)."""
        try:
            run = AgentExecution(agent_id=agent_id, prompt=prompt, success=success, **fields)
        except TypeError as exc:
            raise InvalidValue(f"{self.table}: {exc}") from None
        return self.record_many([run])[0]

    @writes
    def record_many(self, runs: Sequence[AgentExecution]) -> list[AgentExecutionRow]:
        """Record a batch of agent runs in one statement (all or none); rows in input order."""
        columns = _columns(runs)
        if not runs:
            return []
        with self._conn() as conn:
            return self._q("record_agent_executions").many(conn, _agent_row, **columns)

    @reads
    def get(self, id: uuid.UUID | str) -> AgentExecutionRow:
        """The agent run with this id; :class:`NotFound` otherwise."""
        run_id = check_uuid(self.table, "id", id)
        with self._conn() as conn:
            row = self._q("get_agent_execution").optional(conn, _agent_row, id=run_id)
        if row is None:
            raise self._not_found(run_id)
        return row

    @reads
    def list(self, *, agent_id: str | None = None, model: str | None = None,
             success: bool | None = None, conversation_id: uuid.UUID | str | None = None,
             story_step_id: uuid.UUID | str | None = None, since: datetime | None = None,
             until: datetime | None = None, limit: int = 100,
             cursor: str | None = None) -> Page[AgentExecutionRow]:
        """One page of agent runs, newest first, matching every filter given (agent, model,
        outcome, conversation, story step); the time range is half-open, [since, until). Pass
        ``next_cursor`` back for the next page."""
        check_int(self.table, "limit", limit, minimum=1, maximum=1000, required=True)
        filters = self._filters(agent_id, model, success, conversation_id, story_step_id, since, until)
        with self._conn() as conn:
            rows = self._q("list_agent_executions").many(
                conn, _agent_row, **filters, **resume_below(cursor, self.table),
                limit=limit + 1)
        return newest_first_page(rows, limit)

    @reads
    def count(self, *, agent_id: str | None = None, model: str | None = None,
              success: bool | None = None, conversation_id: uuid.UUID | str | None = None,
              story_step_id: uuid.UUID | str | None = None, since: datetime | None = None,
              until: datetime | None = None) -> int:
        """How many agent runs match the filters of :meth:`list`."""
        filters = self._filters(agent_id, model, success, conversation_id, story_step_id, since, until)
        with self._conn() as conn:
            return int(self._q("count_agent_executions").scalar(conn, **filters))

    def _filters(self, agent_id: object, model: object, success: object, conversation_id: object,
                 story_step_id: object, since: object, until: object) -> dict[str, Any]:
        links = {name: None if value is None else check_uuid(self.table, name, value)
                 for name, value in (("conversation_id", conversation_id),
                                     ("story_step_id", story_step_id))}
        return {"agent_id": check_text(self.table, "agent_id", agent_id, required=False),
                "model": check_text(self.table, "model", model, required=False),
                "success": check_bool(self.table, "success", success, required=False), **links,
                **check_range(self.table, since, until)}

    @reads
    def usage(self, *, since: datetime | None = None, until: datetime | None = None,
              agent_id: str | None = None) -> builtins.list[UsageRow]:
        """Calls, failures (and their rate) and tokens per UTC day, provider and model over
        [since, until), computed by the server; ordered by day, provider, model."""
        check_text(self.table, "agent_id", agent_id, required=False)
        with self._conn() as conn:
            return self._q("agent_usage_report").many(
                conn, _usage_row, agent_id=agent_id, **check_range(self.table, since, until))


class ToolExecutionsRepository(Repository):
    """``db.tool_executions``: record a tool call's start, then its completion or failure."""

    table: ClassVar[str] = "tool_executions"

    @writes
    def start(self, tool_name: str, *, input: Any = None,
              agent_execution_id: uuid.UUID | str | None = None) -> ToolExecutionRow:
        """Record that a tool call started (status Running); ``input`` is any JSON value.

        Raises :class:`NotFound` when ``agent_execution_id`` names no agent run.
        """
        params = {
            "tool_name": check_text(self.table, "tool_name", tool_name),
            "input": check_json(self.table, "input", input),
            "agent_execution_id": None if agent_execution_id is None else check_uuid(
                self.table, "agent_execution_id", agent_execution_id),
        }
        with self._conn() as conn:
            return self._q("start_tool_execution").one(conn, _tool_row, **params)

    @writes
    def complete(self, id: uuid.UUID | str, *, output: Any = None,
                 duration_ms: int | None = None) -> ToolExecutionRow:
        """Mark a running call Completed with its ``output``; the duration defaults to the time
        since it started. Raises :class:`InvalidTransition` when it already finished."""
        return self._finish(id, ToolStatus.COMPLETED, output, None, duration_ms)

    @writes
    def fail(self, id: uuid.UUID | str, error: str, *, output: Any = None,
             duration_ms: int | None = None) -> ToolExecutionRow:
        """Mark a running call Failed with its ``error``; as :meth:`complete` otherwise."""
        check_text(self.table, "error", error)
        return self._finish(id, ToolStatus.FAILED, output, error, duration_ms)

    @writes
    def cancel(self, id: uuid.UUID | str, *, error: str | None = None) -> ToolExecutionRow:
        """Mark a running call Cancelled (with an optional reason); as :meth:`complete` otherwise."""
        check_text(self.table, "error", error, required=False)
        return self._finish(id, ToolStatus.CANCELLED, None, error, None)

    @reads
    def get(self, id: uuid.UUID | str) -> ToolExecutionRow:
        """The tool call with this id; :class:`NotFound` otherwise."""
        call_id = check_uuid(self.table, "id", id)
        with self._conn() as conn:
            row = self._q("get_tool_execution").optional(conn, _tool_row, id=call_id)
        if row is None:
            raise self._not_found(call_id)
        return row

    @reads
    def list_for(self, agent_execution_id: uuid.UUID | str) -> list[ToolExecutionRow]:
        """The tool calls an agent run made, in the order they started."""
        run_id = check_uuid(self.table, "agent_execution_id", agent_execution_id)
        with self._conn() as conn:
            return self._q("list_tool_executions_for_agent_execution").many(
                conn, _tool_row, agent_execution_id=run_id)

    @reads
    def list(self, *, tool_name: str | None = None, status: ToolStatus | str | None = None,
             agent_execution_id: uuid.UUID | str | None = None, since: datetime | None = None,
             until: datetime | None = None, limit: int = 100,
             cursor: str | None = None) -> Page[ToolExecutionRow]:
        """One page of tool calls, newest first, matching every filter given (tool, status, agent
        run); the time range is half-open, [since, until). Pass ``next_cursor`` back for the
        next page."""
        check_int(self.table, "limit", limit, minimum=1, maximum=1000, required=True)
        filters = self._filters(tool_name, status, agent_execution_id, since, until)
        with self._conn() as conn:
            rows = self._q("list_tool_executions").many(
                conn, _tool_row, **filters, **resume_below(cursor, self.table),
                limit=limit + 1)
        return newest_first_page(rows, limit)

    @reads
    def count(self, *, tool_name: str | None = None, status: ToolStatus | str | None = None,
              agent_execution_id: uuid.UUID | str | None = None, since: datetime | None = None,
              until: datetime | None = None) -> int:
        """How many tool calls match the filters of :meth:`list`."""
        filters = self._filters(tool_name, status, agent_execution_id, since, until)
        with self._conn() as conn:
            return int(self._q("count_tool_executions").scalar(conn, **filters))

    def _filters(self, tool_name: object, status: object, agent_execution_id: object,
                 since: object, until: object) -> dict[str, Any]:
        return {"tool_name": check_text(self.table, "tool_name", tool_name, required=False),
                "status": None if status is None else check_enum(self.table, "status", status,
                                                                 ToolStatus).value,
                "agent_execution_id": None if agent_execution_id is None else check_uuid(
                    self.table, "agent_execution_id", agent_execution_id),
                **check_range(self.table, since, until)}

    def _finish(self, id: uuid.UUID | str, status: ToolStatus, output: Any, error: str | None,
                duration_ms: int | None) -> ToolExecutionRow:
        call_id = check_uuid(self.table, "id", id)
        params = {"output": check_json(self.table, "output", output),
                  "duration_ms": check_int(self.table, "duration_ms", duration_ms)}
        with self._conn() as conn:
            row = self._q("finish_tool_execution").optional(
                conn, _tool_row, id=call_id, status=status.value, error=error, **params)
        if row is None:
            current = self.get(call_id)  # raises NotFound
            raise InvalidTransition(
                f"{self.table}: call {call_id} is already {current.status}, it cannot become {status}")
        return row
