"""aura-db writes yoyo's bookkeeping itself (in the migration's own transaction) and prints yoyo's
DDL in ``aura-db plan``; both copy yoyo internals. These tests compare them with the installed
yoyo, so an upgrade that changes them fails here instead of corrupting bookkeeping. The
supported range is pinned in pyproject.toml (yoyo-migrations >=9.0,<10)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from yoyo import internalmigrations, read_migrations
from yoyo.connections import parse_uri
from yoyo.migrations import get_migration_hash

from aura_db import resources
from aura_db.migrations import MODULES
from aura_db.migrations.plan import _YOYO_DDL, yoyo_hash
from aura_db.migrations.session import MIGRATION_TABLE, _backend_class
from aura_db.migrations.settings import MigrationSettings

_CATALOG = """
SELECT c.relname, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
       pg_get_expr(d.adbin, d.adrelid)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname IN (%(tables)s)
ORDER BY 1, 2
"""
_KEYS = """
SELECT conrelid::regclass::text, pg_get_constraintdef(oid) FROM pg_constraint
WHERE connamespace = 'public'::regnamespace AND conrelid::regclass::text = ANY(%s) ORDER BY 1, 2
"""
YOYO_TABLES = ["_yoyo_migration", "_yoyo_log", "_yoyo_version", "yoyo_lock"]


def _catalog(url: str) -> tuple[list[Any], list[Any], list[Any]]:
    with psycopg.connect(url) as conn:
        names = ", ".join(f"'{t}'" for t in YOYO_TABLES)
        columns = conn.execute(_CATALOG.replace("%(tables)s", names)).fetchall()
        keys = conn.execute(_KEYS, (YOYO_TABLES,)).fetchall()
        versions = conn.execute('SELECT version FROM "_yoyo_version"').fetchall()
    return columns, keys, versions


def test_printed_ddl_builds_what_yoyo_builds(make_db_url: Callable[..., str]) -> None:
    by_yoyo, by_plan = make_db_url(migrated=False), make_db_url(migrated=False)
    settings = MigrationSettings()
    backend = _backend_class(by_yoyo, settings)(parse_uri("postgresql+psycopg:///aura"), MIGRATION_TABLE)
    try:
        backend.init_database()
        backend.ensure_internal_schema_updated()
    finally:
        backend.connection.close()
    with psycopg.connect(by_plan, autocommit=True) as conn:
        conn.execute(_YOYO_DDL)
    yoyo_side, plan_side = _catalog(by_yoyo), _catalog(by_plan)
    assert {row[0] for row in yoyo_side[0]} == set(YOYO_TABLES)
    assert plan_side == yoyo_side


def test_internal_schema_version_is_the_one_the_ddl_marks() -> None:
    assert max(internalmigrations.schema_versions) == 2
    assert "SELECT 2, now()" in _YOYO_DDL


@pytest.mark.parametrize("mid", ["0001_workspaces", "0003_story_link_indexes", "x", "ünï"])
def test_migration_hash_is_yoyos(mid: str) -> None:
    assert yoyo_hash(mid) == get_migration_hash(mid)


def test_yoyo_reads_the_bookkeeping_aura_db_writes(db_url: str) -> None:
    """What the runner records by hand (in each migration's own transaction) is what yoyo itself
    sees as applied: yoyo has nothing left to apply and nothing it would roll back is unknown."""
    sources = [str(resources.migrations_dir() / m) for m in MODULES]
    backend = _backend_class(db_url, MigrationSettings())(parse_uri("postgresql+psycopg:///aura"), MIGRATION_TABLE)
    try:
        migrations = read_migrations(*sources)
        assert len(migrations) >= 10
        assert list(backend.to_apply(migrations)) == []
        assert {m.id for m in backend.to_rollback(migrations)} == {m.id for m in migrations}
    finally:
        backend.connection.close()
    with psycopg.connect(db_url) as conn:
        hashes = conn.execute(f'SELECT migration_id, migration_hash FROM "{MIGRATION_TABLE}"').fetchall()
    assert hashes and all(h == get_migration_hash(m) for m, h in hashes)
