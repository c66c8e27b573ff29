"""Adopting a database that already has the schema: ``aura-db baseline`` and ``aura-db mark``.

A database built from ``sql/schema.sql``, restored from a dump without yoyo's tables, or made
by hand has the tables but no record of the migrations that made them, so ``migrate`` would run
them again and fail. ``baseline`` records every migration up to a target (default: all) as
applied; ``mark`` records the named ones (with the ones they depend on). Nothing is run.

It is verified against the catalog first: every object the marked migrations leave behind
(tables, columns, indexes, constraints, functions, triggers, policies, extensions) must exist,
and every object they drop must be gone, or nothing is recorded and the error lists what is
missing (``--allow-missing`` records anyway, for an operator who knows better).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from ..errors import MigrationError
from . import plan as mp
from .catalog import Catalog
from .session import run_session
from .settings import MigrationSettings
from .state import read_state

__all__ = ["CatalogObject", "expected_objects", "mark"]

logger = logging.getLogger(__name__)

_NAME = r'("?[A-Za-z_][\w$]*"?(?:\."?[A-Za-z_][\w$]*"?)?)'
_IFX = r"(?:IF\s+(?:NOT\s+)?EXISTS\s+)?"
_CREATE_TABLE = re.compile(rf"^CREATE\s+(?:UNLOGGED\s+)?TABLE\s+{_IFX}{_NAME}", re.I)
_PATTERNS: list[tuple[str, bool, re.Pattern[str]]] = [  # (kind, exists afterwards, pattern)
    ("table", True, _CREATE_TABLE),
    ("index", True, re.compile(rf"^CREATE\s+(?:UNIQUE\s+)?INDEX\s+(?:CONCURRENTLY\s+)?{_IFX}{_NAME}", re.I)),
    ("function", True, re.compile(rf"^CREATE\s+(?:OR\s+REPLACE\s+)?FUNCTION\s+{_NAME}", re.I)),
    ("table", False, re.compile(rf"^DROP\s+TABLE\s+{_IFX}{_NAME}", re.I)),
    ("index", False, re.compile(rf"^DROP\s+INDEX\s+(?:CONCURRENTLY\s+)?{_IFX}{_NAME}", re.I)),
    ("function", False, re.compile(rf"^DROP\s+FUNCTION\s+{_IFX}{_NAME}", re.I)),
]
# objects that live on a table: CREATE TRIGGER t ... ON tbl, CREATE POLICY p ON tbl
_ON_TABLE = [
    ("trigger", True,
     re.compile(rf"^CREATE\s+(?:OR\s+REPLACE\s+)?TRIGGER\s+{_NAME}.*?\bON\s+{_NAME}", re.I | re.S)),
    ("policy", True, re.compile(rf"^CREATE\s+POLICY\s+{_NAME}\s+ON\s+{_NAME}", re.I | re.S)),
    ("trigger", False, re.compile(rf"^DROP\s+TRIGGER\s+{_IFX}{_NAME}\s+ON\s+{_NAME}", re.I)),
    ("policy", False, re.compile(rf"^DROP\s+POLICY\s+{_IFX}{_NAME}\s+ON\s+{_NAME}", re.I)),
]
_ALTER = re.compile(rf"^ALTER\s+TABLE\s+(?:ONLY\s+)?{_IFX}{_NAME}\s+(.*)$", re.I | re.S)
_ADD_CONSTRAINT = re.compile(rf"\bADD\s+CONSTRAINT\s+{_NAME}", re.I)
_DROP_CONSTRAINT = re.compile(rf"\bDROP\s+CONSTRAINT\s+{_IFX}{_NAME}", re.I)
_ADD_COLUMN = re.compile(rf"\bADD\s+(?:COLUMN\s+)?{_IFX}(?!CONSTRAINT\b){_NAME}\s+[a-z]", re.I)
_DROP_COLUMN = re.compile(rf"\bDROP\s+COLUMN\s+{_IFX}{_NAME}", re.I)
_INLINE_CONSTRAINT = re.compile(rf"\bCONSTRAINT\s+{_NAME}", re.I)
_EXTENSION = re.compile(rf"\bCREATE\s+EXTENSION\s+{_IFX}{_NAME}", re.I)  # also inside a DO block
_RENAME_CONSTRAINT = re.compile(rf"\bRENAME\s+CONSTRAINT\s+{_NAME}\s+TO\s+{_NAME}", re.I)


@dataclass(frozen=True, slots=True)
class CatalogObject:
    """An object a migration leaves behind (or removes): ``kind`` ``name`` [on ``table``]."""

    kind: str  # table, column, index, constraint, function, trigger, policy, extension
    name: str
    table: str | None = None

    def __str__(self) -> str:
        return f"{self.kind} {self.name}" + (f" on {self.table}" if self.table else "")


def _bare(name: str) -> str:
    name = name.split(".")[-1]
    return name[1:-1] if name.startswith('"') else name.lower()


def _strip_comments(statement: str) -> str:
    return "\n".join(line for line in statement.splitlines() if not line.strip().startswith("--")).strip()


def _objects(statement: str) -> list[tuple[CatalogObject, bool]]:
    text = _strip_comments(statement)
    found: list[tuple[CatalogObject, bool]] = []
    for kind, exists, pattern in _PATTERNS:
        if m := pattern.match(text):
            found.append((CatalogObject(kind, _bare(m.group(1))), exists))
    if m := _CREATE_TABLE.match(text):  # its inline CONSTRAINT clauses
        for c in _INLINE_CONSTRAINT.finditer(text):
            found.append((CatalogObject("constraint", _bare(c.group(1)), _bare(m.group(1))), True))
    found += [(CatalogObject("extension", _bare(e.group(1))), True) for e in _EXTENSION.finditer(text)]
    for kind, exists, pattern in _ON_TABLE:
        if m := pattern.match(text):
            found.append((CatalogObject(kind, _bare(m.group(1)), _bare(m.group(2))), exists))
    if m := _ALTER.match(text):
        table, actions = _bare(m.group(1)), m.group(2)
        for c in _ADD_CONSTRAINT.finditer(actions):
            found.append((CatalogObject("constraint", _bare(c.group(1)), table), True))
        for c in _DROP_CONSTRAINT.finditer(actions):
            found.append((CatalogObject("constraint", _bare(c.group(1)), table), False))
        for c in _RENAME_CONSTRAINT.finditer(actions):
            found.append((CatalogObject("constraint", _bare(c.group(1)), table), False))
            found.append((CatalogObject("constraint", _bare(c.group(2)), table), True))
        for c in _ADD_COLUMN.finditer(actions):
            found.append((CatalogObject("column", _bare(c.group(1)), table), True))
        for c in _DROP_COLUMN.finditer(actions):
            found.append((CatalogObject("column", _bare(c.group(1)), table), False))
    return found


def expected_objects(statements: Iterable[str]) -> dict[CatalogObject, bool]:
    """What the statements, run in order, leave: object -> whether it exists afterwards."""
    expected: dict[CatalogObject, bool] = {}
    for statement in statements:
        for obj, exists in _objects(statement):
            expected[obj] = exists
            if obj.kind == "table" and not exists:  # its columns, triggers... go with it
                for other in [o for o in expected if o.table == obj.name]:
                    expected[other] = False
    return expected


_PRESENT = {
    "table": "SELECT to_regclass(format('public.%%I', %(name)s::text)) IS NOT NULL",
    "index": "SELECT to_regclass(format('public.%%I', %(name)s::text)) IS NOT NULL",
    "function": "SELECT EXISTS (SELECT FROM pg_proc WHERE proname = %(name)s::text "
                "AND pronamespace = 'public'::regnamespace)",
    "extension": "SELECT EXISTS (SELECT FROM pg_extension WHERE extname = %(name)s::text)",
    "column": "SELECT EXISTS (SELECT FROM pg_attribute WHERE attname = %(name)s::text AND NOT attisdropped "
              "AND attrelid = to_regclass(format('public.%%I', %(table)s::text)))",
    "constraint": "SELECT EXISTS (SELECT FROM pg_constraint WHERE conname = %(name)s::text "
                  "AND conrelid = to_regclass(format('public.%%I', %(table)s::text)))",
    "trigger": "SELECT EXISTS (SELECT FROM pg_trigger WHERE tgname = %(name)s::text "
               "AND tgrelid = to_regclass(format('public.%%I', %(table)s::text)))",
    "policy": "SELECT EXISTS (SELECT FROM pg_policy WHERE polname = %(name)s::text "
              "AND polrelid = to_regclass(format('public.%%I', %(table)s::text)))",
}


def _present(conn: psycopg.Connection[Any], obj: CatalogObject) -> bool:
    row = conn.execute(_PRESENT[obj.kind], {"name": obj.name, "table": obj.table}).fetchone()
    return bool(row and row[0])


def mark(
    url: str, ids: Iterable[str] | None = None, *, target: str | None = None,
    directory: Path | None = None, settings: MigrationSettings | None = None,
    allow_missing: bool = False, by: str | None = None,
) -> list[str]:
    """Record migrations as applied without running them; returns the ids recorded.

    ``ids`` (and the migrations they depend on), or every migration up to ``target``, or (both
    None) every migration on disk: the ``baseline`` of a database built another way. Already
    applied ones are skipped. Verified against the catalog first (see the module docstring);
    raises :class:`MigrationError` listing the objects missing, or naming an unknown id.
    """
    settings = settings or MigrationSettings(application_name="aura-db mark")
    catalog = Catalog(directory)
    if ids is not None:
        wanted: set[str] = set()
        for mid in ids:
            wanted |= catalog.with_ancestors(mid)
    else:
        wanted = set(catalog.infos) if target is None else catalog.with_ancestors(target)
    with run_session(url, settings) as conn:
        state = read_state(conn)
        todo = catalog.ordered({mid for mid in wanted if mid not in state.applied})
        if not todo:
            return []
        expected = expected_objects(s for mid in todo for s in catalog.infos[mid].up_statements())
        wrong = [f"{obj} {'missing' if exists else 'still present'}"
                 for obj, exists in expected.items() if _present(conn, obj) != exists]
        if wrong and not allow_missing:
            raise MigrationError(
                f"refusing to record {len(todo)} migration(s) as applied ({', '.join(todo)}): the "
                f"database does not have what they make: {'; '.join(wrong)} (migrate instead, or "
                f"pass --allow-missing if you know better)")
        for text in wrong:
            logger.warning("recorded as applied although %s (--allow-missing)", text)
        who = by or mp.applied_by()
        with conn.transaction():
            for mid in todo:
                op = catalog.operation(mid, "apply")
                for statement in mp.bookkeeping(op, who, sql.SQL("NULL"), operation="mark"):
                    conn.execute(statement)
        logger.info("recorded %d migration(s) as applied, verified %d catalog object(s)",
                    len(todo), len(expected))
        return todo
