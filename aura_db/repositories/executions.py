"""Execution audit: agent (LLM) invocations with their token usage, and tool calls (001, 002 §1.4, 004)."""

from __future__ import annotations

import enum
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from psycopg.rows import class_row

from .checks import (
    check_bool,
    check_int,
    check_items,
    check_text,
    check_uuid,
)
from .rows import member

__all__ = [
    "AgentExecution",
    "AgentExecutionRow",
    "ToolExecutionRow",
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




