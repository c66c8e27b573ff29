"""Configurations: run-time settings, a key -> JSON value store (004)."""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from .base import Repository, idempotent, reads, writes
from .checks import check_json, check_text, escape_like

__all__ = ["ConfigurationRow", "ConfigurationsRepository"]


@dataclass(frozen=True, slots=True)
class ConfigurationRow:
    key: str
    value: Any
    updated_at: datetime


_row = class_row(ConfigurationRow)


class ConfigurationsRepository(Repository):
    """``db.configurations``: get, set, delete and list JSON settings by key."""

    table: ClassVar[str] = "configurations"

    @reads
    def get(self, key: str, default: Any = None) -> Any:
        """The value stored under ``key`` (JSON loaded as Python), or ``default`` when there is
        no such key (a stored JSON ``null`` is returned as None, not as the default)."""
        row = self.find(key)
        return default if row is None else row.value

    @reads
    def find(self, key: str) -> ConfigurationRow | None:
        """The setting under ``key`` with its update time, or None."""
        with self._conn() as conn:
            return self._q("get_configuration").optional(conn, _row, key=self._key(key))

    @idempotent
    def set(self, key: str, value: Any) -> ConfigurationRow:
        """Store ``value`` (any JSON value, None stores JSON null) under ``key``, replacing it."""
        checked = check_json(self.table, "value", value)
        with self._conn() as conn:
            return self._q("set_configuration").one(
                conn, _row, key=self._key(key), value=Jsonb(None) if checked is None else checked)

    @writes
    def delete(self, key: str) -> bool:
        """Remove the setting; True when it existed."""
        with self._conn() as conn:
            return self._q("delete_configuration").affected(conn, key=self._key(key)) == 1

    @reads
    def list(self, *, prefix: str | None = None) -> builtins.list[ConfigurationRow]:
        """Every setting, or those whose key starts with ``prefix`` (literally), by key."""
        check_text(self.table, "key", prefix, required=False, allow_blank=True)
        key_like = None if prefix is None else escape_like(prefix) + "%"
        with self._conn() as conn:
            return self._q("list_configurations").many(conn, _row, key_like=key_like)

    def _key(self, key: str) -> str:
        return str(check_text(self.table, "key", key))
