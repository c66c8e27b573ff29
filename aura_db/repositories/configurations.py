"""Configurations: run-time settings, a key -> JSON value store (004)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.rows import class_row

__all__ = ["ConfigurationRow"]


@dataclass(frozen=True, slots=True)
class ConfigurationRow:
    key: str
    value: Any
    updated_at: datetime


_row = class_row(ConfigurationRow)


