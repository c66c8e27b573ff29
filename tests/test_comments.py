"""Every index, constraint and trigger the migrations create says what it is for (foundation 0014,
developer 0006): an index names the queries or foreign key it serves, a constraint its rule, a
trigger what it maintains. NOT NULL constraints are left out (PostgreSQL 18 lists them in
pg_constraint, 16 and 17 do not), and so are the runner's bookkeeping tables."""

from __future__ import annotations

import psycopg

from aura_db.migrations.plan import BOOKKEEPING_TABLES

# One row per object: kind, table, name, its comment ('' when it has none).
_OBJECTS = """
    WITH t AS (
        SELECT c.oid, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relname <> ALL (%(skip)s)
    )
    SELECT 'index', t.relname, i.indexrelid::regclass::text,
           coalesce(btrim(obj_description(i.indexrelid, 'pg_class')), '')
    FROM pg_index i JOIN t ON t.oid = i.indrelid
    UNION ALL
    SELECT 'constraint', t.relname, k.conname, coalesce(btrim(obj_description(k.oid, 'pg_constraint')), '')
    FROM pg_constraint k JOIN t ON t.oid = k.conrelid
    WHERE k.contype IN ('c', 'u', 'p', 'f', 'x')
    UNION ALL
    SELECT 'trigger', t.relname, g.tgname, coalesce(btrim(obj_description(g.oid, 'pg_trigger')), '')
    FROM pg_trigger g JOIN t ON t.oid = g.tgrelid
    WHERE NOT g.tgisinternal
    ORDER BY 1, 2, 3"""

# Floors, so that the test cannot pass by finding nothing (the schema has 62, 83 and 16).
_AT_LEAST = {"index": 50, "constraint": 40, "trigger": 10}


def test_every_index_constraint_and_trigger_has_a_comment(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        rows = conn.execute(_OBJECTS, {"skip": list(BOOKKEEPING_TABLES)}).fetchall()
    counts = {kind: sum(1 for row in rows if row[0] == kind) for kind in _AT_LEAST}
    assert all(counts[kind] >= floor for kind, floor in _AT_LEAST.items()), counts
    missing = [f"{kind} {name} on {table}" for kind, table, name, comment in rows if not comment]
    assert not missing, f"{len(missing)} object(s) without a COMMENT:\n" + "\n".join(missing)
