# WARNING: generated from configurations_async.py by tools/async_to_sync.py: do not edit.
# Change the async source and run `python tools/async_to_sync.py`.
"""The async configurations repository: the source ``tools/async_to_sync.py`` generates
``configurations_sync.py`` from. Its rows, checks and helpers are :mod:`.configurations`'s, shared by both.
"""

from __future__ import annotations

import builtins
from typing import Any, ClassVar

from psycopg.types.json import Jsonb

from .base_sync import Repository, idempotent, reads, writes
from .checks import check_json, check_text, escape_like
from .configurations import ConfigurationRow, _row

__all__ = ["ConfigurationsRepository"]


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
