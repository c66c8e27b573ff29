"""Execution audit: agent (LLM) invocations with their token usage, and tool calls (001, 002 §1.4, 004)."""

from __future__ import annotations

import builtins
import enum
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, ClassVar

from psycopg.rows import class_row

from ..errors import InvalidTransition, InvalidValue
from .base import Repository, reads, writes
from .checks import (
    check_bool,
    check_enum,
    check_int,
    check_items,
    check_json,
    check_range,
    check_text,
    check_uuid,
)
from .cursors import Page, newest_first_page, resume_below
from .rows import member

__all__ = [
    "AgentExecution",
    "AgentExecutionRow",
    "AgentExecutionsRepository",
    "ToolExecutionRow",
    "ToolExecutionsRepository",
    "ToolStatus",
    "UsageRow",
]


class ToolStatus(enum.StrEnum):
    PENDING = "Pending"
    RUNNING = "Running"
    COMPLETED = "Completed"
    FAILED = "Failed"
    CANCELLED = "Cancelled"


@dataclass(frozen=True, slots=True)
class AgentExecution:
    """One agent run to record (input of :meth:`AgentExecutionsRepository.record_many`)."""

    agent_id: str
    prompt: str
    success: bool
    provider: str | None = None
    model: str | None = None
    response: str | None = None
    prompt_tokens: int | None = None
    response_tokens: int | None = None
    tokens_used: int | None = None
    duration_ms: int | None = None
    error: str | None = None
    conversation_id: uuid.UUID | str | None = None
    story_step_id: uuid.UUID | str | None = None


@dataclass(frozen=True, slots=True)
class AgentExecutionRow:
    id: uuid.UUID
    agent_id: str
    conversation_id: uuid.UUID | None
    story_step_id: uuid.UUID | None
    provider: str | None
    model: str | None
    prompt: str
    response: str | None
    prompt_tokens: int | None
    response_tokens: int | None
    tokens_used: int | None
    duration_ms: int | None
    success: bool
    error: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class UsageRow:
    """Usage of one provider/model on one UTC day."""

    day: date
    provider: str | None
    model: str | None
    calls: int
    failures: int
    failure_rate: float
    prompt_tokens: int
    response_tokens: int
    tokens: int
    avg_duration_ms: float | None


@dataclass(frozen=True, slots=True)
class ToolExecutionRow:
    id: uuid.UUID
    agent_execution_id: uuid.UUID | None
    tool_name: str
    input: Any
    output: Any
    status: ToolStatus
    error: str | None
    duration_ms: int | None
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", member(ToolStatus, self.status))


_agent_row = class_row(AgentExecutionRow)
_usage_row = class_row(UsageRow)
_tool_row = class_row(ToolExecutionRow)

# AgentExecution field -> array parameter of record_agent_executions (and checks)
_TEXTS: dict[str, tuple[str, bool]] = {
    # field: (array name, required); lengths come from .limits
    "agent_id": ("agent_ids", True),
    "provider": ("providers", False),
    "model": ("models", False),
    "prompt": ("prompts", True),
    "response": ("responses", False),
    "error": ("errors", False),
}
_COUNTS = {"prompt_tokens": "prompt_tokens", "response_tokens": "response_tokens",
           "tokens_used": "tokens_used", "duration_ms": "durations_ms"}
_LINKS = {"conversation_id": "conversation_ids", "story_step_id": "story_step_ids"}


def _columns(runs: Sequence[AgentExecution]) -> dict[str, list[Any]]:
    """Validate each run and transpose the runs into the arrays the insert unnests."""
    table = "agent_executions"
    arrays = [a for a, _ in _TEXTS.values()] + list(_COUNTS.values()) + list(_LINKS.values())
    columns: dict[str, list[Any]] = {name: [] for name in [*arrays, "successes"]}
    for run in check_items(table, "runs", runs, AgentExecution):
        for field, (array, required) in _TEXTS.items():
            value = getattr(run, field)
            columns[array].append(check_text(table, field, value, required=required,
                                             allow_blank=field != "agent_id"))
        for field, array in _COUNTS.items():
            columns[array].append(check_int(table, field, getattr(run, field)))
        for field, array in _LINKS.items():
            value = getattr(run, field)
            columns[array].append(None if value is None else check_uuid(table, field, value))
        columns["successes"].append(check_bool(table, "success", run.success))
    return columns


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
