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


_SEARCH_COMMENTS = """
    SELECT c.relname, obj_description(c.oid, 'pg_class') FROM pg_class c
    WHERE c.relname ~ '^ix_rag_chunks_embedding_[0-9]+$' ORDER BY 1"""


def test_a_rebuilt_search_index_gets_its_comment_back(db_url: str, app_url: str) -> None:
    """foundation 0015: dropped and built again (through 0012's functions as the application
    role, CONCURRENTLY as the owner) or reindexed, an HNSW index has 0014's comment again."""
    from aura_db import Config, Database

    with psycopg.connect(db_url, autocommit=True) as conn:
        migrated = conn.execute(_SEARCH_COMMENTS).fetchall()
    assert len(migrated) == 4 and all(comment for _, comment in migrated)
    assert "as halfvec" in dict(migrated)["ix_rag_chunks_embedding_3072"]
    for url in (app_url, db_url):  # the application role, then the owner
        with Database(Config(url=url, min_size=1, max_size=2)) as db:
            for dims in (384, 3072):
                db.rag_chunks.drop_search_index(dims)
                db.rag_chunks.build_search_index(dims)
            db.rag_chunks.reindex_search_index(768, m=8, ef_construction=32)
        with psycopg.connect(db_url, autocommit=True) as conn:
            assert conn.execute(_SEARCH_COMMENTS).fetchall() == migrated, url


def test_only_the_owner_and_the_application_may_rewrite_the_search_index_comment(
    readonly_url: str, app_url: str
) -> None:
    with psycopg.connect(readonly_url, autocommit=True) as conn:
        try:
            conn.execute("SELECT aura_comment_search_index(384)")
        except psycopg.errors.InsufficientPrivilege as exc:
            assert "permission denied for function aura_comment_search_index" in str(exc)
        else:
            raise AssertionError("the read-only role ran aura_comment_search_index")
        public = conn.execute("SELECT has_function_privilege('public', 'aura_comment_search_index(integer)', "
                              "'EXECUTE')").fetchone()
        assert public == (False,)
    with psycopg.connect(app_url, autocommit=True) as conn:
        assert conn.execute("SELECT aura_comment_search_index(384)::text").fetchone() == ("",)
