"""Story steps and their tasks: the plan of a story, run step by step (seed 002 §2.2, 000)."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .rows import member, typed_row

__all__ = ["StepDetail", "StepStatus", "StoryStepRow", "StoryTaskRow"]


class StepStatus(enum.StrEnum):
    PENDING = "Pending"
    RUNNING = "Running"
    COMPLETED = "Completed"
    FAILED = "Failed"
    SKIPPED = "Skipped"


# target -> the statuses a step may move to it from (a failed step may be retried or skipped)
STEP_TRANSITIONS: dict[StepStatus, frozenset[StepStatus]] = {
    StepStatus.RUNNING: frozenset({StepStatus.PENDING, StepStatus.FAILED}),
    StepStatus.COMPLETED: frozenset({StepStatus.RUNNING}),
    StepStatus.FAILED: frozenset({StepStatus.RUNNING}),
    StepStatus.SKIPPED: frozenset({StepStatus.PENDING, StepStatus.FAILED}),
}


@dataclass(frozen=True, slots=True)
class StoryStepRow:
    id: uuid.UUID
    story_id: uuid.UUID
    order: int
    name: str
    capability: str
    description: str | None
    status: StepStatus
    assigned_agent_id: str | None
    attempts: int
    input: Any
    output: Any
    error: str | None
    approval: str | None
    review_feedback: str | None
    wave: int
    started_at: datetime | None
    completed_at: datetime | None
    created_at: datetime
    updated_at: datetime
    created_by: str | None
    updated_by: str | None
    deleted_at: datetime | None
    version: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", member(StepStatus, self.status))


@dataclass(frozen=True, slots=True)
class StoryTaskRow:
    id: uuid.UUID
    step_id: uuid.UUID
    order: int
    description: str
    status: StepStatus
    completed_at: datetime | None
    created_at: datetime
    updated_at: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", member(StepStatus, self.status))


@dataclass(frozen=True, slots=True)
class StepDetail:
    """A step with its tasks in order."""

    step: StoryStepRow
    tasks: tuple[StoryTaskRow, ...]


step_row = typed_row(StoryStepRow)
task_row = typed_row(StoryTaskRow)
_T = "story_steps"



