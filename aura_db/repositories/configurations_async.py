"""The async configurations repository: the source ``tools/async_to_sync.py`` generates
``configurations_sync.py`` from. Its rows, checks and helpers are :mod:`.configurations`'s, shared by both.
"""

from __future__ import annotations

import builtins
from typing import Any, ClassVar

from psycopg.types.json import Jsonb

from .base_async import AsyncRepository, idempotent, reads, writes
from .checks import check_json, check_text, escape_like
from .configurations import ConfigurationRow, _row

__all__ = ["AsyncConfigurationsRepository"]


class AsyncConfigurationsRepository(AsyncRepository):
    """``db.configurations``: get, set, delete and list JSON settings by key."""

    table: ClassVar[str] = "configurations"

    @reads
    async def get(self, key: str, default: Any = None) -> Any:
        """The value stored under ``key`` (JSON loaded as Python), or ``default`` when there is
        no such key (a stored JSON ``null`` is returned as None, not as the default)."""
        row = await self.find(key)
        return default if row is None else row.value

    @reads
    async def find(self, key: str) -> ConfigurationRow | None:
        """The setting under ``key`` with its update time, or None."""
        async with self._conn() as conn:
            return await self._q("get_configuration").aoptional(conn, _row, key=self._key(key))

    @idempotent
    async def set(self, key: str, value: Any) -> ConfigurationRow:
        """Store ``value`` (any JSON value, None stores JSON null) under ``key``, replacing it."""
        checked = check_json(self.table, "value", value)
        async with self._conn() as conn:
            return await self._q("set_configuration").aone(
                conn, _row, key=self._key(key), value=Jsonb(None) if checked is None else checked)

    @writes
    async def delete(self, key: str) -> bool:
        """Remove the setting; True when it existed."""
        async with self._conn() as conn:
            return await self._q("delete_configuration").aaffected(conn, key=self._key(key)) == 1

    @reads
    async def list(self, *, prefix: str | None = None) -> builtins.list[ConfigurationRow]:
        """Every setting, or those whose key starts with ``prefix`` (literally), by key."""
        check_text(self.table, "key", prefix, required=False, allow_blank=True)
        key_like = None if prefix is None else escape_like(prefix) + "%"
        async with self._conn() as conn:
            return await self._q("list_configurations").amany(conn, _row, key_like=key_like)

    def _key(self, key: str) -> str:
        return str(check_text(self.table, "key", key))
