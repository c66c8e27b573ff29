"""Do the search indexes of rag_chunks match the migrations? (``verify``, ``status``)

The application may drop, build and rebuild them at run time (bulk loads, new HNSW parameters),
so they can drift from what the migrations made. The expected set is read from the applied
migrations themselves, in the order applied: every ``CREATE INDEX ... ON rag_chunks USING hnsw |
gin`` adds one (with its ``WITH (...)`` parameters), a ``DROP INDEX`` of it removes it. Reads only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import psycopg

from .files import MigrationInfo

__all__ = ["IndexDrift", "expected_search_indexes", "search_index_drift"]

_CREATE = re.compile(
    r"\bCREATE\s+INDEX\s+(?:CONCURRENTLY\s+)?(?:IF\s+NOT\s+EXISTS\s+)?(\w+)\s+ON\s+(?:public\.)?"
    r"rag_chunks\s+USING\s+(hnsw|gin)\b(.*)", re.IGNORECASE | re.DOTALL)
_DROP = re.compile(r"\bDROP\s+INDEX\s+(?:CONCURRENTLY\s+)?(?:IF\s+EXISTS\s+)?(?:public\.)?(\w+)",
                   re.IGNORECASE)
_WITH = re.compile(r"\bWITH\s*\(([^)]*)\)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class IndexDrift:
    """A search index that differs from the migrations: ``kind`` is missing, invalid, extra or
    parameters."""

    kind: str
    index: str
    message: str


def _options(text: str) -> frozenset[str]:
    found = _WITH.search(text)
    if not found:
        return frozenset()
    return frozenset(re.sub(r"\s+", "", part).lower() for part in found.group(1).split(",") if part.strip())


def expected_search_indexes(infos: Iterable[MigrationInfo]) -> dict[str, tuple[str, frozenset[str]]]:
    """name -> (access method, storage options) of the search indexes ``infos`` (applied, in
    order) leave behind."""
    expected: dict[str, tuple[str, frozenset[str]]] = {}
    for info in infos:
        for statement in info.up_statements():
            if created := _CREATE.search(statement):
                expected[created.group(1).lower()] = (created.group(2).lower(), _options(created.group(3)))
            for dropped in _DROP.finditer(statement):
                expected.pop(dropped.group(1).lower(), None)
    return expected


def search_index_drift(conn: psycopg.Connection[Any], applied: list[MigrationInfo]) -> list[IndexDrift]:
    """Compare the hnsw and gin indexes on rag_chunks with those the applied migrations made."""
    if conn.execute("SELECT to_regclass('rag_chunks')").fetchone() in (None, (None,)):
        return []
    expected = expected_search_indexes(applied)
    actual = {
        name: (am, bool(valid), frozenset(options or ()))
        for name, am, valid, options in conn.execute(
            "SELECT c.relname, a.amname, i.indisvalid, c.reloptions FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam "
            "WHERE i.indrelid = 'rag_chunks'::regclass AND a.amname IN ('hnsw', 'gin')")
    }
    drift = []
    for name, (am, options) in sorted(expected.items()):
        if name not in actual:
            drift.append(IndexDrift("missing", name, (
                f"search index {name} ({am}) of the migrations is missing: build it again "
                f"(db.rag_chunks.build_search_index, or it is being bulk loaded)")))
            continue
        _, valid, present = actual[name]
        if not valid:
            drift.append(IndexDrift("invalid", name, (
                f"search index {name} is INVALID (an interrupted build): drop and build it again")))
        if present != options:
            drift.append(IndexDrift("parameters", name, (
                f"search index {name} has {', '.join(sorted(present)) or 'no options'}, the "
                f"migrations {', '.join(sorted(options)) or 'none'}: rebuilt with other parameters "
                f"(reindex_search_index); put them in a migration to make them the schema's")))
    for name in sorted(set(actual) - set(expected)):
        drift.append(IndexDrift("extra", name, (
            f"search index {name} ({actual[name][0]}) is not in the migrations: a leftover of an "
            f"interrupted rebuild, or made by hand; drop it or add it to a migration")))
    return drift
