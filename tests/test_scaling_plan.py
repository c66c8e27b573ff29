"""docs/scaling.md's Citus distribution plan against the migrated schema: every table is placed
(distributed by workspace, reference, or local to the coordinator), and for each distributed
table the plan names exactly what still blocks ``create_distributed_table(..., 'workspace_id')``
— no workspace key, a primary key, unique index or foreign key between distributed tables
without it. A migration that fixes a blocker, or a new table or key that adds one, fails here
until the plan says so; a distributed table whose blockers are empty carries the workspace key
everywhere Citus needs it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import psycopg

from tests.test_schema import BOOKKEEPING

PLAN = Path(__file__).resolve().parent.parent / "docs" / "scaling.md"
KEY = "workspace_id"
CLASSES = ("distributed", "reference", "local")


def _plan() -> dict[str, tuple[str, list[str]]]:
    """The placement table of docs/scaling.md: table -> (class, blockers)."""
    section = PLAN.read_text().split("<!-- placement -->", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, tuple[str, list[str]]] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 4 or not cells[0].startswith("`"):
            continue
        table, placement, blockers = cells[0].strip("`"), cells[1], cells[3]
        assert table not in rows, f"{table} is placed twice in {PLAN}"
        rows[table] = (placement, re.findall(r"`([^`]+)`", blockers))
    return rows


def _catalog(conn: psycopg.Connection[Any]) -> dict[str, dict[str, Any]]:
    tables: dict[str, dict[str, Any]] = {}
    for name, columns in conn.execute(
            "SELECT c.relname, array_agg(a.attname::text ORDER BY a.attnum) FROM pg_class c "
            "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped "
            "WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p') "
            "GROUP BY c.relname").fetchall():
        if name not in BOOKKEEPING:
            tables[name] = {"columns": columns, "keys": [], "fks": []}
    for table, index, primary, columns in conn.execute(
            "SELECT t.relname, i.relname, x.indisprimary, array_agg(a.attname::text ORDER BY k.n) "
            "FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid "
            "CROSS JOIN LATERAL unnest(x.indkey) WITH ORDINALITY AS k (attnum, n) "
            "JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum "
            "WHERE t.relnamespace = 'public'::regnamespace AND x.indisunique "
            "GROUP BY t.relname, i.relname, x.indisprimary").fetchall():
        if table in tables:
            tables[table]["keys"].append((index, primary, columns))
    for table, fk, target, columns in conn.execute(
            "SELECT t.relname, c.conname, r.relname, array_agg(a.attname::text ORDER BY k.n) "
            "FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid JOIN pg_class r ON r.oid = c.confrelid "
            "CROSS JOIN LATERAL unnest(c.conkey) WITH ORDINALITY AS k (attnum, n) "
            "JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum "
            "WHERE c.contype = 'f' AND t.relnamespace = 'public'::regnamespace "
            "GROUP BY t.relname, c.conname, r.relname").fetchall():
        if table in tables:
            tables[table]["fks"].append((fk, target, columns))
    return tables


def _blockers(table: dict[str, Any], placement: dict[str, str]) -> list[str]:
    """What keeps a table from being distributed by workspace_id and co-located."""
    out = [] if KEY in table["columns"] else [f"no {KEY}"]
    for index, primary, columns in sorted(table["keys"]):
        if KEY not in columns:
            out.append(f"{'primary key' if primary else 'unique ' + index} ({', '.join(columns)})")
    for fk, target, columns in sorted(table["fks"]):
        if placement.get(target) == "distributed" and KEY not in columns:
            out.append(f"foreign key {fk} ({', '.join(columns)})")
    return out


def test_every_table_is_placed_and_every_blocker_named(conn: psycopg.Connection[Any]) -> None:
    plan = _plan()
    catalog = _catalog(conn)
    assert sorted(plan) == sorted(catalog), "docs/scaling.md must place exactly the schema's tables"
    placement = {name: cls for name, (cls, _) in plan.items()}
    assert set(placement.values()) <= set(CLASSES), placement
    for name, (cls, documented) in sorted(plan.items()):
        if cls == "distributed":
            assert documented == _blockers(catalog[name], placement), f"{name}: docs/scaling.md's blockers are stale"
        else:
            assert documented == [], f"{name}: only a distributed table has blockers"
            # Citus allows foreign keys from distributed to reference tables, not the other way
            for fk, target, _ in catalog[name]["fks"]:
                assert placement[target] != "distributed", f"{name}.{fk} points at distributed {target}"


def test_the_search_tables_are_ready_to_distribute(conn: psycopg.Connection[Any]) -> None:
    """The tables that grow with the corpus carry the workspace key where Citus needs it, but
    for the primary key of rag_chunks, which the plan's first migration widens."""
    plan = _plan()
    assert plan["rag_search_calibrations"] == ("distributed", [])
    assert plan["rag_chunks"] == ("distributed", ["primary key (id)"])
    assert plan["workspaces"][0] == "reference"
