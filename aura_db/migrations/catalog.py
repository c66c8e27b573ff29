"""What a run will do: the migrations on disk as yoyo objects (dependencies, order), the
pending ones to apply, and the module-aware choice of what a rollback undoes.

A rollback undoes migrations of one module: the newest ``steps`` of it, or those applied after a
target (in the target's module). Applied migrations that depend on what it removes, or a
``steps`` rollback spanning several modules with none named, are refused with the full list
unless ``cascade``.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from yoyo import exceptions as yoyo_exceptions
from yoyo import read_migrations
from yoyo.migrations import ancestors, topological_sort

from .. import resources
from ..errors import MigrationError
from . import plan as mp
from .files import MODULES, load_migrations
from .state import Drift, State

__all__ = ["Catalog", "destroys_data", "module_of", "pending_ops", "rollback_ops", "with_dependents"]

logger = logging.getLogger(__name__)


class Catalog:
    """The migrations on disk: our records (hashes, files) and yoyo's objects (dependencies)."""

    def __init__(self, directory: Path | None) -> None:
        root = resources.migrations_dir() if directory is None else directory
        self.infos = {i.id: i for i in load_migrations(root)}
        sources = [str(root / m) for m in MODULES if (root / m).is_dir()]
        try:
            self.yoyo = {m.id: m for m in read_migrations(*sources)}
            for m in self.yoyo.values():
                m.load()
        except yoyo_exceptions.MigrationConflict as exc:
            raise MigrationError(f"conflicting migration id {exc}") from exc
        except yoyo_exceptions.BadMigration as exc:
            raise MigrationError(f"bad migration: {exc}") from exc

    def ordered(self, ids: set[str]) -> list[str]:
        """``ids`` in dependency order (yoyo's topological sort)."""
        try:
            return [m.id for m in topological_sort(self.yoyo[i] for i in self.infos if i in ids)]
        except yoyo_exceptions.BadMigration as exc:
            raise MigrationError(str(exc)) from exc

    def with_ancestors(self, mid: str) -> set[str]:
        if mid not in self.infos:
            raise MigrationError(f"no migration {mid!r} on disk (see 'aura-db status')")
        return {mid} | {m.id for m in ancestors(self.yoyo[mid], self.yoyo.values())}

    def operation(self, mid: str, direction: mp.Direction, *, force: bool = False) -> mp.Operation:
        info = self.infos[mid]
        if direction == "apply" and not info.up_statements():
            raise MigrationError(f"migration {mid!r} ({info.path}) has no statement: write what it "
                                 f"changes, or delete it (and its rollback file)")
        if direction == "rollback" and info.rollback_path is not None and not info.down_statements():
            raise MigrationError(f"the rollback file of {mid!r} ({info.rollback_path}) has no "
                                 f"statement: write what undoes it")
        if direction == "apply":
            path: Path | None = info.path
        elif info.rollback_path is None and not force:
            raise MigrationError(
                f"migration {mid!r} has no rollback file {info.path.with_name(mid + '.rollback.sql')}: "
                f"write it, or pass --force to only unmark the migration (its changes stay)"
            )
        else:
            path = info.rollback_path
        return mp.Operation(
            migration_id=mid, module=info.module, direction=direction,
            transactional=info.transactional, path=path,
            statements=info.up_statements() if direction == "apply" else info.down_statements(),
            up_sha256=info.up_sha256, down_sha256=info.down_sha256,
        )


# -- a run ----------------------------------------------------------------------------------------



def pending_ops(catalog: Catalog, state: State, target: str | None,
             drift: list[Drift]) -> list[mp.Operation]:
    renamed = {d.new_id for d in drift if d.new_id}  # a renamed file is never applied again
    wanted = set(catalog.infos) if target is None else catalog.with_ancestors(target)
    todo = {mid for mid in wanted if mid not in state.applied and mid not in renamed}
    return [catalog.operation(mid, "apply") for mid in catalog.ordered(todo)]



_DESTRUCTIVE = re.compile(
    r"\b(DROP\s+(TABLE|COLUMN|SCHEMA|MATERIALIZED\s+VIEW)|TRUNCATE|DELETE\s+FROM)\b", re.IGNORECASE)


def destroys_data(op: mp.Operation) -> bool:
    """True when the operation's statements drop tables, columns or schemas, or delete rows:
    a rollback a safety backup should precede."""
    return any(_DESTRUCTIVE.search(statement) for statement in op.statements)



def module_of(catalog: Catalog, state: State, mid: str) -> str:
    info = catalog.infos.get(mid)
    if info is not None:
        return info.module
    record = state.files.get(mid)
    return record.module if record is not None else "?"


def rollback_ops(catalog: Catalog, state: State, steps: int | None, target: str | None,
                  force: bool, *, module: str | None = None, cascade: bool = False) -> list[mp.Operation]:
    if steps is not None and target is not None:
        raise MigrationError("pass either steps or a target to roll back to, not both")
    if module is not None and module not in MODULES:
        raise MigrationError(f"no module {module!r}: the modules are {', '.join(MODULES)}")
    order = state.applied_order
    if target is not None:
        if target not in state.applied:
            raise MigrationError(f"migration {target!r} is not applied: nothing to roll back to")
        target_module = module_of(catalog, state, target)
        if module is not None and module != target_module:
            raise MigrationError(f"migration {target!r} is in module {target_module!r}, not {module!r}")
        module = target_module
        own = [mid for mid in order if module_of(catalog, state, mid) == module]
        chosen = own[own.index(target) + 1:]
    else:
        steps = 1 if steps is None else steps
        if steps < 1:
            raise MigrationError(f"steps must be >= 1, got {steps!r}")
        own = order if module is None else [mid for mid in order if module_of(catalog, state, mid) == module]
        chosen = own[-steps:]
    chosen = with_dependents(catalog, state, chosen, module, cascade)
    missing = [mid for mid in chosen if mid not in catalog.infos]
    if missing:
        raise MigrationError(
            f"applied migration {missing[0]!r} has no file any more: restore it from version "
            f"control before rolling it back"
        )
    return [catalog.operation(mid, "rollback", force=force) for mid in reversed(chosen)]


def with_dependents(catalog: Catalog, state: State, chosen: list[str], module: str | None,
                     cascade: bool) -> list[str]:
    """``chosen`` and every applied migration depending on one of them, in applied order;
    refused (unless ``cascade``) when that reaches beyond ``chosen`` or spans several modules
    with none named."""
    picked = set(chosen)
    applied = [mid for mid in state.applied_order if mid in catalog.yoyo]
    dependents = [mid for mid in applied if mid not in picked and any(
        a.id in picked for a in ancestors(catalog.yoyo[mid], catalog.yoyo.values()))]
    modules = sorted({module_of(catalog, state, mid) for mid in chosen})
    if not dependents and (module is not None or len(modules) <= 1):
        return chosen
    everything = [mid for mid in state.applied_order if mid in picked or mid in dependents]
    listing = ", ".join(f"{module_of(catalog, state, mid)}/{mid}" for mid in reversed(everything))
    if not cascade:
        if dependents:
            why = (f"{len(dependents)} applied migration(s) depend on what it removes "
                   f"({', '.join(dependents[:6])})")
        else:
            why = f"it spans the modules {' and '.join(modules)} and no --module was named"
        raise MigrationError(
            f"refusing to roll back {len(chosen)} migration(s): {why}; it would undo "
            f"{len(everything)}: {listing}. Pass --cascade to undo all of them, or name the "
            f"module (--module) and fewer steps")
    logger.warning("rollback cascades through %d migration(s): %s", len(everything), listing)
    return everything
