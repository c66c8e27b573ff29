"""The migration layer: yoyo-format files in ``migrations/<module>/`` applied, rolled back,
verified, planned and linted under one lock. Depends only on the core modules.

- :mod:`.runner` — migrate, rollback, status, verify, plan (the public API, re-exported here);
- :mod:`.files` — the files on disk and their SHA-256; :mod:`.state` — what the database
  recorded, and drift between the two; :mod:`.plan` — the statements a run executes, as data;
- :mod:`.catalog` — what a run applies or rolls back (modules, dependents); :mod:`.session` —
  the locks, orphaned backends and bookkeeping tables around a run;
- :mod:`.lock` — the advisory lock around a run; :mod:`.lint` — squawk plus yoyo-aware checks.
"""

from __future__ import annotations

from .baseline import mark
from .files import MODULES, MigrationInfo, load_migrations, new_migration
from .indexes import IndexDrift
from .lock import LOCK_KEY
from .runner import (
    Plan,
    accept_renames,
    history,
    migrate,
    pending_count,
    plan,
    plan_details,
    rollback,
    status,
    verify,
    verify_indexes,
)
from .settings import MigrationSettings
from .state import Drift, HistoryEntry, MigrationStatus

__all__ = [
    "LOCK_KEY",
    "MODULES",
    "Drift",
    "HistoryEntry",
    "IndexDrift",
    "MigrationInfo",
    "MigrationSettings",
    "MigrationStatus",
    "Plan",
    "accept_renames",
    "history",
    "load_migrations",
    "mark",
    "migrate",
    "new_migration",
    "pending_count",
    "plan",
    "plan_details",
    "rollback",
    "status",
    "verify",
    "verify_indexes",
]
