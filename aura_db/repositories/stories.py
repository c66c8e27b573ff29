"""Stories: the work items agents carry out, with their status machine (seed 002 §2.1, 000)."""

from __future__ import annotations

import enum
import itertools
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .checks import (
    check_bool,
    check_int,
    check_json,
    check_text,
)
from .rows import member, typed_row
from .story_steps import StepDetail

__all__ = ["TRANSITIONS", "StoryDetail", "StoryRow", "StoryStatus"]


class StoryStatus(enum.StrEnum):
    CREATED = "Created"
    ANALYZING = "Analyzing"
    ANALYZED = "Analyzed"
    PLANNING = "Planning"
    PLANNED = "Planned"
    EXECUTING = "Executing"
    COMPLETED = "Completed"
    FAILED = "Failed"
    CANCELLED = "Cancelled"

    @property
    def terminal(self) -> bool:
        return self in (StoryStatus.COMPLETED, StoryStatus.FAILED, StoryStatus.CANCELLED)


_S = StoryStatus
_FORWARD = [_S.CREATED, _S.ANALYZING, _S.ANALYZED, _S.PLANNING, _S.PLANNED, _S.EXECUTING, _S.COMPLETED]
_OPEN = frozenset(s for s in _S if not s.terminal)

# target status -> the statuses a story may move to it from
TRANSITIONS: dict[StoryStatus, frozenset[StoryStatus]] = {
    **{to: frozenset({frm}) for frm, to in itertools.pairwise(_FORWARD)},
    _S.CREATED: frozenset(),
    _S.FAILED: _OPEN,
    _S.CANCELLED: _OPEN,
}


@dataclass(frozen=True, slots=True)
class StoryRow:
    id: uuid.UUID
    title: str
    description: str | None
    repository_path: str | None
    status: StoryStatus
    worktree_path: str | None
    git_branch: str | None
    analyzed_context: Any
    execution_plan: Any
    issue_url: str | None
    issue_provider: str | None
    issue_number: int | None
    issue_owner: str | None
    issue_repo: str | None
    automation_mode: str
    dispatch_target: str
    source: str
    source_guardian_id: str | None
    pattern_name: str | None
    pattern_language: str | None
    priority: str
    suggested_capability: str | None
    chat_history: Any
    verification_passed: bool | None
    verification_result: Any
    current_wave: int
    gate_mode: str
    gate_result: Any
    max_parallelism: int
    pull_request_url: str | None
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None
    created_by: str | None
    updated_by: str | None
    deleted_at: datetime | None
    version: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", member(StoryStatus, self.status))


_row = typed_row(StoryRow)


@dataclass(frozen=True, slots=True)
class StoryDetail:
    """A story with its live steps in order, each with its tasks in order."""

    story: StoryRow
    steps: tuple[StepDetail, ...]

# field -> kind for create/update validation: text | int | json | bool (text lengths: .limits)
_FIELDS: dict[str, str] = {
    "title": "text", "description": "text", "repository_path": "text", "worktree_path": "text",
    "git_branch": "text", "issue_url": "text", "issue_provider": "text", "issue_number": "int",
    "issue_owner": "text", "issue_repo": "text", "automation_mode": "text", "dispatch_target": "text",
    "source": "text", "source_guardian_id": "text", "priority": "text", "pattern_name": "text",
    "pattern_language": "text", "suggested_capability": "text", "max_parallelism": "int",
    "gate_mode": "text", "analyzed_context": "json", "execution_plan": "json", "chat_history": "json",
    "verification_passed": "bool", "verification_result": "json", "current_wave": "int",
    "gate_result": "json", "pull_request_url": "text",
}
_CREATE_DEFAULTS: dict[str, Any] = {
    "automation_mode": "Assisted", "dispatch_target": "CopilotCli", "source": "User",
    "priority": "Medium", "max_parallelism": 4, "gate_mode": "AutoProceed",
}
_CREATE_FIELDS = (
    "description", "repository_path", "worktree_path", "git_branch", "issue_url", "issue_provider",
    "issue_number", "issue_owner", "issue_repo", "automation_mode", "dispatch_target", "source",
    "source_guardian_id", "priority", "pattern_name", "pattern_language", "suggested_capability",
    "max_parallelism", "gate_mode",
)
_REQUIRED = {"title", "automation_mode", "dispatch_target", "source", "priority", "max_parallelism",
             "gate_mode", "current_wave"}
# provenance is fixed at creation; status moves only through transition()
_UPDATE_FIELDS = tuple(f for f in _FIELDS if f not in ("source", "source_guardian_id"))
_ORDERS = {"newest": "list_stories_newest", "oldest": "list_stories_oldest"}


def _value(field: str, value: Any) -> Any:
    """Validate one story field before the round trip and adapt it for sending."""
    kind = _FIELDS[field]
    required = field in _REQUIRED
    if kind == "text":
        return check_text("stories", field, value, required=required)
    if kind == "int":
        minimum = 1 if field in ("issue_number", "max_parallelism") else 0
        return check_int("stories", field, value, minimum=minimum, required=required)
    if kind == "bool":
        return check_bool("stories", field, value, required=False)
    return check_json("stories", field, value)


