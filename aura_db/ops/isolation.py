"""``aura-db isolation on|off|status``: row-level security per workspace, switched by the owner.

The policies come from the migrations (foundation 0013, developer 0005: one policy named
``workspace_isolation`` per workspace-scoped table); switching enables or disables row-level
security on exactly the tables that have that policy, in one transaction, so the catalog is the
only list. The owner of the tables is never subject (no FORCE); every other role is while it is
on: a transaction sees and writes the rows of the workspace it is scoped to
(``db.transaction(workspace=...)``, or ``Config.workspace_id``) and nothing without a scope.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

from .._pgerrors import translate
from ..errors import MigrationError

__all__ = ["POLICY", "IsolationState", "isolation_state", "set_isolation"]

POLICY = "workspace_isolation"


@dataclass(frozen=True, slots=True)
class IsolationState:
    """Which tables have the policy and which of them have row-level security on."""

    tables: dict[str, bool]  # table -> row-level security enabled

    @property
    def on(self) -> bool:
        return bool(self.tables) and all(self.tables.values())

    @property
    def mixed(self) -> bool:
        return len(set(self.tables.values())) > 1

    def lines(self) -> list[str]:
        if not self.tables:
            return ["workspace isolation: not available (run aura-db migrate)"]
        state = "mixed" if self.mixed else "on" if self.on else "off"
        out = [f"workspace isolation: {state} ({len(self.tables)} tables)"]
        if self.mixed:
            out += [f"  {t}: {'on' if on else 'off'}" for t, on in self.tables.items()]
        return out


_STATE = (
    "SELECT c.relname, c.relrowsecurity FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid "
    "WHERE p.polname = %s AND c.relnamespace = 'public'::regnamespace ORDER BY c.relname"
)


def isolation_state(url: str) -> IsolationState:
    """Read which workspace-scoped tables have row-level security on (reads only)."""
    try:
        with psycopg.connect(url, autocommit=True, application_name="aura-db isolation") as conn:
            return IsolationState(dict(conn.execute(_STATE, (POLICY,)).fetchall()))
    except psycopg.Error as exc:
        raise translate(exc, "isolation") from exc


def set_isolation(owner_url: str, enabled: bool) -> IsolationState:
    """Enable (or disable) row-level security on every table with the workspace policy, as the
    tables' owner, in one transaction; returns the new state."""
    try:
        return _switch(owner_url, sql.SQL("ENABLE" if enabled else "DISABLE"))
    except psycopg.Error as exc:
        raise translate(exc, "isolation") from exc


def _switch(owner_url: str, action: sql.SQL) -> IsolationState:
    with psycopg.connect(owner_url, application_name="aura-db isolation",
                         options="-c lock_timeout=10000") as conn:
        tables = [t for t, _ in conn.execute(_STATE, (POLICY,)).fetchall()]
        if not tables:
            raise MigrationError("workspace isolation: no table has the workspace_isolation policy "
                                 "yet: run aura-db migrate first")
        for table in tables:
            conn.execute(sql.SQL("ALTER TABLE {} {} ROW LEVEL SECURITY").format(
                sql.Identifier(table), action))
        conn.commit()
        return IsolationState(dict(conn.execute(_STATE, (POLICY,)).fetchall()))
