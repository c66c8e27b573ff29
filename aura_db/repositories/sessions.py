"""Client sessions with a heartbeat, swept as stale when it stops (004)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from psycopg.rows import class_row

from ..errors import InvalidValue
from .checks import show

__all__ = ["SessionRow"]


@dataclass(frozen=True, slots=True)
class SessionRow:
    id: uuid.UUID
    client_id: str
    is_active: bool
    last_heartbeat: datetime
    metadata: Any
    created_at: datetime
    updated_at: datetime


_row = class_row(SessionRow)




def _age(field: str, value: object) -> timedelta:
    if not isinstance(value, timedelta) or value < timedelta(0):
        raise InvalidValue(f"sessions.{field}: expected a non-negative timedelta, got {show(value)}")
    return value
