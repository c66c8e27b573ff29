"""The async sessions repository: the source ``tools/async_to_sync.py`` generates
``sessions_sync.py`` from. Its rows, checks and helpers are :mod:`.sessions`'s, shared by both.
"""

from __future__ import annotations

import builtins
import uuid
from datetime import datetime, timedelta
from typing import Any, ClassVar

from ..errors import AlreadyExists
from .base_async import AsyncRepository, idempotent, reads, writes
from .checks import check_bool, check_int, check_json, check_range, check_text, check_uuid, show
from .cursors import Page, newest_first_page, resume_below
from .sessions import SessionRow, _age, _row

__all__ = ["AsyncSessionsRepository"]


class AsyncSessionsRepository(AsyncRepository):
    """``db.sessions``: heartbeats, active sessions, closing and sweeping stale ones."""

    table: ClassVar[str] = "sessions"

    @idempotent
    async def heartbeat(self, client_id: str, *, session_id: uuid.UUID | str | None = None,
                        metadata: Any = None) -> SessionRow:
        """Record a heartbeat of ``session_id`` (opening a new session when it is None or
        unknown): the session becomes active, its metadata is replaced when given.

        Raises :class:`AlreadyExists` when the session belongs to another client.
        """
        params = {
            "client_id": check_text(self.table, "client_id", client_id),
            "id": None if session_id is None else check_uuid(self.table, "id", session_id),
            "metadata": check_json(self.table, "metadata", metadata),
        }
        async with self._conn() as conn:
            row = await self._q("heartbeat_session").aoptional(conn, _row, **params)
        if row is None:
            raise AlreadyExists(
                f"{self.table}: session {params['id']} belongs to another client than {show(client_id)}")
        return row

    @reads
    async def get(self, id: uuid.UUID | str) -> SessionRow:
        """The session with this id, active or not; :class:`NotFound` otherwise."""
        session_id = check_uuid(self.table, "id", id)
        async with self._conn() as conn:
            row = await self._q("get_session").aoptional(conn, _row, id=session_id)
        if row is None:
            raise self._not_found(session_id)
        return row

    @reads
    async def list_active(self, *, client_id: str | None = None) -> builtins.list[SessionRow]:
        """Active sessions (of one client, if given), latest heartbeat first."""
        check_text(self.table, "client_id", client_id, required=False)
        async with self._conn() as conn:
            return await self._q("list_active_sessions").amany(conn, _row, client_id=client_id)

    @reads
    async def list(self, *, client_id: str | None = None, active: bool | None = None,
                   since: datetime | None = None, until: datetime | None = None, limit: int = 100,
                   cursor: str | None = None) -> Page[SessionRow]:
        """One page of sessions, newest first, matching every filter given: one client, active
        or not, opened in [since, until). Pass ``next_cursor`` back for the next page."""
        check_int(self.table, "limit", limit, minimum=1, maximum=1000, required=True)
        async with self._conn() as conn:
            rows = await self._q("list_sessions").amany(
                conn, _row, **self._filters(client_id, active, since, until),
                **resume_below(cursor, self.table), limit=limit + 1)
        return newest_first_page(rows, limit)

    @reads
    async def count(self, *, client_id: str | None = None, active: bool | None = None,
                    since: datetime | None = None, until: datetime | None = None) -> int:
        """How many sessions match the filters of :meth:`list`."""
        filters = self._filters(client_id, active, since, until)
        async with self._conn() as conn:
            return int(await self._q("count_sessions").ascalar(conn, **filters))

    def _filters(self, client_id: object, active: object, since: object, until: object) -> dict[str, Any]:
        return {"client_id": check_text(self.table, "client_id", client_id, required=False),
                "active": check_bool(self.table, "active", active, required=False),
                **check_range(self.table, since, until)}

    @writes
    async def end(self, id: uuid.UUID | str) -> bool:
        """Close a session; True when it was active, False when already closed.

        Raises :class:`NotFound` when there is no such session.
        """
        session_id = check_uuid(self.table, "id", id)
        async with self._conn() as conn:
            if await self._q("end_session").aaffected(conn, id=session_id) == 1:
                return True
        await self.get(session_id)  # raises NotFound
        return False

    @writes
    async def mark_stale(self, timeout: timedelta) -> int:
        """Mark active sessions without a heartbeat for longer than ``timeout`` inactive;
        returns how many."""
        async with self._conn() as conn:
            return await self._q("mark_stale_sessions").aaffected(conn, timeout=_age("timeout", timeout))

    @writes
    async def purge(self, older_than: timedelta) -> int:
        """Delete inactive sessions whose last heartbeat is older than ``older_than``;
        returns how many."""
        async with self._conn() as conn:
            return await self._q("purge_inactive_sessions").aaffected(
                conn, older_than=_age("older_than", older_than))
