"""The schema the migrations build, checked on a real server: round trips, constraints, triggers,
vector and full-text indexes, comments and foreign-key indexes."""

from __future__ import annotations

import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import errors, sql
from psycopg.conninfo import conninfo_to_dict

from aura_db import resources
from aura_db.errors import MigrationError
from aura_db.migrations import MODULES, load_migrations, migrate, rollback

YOYO_TABLES = ("_yoyo_migration", "_yoyo_log", "_yoyo_version", "yoyo_lock")
# The runner's own bookkeeping beside yoyo's (file hashes, failures), when it keeps any.
BOOKKEEPING = (*YOYO_TABLES, "aura_migration_files", "aura_migration_failures")
DIMS = (384, 768, 1536, 3072)
ROWS_PER_DIM = 300
WORKSPACE = "a1b2c3d4e5f60718"

# Everything a migration can create, one normalized list per kind, in a stable order.
# Column positions are ranks among live columns (a dropped and re-added last column keeps its
# place), functions are compared by a hash of their definition, extension members are skipped.
_EXT_MEMBER = "EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = {oid} AND d.deptype = 'e')"
SNAPSHOT_QUERIES = {
    "schemas": """
        SELECT nspname FROM pg_namespace
        WHERE nspname NOT LIKE 'pg\\_%%' AND nspname <> 'information_schema' ORDER BY 1""",
    "extensions": "SELECT extname, extversion FROM pg_extension ORDER BY 1",
    "relations": """
        SELECT c.relname, c.relkind::text, coalesce(obj_description(c.oid, 'pg_class'), '')
        FROM pg_class c
        WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind <> 'i'
          AND c.relname <> ALL (%(yoyo)s) ORDER BY 1""",
    "columns": """
        SELECT c.relname, row_number() OVER (PARTITION BY c.oid ORDER BY a.attnum), a.attname,
               format_type(a.atttypid, a.atttypmod), a.attnotnull, a.attgenerated::text,
               a.attidentity::text, a.attstorage::text, coalesce(pg_get_expr(d.adbin, d.adrelid), ''),
               coalesce(col_description(c.oid, a.attnum), '')
        FROM pg_class c
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
        LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
        WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p', 'v')
          AND c.relname <> ALL (%(yoyo)s) ORDER BY 1, 2""",
    "constraints": """
        SELECT c.relname, k.conname, k.contype::text, pg_get_constraintdef(k.oid), k.convalidated
        FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
        WHERE c.relnamespace = current_schema()::regnamespace AND c.relname <> ALL (%(yoyo)s)
        ORDER BY 1, 2""",
    "indexes": """
        SELECT t.relname, c.relname, pg_get_indexdef(c.oid), i.indisvalid,
               coalesce(obj_description(c.oid, 'pg_class'), '')
        FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid
        WHERE t.relnamespace = current_schema()::regnamespace AND t.relname <> ALL (%(yoyo)s)
        ORDER BY 1, 2""",
    "triggers": """
        SELECT c.relname, g.tgname, pg_get_triggerdef(g.oid), g.tgenabled::text
        FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid
        WHERE NOT g.tgisinternal AND c.relnamespace = current_schema()::regnamespace
        ORDER BY 1, 2""",
    "functions": f"""
        SELECT p.proname, pg_get_function_identity_arguments(p.oid),
               md5(pg_get_functiondef(p.oid)), coalesce(obj_description(p.oid, 'pg_proc'), '')
        FROM pg_proc p
        WHERE p.pronamespace = current_schema()::regnamespace AND p.prokind IN ('f', 'p')
          AND NOT {_EXT_MEMBER.format(oid="p.oid")}
        ORDER BY 1, 2""",
    "types": f"""
        SELECT t.typname, t.typtype::text FROM pg_type t
        WHERE t.typnamespace = current_schema()::regnamespace AND t.typtype IN ('c', 'd', 'e', 'r', 'm')
          AND (t.typtype <> 'c' OR (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')
          AND NOT {_EXT_MEMBER.format(oid="t.oid")}
        ORDER BY 1""",
}


def snapshot(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """A normalized dump of the schema at ``url``, from pg_catalog (bookkeeping left out)."""
    with psycopg.connect(url, autocommit=True) as c:
        return {
            kind: c.execute(query, {"yoyo": list(BOOKKEEPING)}).fetchall()
            for kind, query in SNAPSHOT_QUERIES.items()
        }


def _empty_schema(url: str) -> dict[str, list[tuple[Any, ...]]]:
    return {
        "schemas": [("public",)], "extensions": [("plpgsql", _plpgsql_version(url))],
        "relations": [], "columns": [], "constraints": [], "indexes": [], "triggers": [],
        "functions": [], "types": [],
    }


def _plpgsql_version(url: str) -> str:
    with psycopg.connect(url, autocommit=True) as c:
        row = c.execute("SELECT extversion FROM pg_extension WHERE extname = 'plpgsql'").fetchone()
    assert row is not None
    return str(row[0])


def _add_to(directory: Path, mid: str) -> None:
    info = {m.id: m for m in load_migrations()}[mid]
    for path in (info.path, info.rollback_path):
        assert path is not None, f"{mid} has no rollback file"
        shutil.copy(path, directory / info.module / path.name)


# --- migrations: up, down one by one, up one by one ---------------------------------------------

def test_every_migration_rolls_back_and_reapplies_to_an_identical_schema(
    empty_db_url: str, tmp_path: Path
) -> None:
    order = migrate(empty_db_url)
    assert {m.id for m in load_migrations()} == set(order)
    states = [snapshot(empty_db_url)]  # states[k]: the schema with order[:len(order) - k] applied
    for mid in reversed(order):
        assert rollback(empty_db_url, steps=1) == [mid]
        states.append(snapshot(empty_db_url))
    states.reverse()  # now states[k]: the schema with order[:k] applied

    assert states[0] == _empty_schema(empty_db_url), "rollback of everything left objects behind"
    with psycopg.connect(empty_db_url, autocommit=True) as c:
        rows = c.execute(
            "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace "
            "AND relkind = 'r' ORDER BY 1").fetchall()
    assert set(YOYO_TABLES) <= {r[0] for r in rows} <= set(BOOKKEEPING)

    # Re-apply one migration at a time (a directory holding the first k) and compare each state
    # with the one recorded before that migration was rolled back.
    for module in MODULES:
        (tmp_path / module).mkdir()
    for k, mid in enumerate(order, start=1):
        _add_to(tmp_path, mid)
        assert migrate(empty_db_url, directory=tmp_path) == [mid]
        assert snapshot(empty_db_url) == states[k], f"re-applying {mid} gave another schema"
    assert migrate(empty_db_url) == []


def test_migration_files_carry_rollbacks_and_directives() -> None:
    infos = load_migrations(resources.migrations_dir())
    assert [i.id for i in infos if i.rollback_path is None] == []
    assert {i.module for i in infos} == set(MODULES)
    for info in infos:
        text = info.path.read_text()
        if re.search(r"^(CREATE|DROP) INDEX CONCURRENTLY", text, re.MULTILINE):
            # yoyo reads directives from the leading comment block only
            assert text.startswith("-- transactional: false\n"), info.id
        if info.module == "developer":
            assert "\n-- depends: " in text.split("\n\n")[0] or text.startswith("-- depends: ")


def test_interrupted_concurrent_index_build_is_cleaned_up_and_retried(empty_db_url: str) -> None:
    order = migrate(empty_db_url)
    full = snapshot(empty_db_url)
    mid = "0005_rag_chunks_search_indexes"
    rollback(empty_db_url, steps=len(order) - order.index(mid), cascade=True)
    with psycopg.connect(empty_db_url, autocommit=True) as c:
        # What an interrupted CREATE INDEX CONCURRENTLY leaves behind: an INVALID index.
        c.execute("CREATE INDEX ix_rag_chunks_embedding_768 ON rag_chunks (id)")
        c.execute("UPDATE pg_index SET indisvalid = false "
                  "WHERE indexrelid = 'ix_rag_chunks_embedding_768'::regclass")
    # Either the runner drops it before the build, or the migration's own guard fails the run
    # after yoyo-style cleanup; at the latest the next run builds every index afresh.
    try:
        applied = migrate(empty_db_url)
    except MigrationError as exc:
        assert "invalid index(es) on rag_chunks: ix_rag_chunks_embedding_768" in str(exc)
        applied = migrate(empty_db_url)
    assert mid in applied
    assert snapshot(empty_db_url) == full


# --- a seeded database shared by the module (every test below rolls its changes back) ----------

@pytest.fixture(scope="module")
def module_db_url(pg_server: Any, template_url: str) -> Iterator[str]:
    """A copy of the migrated template for this module's read-mostly tests."""
    name = f"aura_test_{uuid.uuid4().hex[:12]}"
    template = str(conninfo_to_dict(template_url)["dbname"])
    with psycopg.connect(pg_server.admin_url, autocommit=True) as c:
        c.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY").format(
            sql.Identifier(name), sql.Identifier(template)))
    yield pg_server.url_for(name)
    with psycopg.connect(pg_server.admin_url, autocommit=True) as c:
        c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


SEED = """
INSERT INTO workspaces (id, name, path) VALUES (%(ws)s, 'app', '/src/app');
INSERT INTO stories (title) VALUES ('Add login');
INSERT INTO story_steps (story_id, "order", name, capability)
    SELECT id, 0, 'Write tests', 'python-coding' FROM stories;
INSERT INTO story_tasks (step_id, "order", description) SELECT id, 0, 'cover login' FROM story_steps;
INSERT INTO conversations (title, story_id) SELECT 'chat', id FROM stories;
INSERT INTO messages (conversation_id, role, content) SELECT id, 'user', 'hi' FROM conversations;
INSERT INTO message_rag_contexts (message_id, query, content_id, chunk_index, chunk_content, score)
    SELECT id, 'login', 'src/login.py', 0, 'def login', 0.9 FROM messages;
INSERT INTO agent_executions (agent_id, conversation_id, story_step_id, prompt, success)
    SELECT 'coder', c.id, s.id, 'write it', true FROM conversations c, story_steps s;
INSERT INTO tool_executions (agent_execution_id, tool_name) SELECT id, 'file.write' FROM agent_executions;
INSERT INTO code_nodes (name, fully_qualified_name, node_type, repository_path) VALUES
    ('login', 'app.auth.login', 'Function', '/src/app'), ('auth', 'app.auth', 'Module', NULL);
INSERT INTO code_edges (source_node_id, target_node_id, edge_type)
    SELECT s.id, t.id, 'Contains' FROM code_nodes s, code_nodes t
    WHERE s.name = 'auth' AND t.name = 'login';
INSERT INTO index_metadata (file_path, workspace_path, content_hash, index_type)
    VALUES ('src/login.py', '/src/app', repeat('ab', 32), 'rag');
INSERT INTO sessions (client_id) VALUES ('cli-1');
INSERT INTO configurations (key, value) VALUES ('rag.top_k', '10');
INSERT INTO rag_search_calibrations (workspace_id, embedding_dims, ef_search, recall, recall_target,
                                     queries, chunks)
    VALUES (%(ws)s, 768, 100, 0.97, 0.95, 40, 20000);
INSERT INTO rag_chunks (workspace_id, content_id, chunk_index, content, title, embedding,
                        source_path, content_type)
    SELECT %(ws)s, format('src/m%%s/f%%s.py', d, g), 0, 'The handlers return ' || g, 'Handlers',
           (SELECT array_agg(random()) FROM generate_series(1, d + 0 * g))::vector,
           format('src/m%%s/f%%s.py', d, g), 'Code'
    FROM unnest(%(dims)s::int[]) AS d, generate_series(1, %(n)s) AS g;
"""

IDS = """
SELECT (SELECT id FROM conversations) AS conversation, (SELECT id FROM messages) AS message,
       (SELECT id FROM stories) AS story, (SELECT id FROM story_steps) AS step,
       (SELECT id FROM story_tasks) AS task, (SELECT id FROM agent_executions) AS agent_execution,
       (SELECT id FROM tool_executions) AS tool_execution, (SELECT id FROM sessions) AS session,
       (SELECT id FROM code_nodes WHERE name = 'auth') AS node_a,
       (SELECT id FROM code_nodes WHERE name = 'login') AS node_b,
       %(ws)s AS ws, 'rag.top_k' AS config_key, gen_random_uuid() AS missing
"""


@pytest.fixture(scope="module")
def seeded(module_db_url: str) -> Iterator[tuple[psycopg.Connection[Any], dict[str, Any]]]:
    """(connection, ids): one row in every table, ROWS_PER_DIM chunks per embedding size."""
    with psycopg.connect(module_db_url, autocommit=True) as c:
        with c.transaction():
            for statement in SEED.split(";\n")[:-1]:
                c.execute(statement, {"ws": WORKSPACE, "dims": list(DIMS), "n": ROWS_PER_DIM})
        c.execute("ANALYZE")
        cur = c.execute(IDS, {"ws": WORKSPACE})
        row = cur.fetchone()
        assert row is not None and cur.description is not None
        yield c, {col.name: value for col, value in zip(cur.description, row, strict=True)}


def _violation(conn: psycopg.Connection[Any], statement: str, params: dict[str, Any],
               expected: type[psycopg.Error]) -> psycopg.Error:
    with pytest.raises(expected) as info, conn.transaction(force_rollback=True):
        conn.execute(statement, params)
    return info.value


# --- constraints --------------------------------------------------------------------------------

CHECKS = [
    ("INSERT INTO workspaces (id, name, path) VALUES ('NOT-HEX', 'w', '/w')", "ck_workspaces_id_hex"),
    ("UPDATE workspaces SET name = ' '", "ck_workspaces_name_not_blank"),
    ("UPDATE workspaces SET path = 'src/app'", "ck_workspaces_path_absolute"),
    ("INSERT INTO workspaces (id, name, path, version) VALUES ('0000000000000002', 'w', '/w2', 0)",
     "ck_workspaces_version_positive"),
    ("INSERT INTO conversations (version) VALUES (0)", "ck_conversations_version_positive"),
    ("INSERT INTO messages (conversation_id, role, content) VALUES (%(conversation)s, 'robot', 'x')",
     "ck_messages_role"),
    ("UPDATE messages SET tokens_used = -1", "ck_messages_tokens_used_non_negative"),
    ("UPDATE message_rag_contexts SET chunk_index = -1",
     "ck_message_rag_contexts_chunk_index_non_negative"),
    ("UPDATE message_rag_contexts SET content_type = 'Video'", "ck_message_rag_contexts_content_type"),
    ("UPDATE agent_executions SET prompt_tokens = -1", "ck_agent_executions_prompt_tokens_non_negative"),
    ("UPDATE agent_executions SET response_tokens = -1",
     "ck_agent_executions_response_tokens_non_negative"),
    ("UPDATE agent_executions SET tokens_used = -1", "ck_agent_executions_tokens_used_non_negative"),
    ("UPDATE agent_executions SET duration_ms = -1", "ck_agent_executions_duration_ms_non_negative"),
    ("UPDATE tool_executions SET status = 'Done'", "ck_tool_executions_status"),
    ("UPDATE tool_executions SET tool_name = ' '", "ck_tool_executions_tool_name_not_blank"),
    ("UPDATE tool_executions SET duration_ms = -1", "ck_tool_executions_duration_ms_non_negative"),
    ("UPDATE tool_executions SET completed_at = created_at - interval '1 second'",
     "ck_tool_executions_completed_after_created"),
    ("UPDATE rag_chunks SET chunk_index = -1", "ck_rag_chunks_chunk_index_non_negative"),
    ("UPDATE rag_chunks SET content_type = 'Video'", "ck_rag_chunks_content_type"),
    ("UPDATE code_nodes SET node_type = 'Widget'", "ck_code_nodes_node_type"),
    ("UPDATE code_nodes SET start_line = 0", "ck_code_nodes_start_line_positive"),
    ("UPDATE code_nodes SET start_line = 10, end_line = 9", "ck_code_nodes_end_line_after_start"),
    ("UPDATE code_edges SET edge_type = 'Likes'", "ck_code_edges_edge_type"),
    ("UPDATE index_metadata SET index_type = 'search'", "ck_index_metadata_index_type"),
    ("UPDATE index_metadata SET content_hash = 'ABC'", "ck_index_metadata_content_hash_sha256"),
    ("UPDATE sessions SET client_id = ''", "ck_sessions_client_id_not_blank"),
    ("INSERT INTO configurations (key, value) VALUES (' ', '1')", "ck_configurations_key_not_blank"),
    ("UPDATE stories SET status = 'Done'", "ck_stories_status"),
    ("UPDATE stories SET title = ''", "ck_stories_title_not_blank"),
    ("UPDATE stories SET issue_number = 0", "ck_stories_issue_number_positive"),
    ("UPDATE stories SET current_wave = -1", "ck_stories_current_wave_non_negative"),
    ("UPDATE stories SET max_parallelism = 0", "ck_stories_max_parallelism_positive"),
    ("UPDATE stories SET completed_at = created_at - interval '1 day'",
     "ck_stories_completed_after_created"),
    ("INSERT INTO stories (title, version) VALUES ('t', 0)", "ck_stories_version_positive"),
    ("UPDATE story_steps SET status = 'Done'", "ck_story_steps_status"),
    ("INSERT INTO story_steps (story_id, \"order\", name, capability, version) "
     "VALUES (%(story)s, 1, 'n', 'c', 0)", "ck_story_steps_version_positive"),
    ("UPDATE story_steps SET \"order\" = -1", "ck_story_steps_order_non_negative"),
    ("UPDATE story_steps SET wave = -1", "ck_story_steps_wave_non_negative"),
    ("UPDATE story_steps SET attempts = -1", "ck_story_steps_attempts_non_negative"),
    ("UPDATE story_steps SET name = ''", "ck_story_steps_name_not_blank"),
    ("UPDATE story_steps SET capability = ''", "ck_story_steps_capability_not_blank"),
    ("UPDATE story_steps SET started_at = now(), completed_at = now() - interval '1 second'",
     "ck_story_steps_completed_after_started"),
    ("UPDATE story_tasks SET status = 'Done'", "ck_story_tasks_status"),
    ("UPDATE story_tasks SET \"order\" = -1", "ck_story_tasks_order_non_negative"),
    ("UPDATE story_tasks SET description = ''", "ck_story_tasks_description_not_blank"),
    ("UPDATE story_tasks SET completed_at = created_at - interval '1 second'",
     "ck_story_tasks_completed_after_created"),
    ("UPDATE rag_search_calibrations SET embedding_dims = 512",
     "ck_rag_search_calibrations_embedding_dims_supported"),
    ("UPDATE rag_search_calibrations SET ef_search = 0", "ck_rag_search_calibrations_ef_search_range"),
    ("UPDATE rag_search_calibrations SET ef_search = 1001", "ck_rag_search_calibrations_ef_search_range"),
    ("UPDATE rag_search_calibrations SET recall = 1.01", "ck_rag_search_calibrations_recall_range"),
    ("UPDATE rag_search_calibrations SET recall_target = 0",
     "ck_rag_search_calibrations_recall_target_range"),
    ("UPDATE rag_search_calibrations SET queries = 0", "ck_rag_search_calibrations_queries_positive"),
    ("UPDATE rag_search_calibrations SET chunks = -1", "ck_rag_search_calibrations_chunks_non_negative"),
    ("UPDATE rag_search_calibrations SET changed_chunks = -1",
     "ck_rag_search_calibrations_changed_chunks_non_negative"),
    ("UPDATE rag_search_calibrations SET exact_below = -1",
     "ck_rag_search_calibrations_exact_below_non_negative"),
]


@pytest.mark.parametrize(("statement", "constraint"), CHECKS, ids=[c for _, c in CHECKS])
def test_check_constraint_rejects(seeded: tuple[Any, dict[str, Any]], statement: str,
                                  constraint: str) -> None:
    conn, ids = seeded
    exc = _violation(conn, statement, ids, errors.CheckViolation)
    assert exc.diag.constraint_name == constraint


def test_every_check_constraint_is_exercised(seeded: tuple[Any, dict[str, Any]]) -> None:
    conn, _ = seeded
    rows = conn.execute(
        "SELECT conname FROM pg_constraint WHERE contype = 'c' "
        "AND connamespace = current_schema()::regnamespace ORDER BY 1").fetchall()
    tested = {c for _, c in CHECKS} | {"ck_rag_chunks_embedding_dims_supported"}
    assert sorted(r[0] for r in rows if r[0] not in tested) == []


FOREIGN_KEYS = [
    ("INSERT INTO messages (conversation_id, role, content) VALUES (%(missing)s, 'user', 'x')",
     "fk_messages_conversation_id"),
    ("UPDATE message_rag_contexts SET message_id = %(missing)s", "fk_message_rag_contexts_message_id"),
    ("UPDATE agent_executions SET conversation_id = %(missing)s", "fk_agent_executions_conversation_id"),
    ("UPDATE agent_executions SET story_step_id = %(missing)s", "fk_agent_executions_story_step_id"),
    ("UPDATE tool_executions SET agent_execution_id = %(missing)s",
     "fk_tool_executions_agent_execution_id"),
    ("UPDATE rag_chunks SET workspace_id = 'ffffffffffffffff' "
     "WHERE id = (SELECT min(id::text)::uuid FROM rag_chunks)",
     "fk_rag_chunks_workspace_id"),
    ("UPDATE code_edges SET source_node_id = %(missing)s", "fk_code_edges_source_node_id"),
    ("UPDATE code_edges SET target_node_id = %(missing)s", "fk_code_edges_target_node_id"),
    ("UPDATE conversations SET story_id = %(missing)s", "fk_conversations_story_id"),
    ("UPDATE story_steps SET story_id = %(missing)s", "fk_story_steps_story_id"),
    ("UPDATE story_tasks SET step_id = %(missing)s", "fk_story_tasks_step_id"),
    ("UPDATE rag_search_calibrations SET workspace_id = 'ffffffffffffffff'",
     "fk_rag_search_calibrations_workspace_id"),
]


@pytest.mark.parametrize(("statement", "constraint"), FOREIGN_KEYS, ids=[c for _, c in FOREIGN_KEYS])
def test_foreign_key_rejects(seeded: tuple[Any, dict[str, Any]], statement: str,
                             constraint: str) -> None:
    conn, ids = seeded
    exc = _violation(conn, statement, ids, errors.ForeignKeyViolation)
    assert exc.diag.constraint_name == constraint


UNIQUES = [
    ("INSERT INTO workspaces (id, name, path) VALUES ('0000000000000000', 'again', '/src/app')",
     "ux_workspaces_path"),
    ("INSERT INTO rag_chunks (workspace_id, content_id, chunk_index, content, embedding) "
     "SELECT workspace_id, content_id, chunk_index, 'x', embedding FROM rag_chunks LIMIT 1",
     "ux_rag_chunks_workspace_content_chunk"),
    # NULLS NOT DISTINCT: a node without a repository is still unique.
    ("INSERT INTO code_nodes (name, fully_qualified_name, node_type) VALUES ('auth', 'app.auth', 'Module')",
     "ux_code_nodes_repository_fqn_type"),
    ("INSERT INTO code_edges (source_node_id, target_node_id, edge_type) "
     "VALUES (%(node_a)s, %(node_b)s, 'Contains')", "ux_code_edges_source_target_type"),
    ("INSERT INTO index_metadata (file_path, workspace_path, content_hash, index_type) "
     "VALUES ('src/login.py', '/src/app', repeat('cd', 32), 'rag')",
     "ux_index_metadata_file_workspace_type"),
    ("INSERT INTO configurations (key, value) VALUES (%(config_key)s, '1')", "configurations_pkey"),
]


@pytest.mark.parametrize(("statement", "constraint"), UNIQUES, ids=[c for _, c in UNIQUES])
def test_unique_key_rejects(seeded: tuple[Any, dict[str, Any]], statement: str,
                            constraint: str) -> None:
    conn, ids = seeded
    exc = _violation(conn, statement, ids, errors.UniqueViolation)
    assert exc.diag.constraint_name == constraint


def test_upsert_on_natural_keys_updates_in_place(seeded: tuple[Any, dict[str, Any]]) -> None:
    conn, ids = seeded
    with conn.transaction(force_rollback=True):
        row = conn.execute(
            "INSERT INTO code_nodes (name, fully_qualified_name, node_type, signature) "
            "VALUES ('auth', 'app.auth', 'Module', 'module auth') "
            "ON CONFLICT (repository_path, fully_qualified_name, node_type) "
            "DO UPDATE SET signature = excluded.signature RETURNING id, signature").fetchone()
        assert row == (ids["node_a"], "module auth")


NOT_NULLS = [
    ("INSERT INTO workspaces (id, path) VALUES ('0000000000000001', '/n')", "name"),
    ("INSERT INTO messages (conversation_id, role) VALUES (%(conversation)s, 'user')", "content"),
    ("INSERT INTO agent_executions (agent_id, prompt) VALUES ('a', 'p')", "success"),
    ("INSERT INTO rag_chunks (workspace_id, content_id, chunk_index, content) "
     "VALUES (%(ws)s, 'c', 0, 'x')", "embedding"),
    ("INSERT INTO code_nodes (name, fully_qualified_name) VALUES ('n', 'n')", "node_type"),
    ("INSERT INTO index_metadata (file_path, workspace_path, index_type) VALUES ('f', '/w', 'rag')",
     "content_hash"),
    ("INSERT INTO configurations (key) VALUES ('k')", "value"),
    ("INSERT INTO stories (description) VALUES ('no title')", "title"),
    ("INSERT INTO story_steps (story_id, name, capability) VALUES (%(story)s, 'n', 'c')", "order"),
    ("UPDATE story_steps SET status = NULL", "status"),
    ("INSERT INTO rag_search_calibrations (workspace_id, embedding_dims, recall_target, queries, chunks) "
     "VALUES (%(ws)s, 384, 0.95, 1, 1)", "recall"),
]


@pytest.mark.parametrize(("statement", "column"), NOT_NULLS, ids=[c for _, c in NOT_NULLS])
def test_not_null_rejects(seeded: tuple[Any, dict[str, Any]], statement: str, column: str) -> None:
    conn, ids = seeded
    exc = _violation(conn, statement, ids, errors.NotNullViolation)
    assert exc.diag.column_name == column


def test_deletes_cascade_or_set_null_as_specified(seeded: tuple[Any, dict[str, Any]]) -> None:
    conn, _ = seeded
    counts = """SELECT (SELECT count(*) FROM conversations), (SELECT count(*) FROM messages),
        (SELECT count(*) FROM message_rag_contexts), (SELECT count(*) FROM story_steps),
        (SELECT count(*) FROM story_tasks), (SELECT count(*) FROM agent_executions
         WHERE conversation_id IS NULL AND story_step_id IS NULL)"""
    with conn.transaction(force_rollback=True):
        assert conn.execute(counts).fetchone() == (1, 1, 1, 1, 1, 0)
        conn.execute("DELETE FROM stories")
        # Conversations, their messages, steps and tasks go; the audit row stays, unlinked.
        assert conn.execute(counts).fetchone() == (0, 0, 0, 0, 0, 1)
        conn.execute("DELETE FROM agent_executions")
        assert conn.execute("SELECT agent_execution_id FROM tool_executions").fetchall() == [(None,)]
        conn.execute("DELETE FROM code_nodes WHERE name = 'login'")
        assert conn.execute("SELECT count(*) FROM code_edges").fetchone() == (0,)
        conn.execute("DELETE FROM workspaces")
        assert conn.execute("SELECT count(*) FROM rag_chunks").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM rag_search_calibrations").fetchone() == (0,)


# --- triggers -----------------------------------------------------------------------------------

UPDATED_AT = [
    ("workspaces", "id", "ws"), ("conversations", "id", "conversation"),
    ("tool_executions", "id", "tool_execution"), ("sessions", "id", "session"),
    ("configurations", "key", "config_key"), ("stories", "id", "story"),
    ("story_steps", "id", "step"), ("story_tasks", "id", "task"),
]


@pytest.mark.parametrize(("table", "key", "ref"), UPDATED_AT, ids=[t for t, _, _ in UPDATED_AT])
def test_updated_at_is_kept_current(seeded: tuple[Any, dict[str, Any]], table: str, key: str,
                                    ref: str) -> None:
    conn, ids = seeded
    query = sql.SQL("UPDATE {} SET updated_at = '2000-01-01' WHERE {} = %s "
                    "RETURNING updated_at = now()").format(sql.Identifier(table), sql.Identifier(key))
    with conn.transaction(force_rollback=True):
        assert conn.execute(query, (ids[ref],)).fetchall() == [(True,)]


def test_every_updated_at_column_has_the_trigger(seeded: tuple[Any, dict[str, Any]]) -> None:
    conn, _ = seeded
    # Each trigger-kept column without the trigger that keeps it.
    rows = conn.execute(
        """SELECT c.relname, a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
        WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'
          AND c.relname <> ALL (%s) AND a.attname = ANY(%s) AND NOT a.attisdropped
          AND NOT EXISTS (SELECT 1 FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid
                          WHERE t.tgrelid = c.oid AND p.proname = CASE a.attname
                          WHEN 'updated_at' THEN 'aura_set_updated_at'
                          WHEN 'created_by' THEN 'aura_set_audit' ELSE 'aura_bump_version' END)""",
        (list(BOOKKEEPING), ["updated_at", "created_by", "version"])).fetchall()
    assert rows == []
    tables = {t for t, _, _ in UPDATED_AT}
    has_updated_at = conn.execute(
        "SELECT array_agg(table_name::text ORDER BY table_name) FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND column_name = 'updated_at'").fetchone()
    assert has_updated_at == (sorted(tables),)


AGGREGATES = {
    "workspaces": "INSERT INTO workspaces (id, name, path) VALUES ('0123456789abcdef', 'w', '/w') "
                  "RETURNING id",
    "conversations": "INSERT INTO conversations (title) VALUES ('t') RETURNING id",
    "stories": "INSERT INTO stories (title) VALUES ('t') RETURNING id",
    "story_steps": "INSERT INTO story_steps (story_id, \"order\", name, capability) "
                   "VALUES (%(story)s, 1, 'n', 'c') RETURNING id",
}


@pytest.mark.parametrize("table", sorted(AGGREGATES))
def test_audit_columns_and_version_are_kept_by_triggers(seeded: tuple[Any, dict[str, Any]],
                                                        table: str) -> None:
    conn, ids = seeded
    name = sql.Identifier(table)
    with conn.transaction(force_rollback=True):
        conn.execute("SELECT set_config('aura.actor', 'alice', true)")
        row = conn.execute(AGGREGATES[table], ids).fetchone()
        assert row is not None
        read = sql.SQL("SELECT created_by, updated_by, version, deleted_at FROM {} WHERE id = %s")
        assert conn.execute(read.format(name), row).fetchone() == ("alice", "alice", 1, None)
        conn.execute("SELECT set_config('aura.actor', 'bob', true)")
        # The triggers own these columns: what the statement writes into them is overridden.
        update = sql.SQL("UPDATE {} SET created_by = 'mallory', version = 42, "
                         "deleted_at = now() WHERE id = %s")
        conn.execute(update.format(name), row)
        conn.execute(update.format(name), row)
        assert conn.execute(read.format(name), row).fetchone()[:3] == ("alice", "bob", 3)
        # without an actor, an update is nobody's (not bob's), and updated_by cannot be forged
        conn.execute("SELECT set_config('aura.actor', '', true)")
        forged = sql.SQL("UPDATE {} SET updated_by = 'mallory' WHERE id = %s")
        conn.execute(forged.format(name), row)
        assert conn.execute(read.format(name), row).fetchone()[:3] == ("alice", None, 4)


@pytest.mark.parametrize("table", sorted(AGGREGATES))
def test_an_insert_cannot_claim_its_author(seeded: tuple[Any, dict[str, Any]], table: str) -> None:
    conn, ids = seeded
    claim = AGGREGATES[table].replace(") VALUES (", ", created_by, updated_by) VALUES (", 1) \
        .replace(") RETURNING", ", 'mallory', 'mallory') RETURNING", 1)
    read = sql.SQL("SELECT created_by, updated_by FROM {} WHERE id = %s").format(sql.Identifier(table))
    for actor, expected in (("alice", ("alice", "alice")), ("", (None, None))):
        with conn.transaction(force_rollback=True):
            conn.execute("SELECT set_config('aura.actor', %s, true)", (actor,))
            row = conn.execute(claim, ids).fetchone()
            assert conn.execute(read, row).fetchone() == expected


# --- vectors and full text ----------------------------------------------------------------------

def _plan_nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _plan_nodes(child)


def _explain(conn: psycopg.Connection[Any], query: str, params: dict[str, Any]) -> list[Any]:
    row = conn.execute("EXPLAIN (FORMAT JSON) " + query, params).fetchone()
    assert row is not None
    return [(n["Node Type"], n.get("Index Name")) for n in _plan_nodes(row[0][0]["Plan"])]


def _similarity(conn: psycopg.Connection[Any], dims: int, in_workspace: bool,
                untyped: bool = False) -> tuple[str, dict[str, Any], Any]:
    """The repositories' query shape for ``dims`` (the HNSW path's typed distance, or with
    ``untyped`` the exact path's, which matches no HNSW index), its parameters, and the probed
    row's id."""
    kind = "halfvec" if dims > 2000 else "vector"
    distance = ("embedding <=> %(q)s::vector" if untyped
                else f"embedding::{kind}({dims}) <=> %(q)s::{kind}({dims})")
    probe = conn.execute("SELECT id, embedding::text FROM rag_chunks WHERE embedding_dims = %s "
                         "ORDER BY content_id LIMIT 1", (dims,)).fetchone()
    assert probe is not None
    query = (f"SELECT id, embedding_dims FROM rag_chunks WHERE embedding_dims = {dims}"
             + (" AND workspace_id = %(ws)s" if in_workspace else "")
             + f" ORDER BY {distance} LIMIT 10")
    return query, {"ws": WORKSPACE, "q": probe[1]}, probe[0]


@pytest.mark.parametrize("in_workspace", [True, False], ids=["workspace", "all"])
@pytest.mark.parametrize("dims", DIMS)
def test_similarity_query_uses_the_hnsw_index_of_its_size(
    seeded: tuple[Any, dict[str, Any]], dims: int, in_workspace: bool
) -> None:
    conn, _ = seeded
    query, params, probe_id = _similarity(conn, dims, in_workspace)
    with conn.transaction(force_rollback=True):
        conn.execute("SET LOCAL enable_seqscan = off")
        if in_workspace:
            # A workspace filter makes the exact scan cheap at this size (see the next test):
            # forbid the sort it needs, to show the HNSW index serves this shape too.
            conn.execute("SET LOCAL enable_sort = off")
        assert ("Index Scan", f"ix_rag_chunks_embedding_{dims}") in _explain(conn, query, params)
        hits = conn.execute(query, params).fetchall()
    assert len(hits) == 10 and {d for _, d in hits} == {dims}
    assert hits[0][0] == probe_id, "a stored embedding's nearest neighbour is itself"


@pytest.mark.parametrize("dims", DIMS)
def test_small_workspace_takes_the_exact_scan_path(
    seeded: tuple[Any, dict[str, Any]], dims: int
) -> None:
    """The exact path's shape (rag_chunks.search_exact: an untyped distance, which matches no
    HNSW index) is a sort of the workspace's rows found through its index. (Left to the planner,
    the typed shape of the HNSW path goes either way at this size: since foundation 0020 keeps
    embeddings in the row the heap is larger, and the planner then picks the index for the
    384-dimension rows.)"""
    conn, _ = seeded
    query, params, probe_id = _similarity(conn, dims, in_workspace=True, untyped=True)
    with conn.transaction(force_rollback=True):
        conn.execute("SET LOCAL enable_seqscan = off")
        plan = _explain(conn, query, params)
        assert ("Sort", None) in plan
        assert any((name or "").startswith("ix_rag_chunks_workspace_") for _, name in plan), plan
        hits = conn.execute(query, params).fetchall()
    assert len(hits) == 10 and hits[0][0] == probe_id


def test_embedding_of_an_unsupported_size_is_rejected(seeded: tuple[Any, dict[str, Any]]) -> None:
    conn, ids = seeded
    exc = _violation(
        conn,
        "INSERT INTO rag_chunks (workspace_id, content_id, chunk_index, content, embedding) "
        "VALUES (%(ws)s, 'odd', 0, 'x', array_fill(0.5, ARRAY[100])::vector)",
        ids, errors.CheckViolation)
    assert exc.diag.constraint_name == "ck_rag_chunks_embedding_dims_supported"


def test_full_text_uses_simple_config_and_the_gin_index(seeded: tuple[Any, dict[str, Any]]) -> None:
    conn, _ = seeded
    tsv = conn.execute("SELECT content_tsv::text FROM rag_chunks "
                       "WHERE content_id = 'src/m384/f7.py'").fetchone()
    # 'simple': no stemming, stop words kept; the title is weighted A, the content B.
    assert tsv == ("'7':5B 'handlers':1A,3B 'return':4B 'the':2B",)
    query = ("SELECT count(*) FROM rag_chunks WHERE workspace_id = %(ws)s "
             "AND content_tsv @@ to_tsquery('simple', 'handlers & 7')")
    with conn.transaction(force_rollback=True):
        conn.execute("SET LOCAL enable_seqscan = off")
        assert ("Bitmap Index Scan", "ix_rag_chunks_content_tsv") in _explain(
            conn, query, {"ws": WORKSPACE})
        assert conn.execute(query, {"ws": WORKSPACE}).fetchone() == (len(DIMS),)


def test_source_path_prefix_lookup_uses_the_pattern_index(
    seeded: tuple[Any, dict[str, Any]]
) -> None:
    conn, _ = seeded
    query = ("SELECT count(*) FROM rag_chunks WHERE workspace_id = %(ws)s "
             "AND source_path LIKE 'src/m768/f1%%'")
    with conn.transaction(force_rollback=True):
        conn.execute("SET LOCAL enable_seqscan = off")
        plan = _explain(conn, query, {"ws": WORKSPACE})
        assert any(name == "ix_rag_chunks_workspace_source_path" for _, name in plan), plan
        expected = sum(1 for g in range(1, ROWS_PER_DIM + 1) if str(g).startswith("1"))
        assert conn.execute(query, {"ws": WORKSPACE}).fetchone() == (expected,)


# --- catalog-wide rules -------------------------------------------------------------------------

def test_every_table_and_column_has_a_comment(seeded: tuple[Any, dict[str, Any]]) -> None:
    conn, _ = seeded
    missing = conn.execute(
        """SELECT c.relname || coalesce('.' || a.attname, '')
        FROM pg_class c
        LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
        WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p')
          AND c.relname <> ALL (%s)
          AND coalesce(CASE WHEN a.attnum IS NULL THEN obj_description(c.oid, 'pg_class')
                            ELSE col_description(c.oid, a.attnum) END, '') = ''
        UNION ALL
        SELECT c.relname FROM pg_class c
        WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p')
          AND c.relname <> ALL (%s) AND coalesce(obj_description(c.oid, 'pg_class'), '') = ''
        ORDER BY 1""", (list(BOOKKEEPING), list(BOOKKEEPING))).fetchall()
    assert missing == []
    tables = conn.execute("SELECT count(*) FROM pg_class WHERE relkind = 'r' "
                          "AND relnamespace = current_schema()::regnamespace "
                          "AND relname <> ALL (%s)", (list(BOOKKEEPING),)).fetchone()
    assert tables == (17,)  # the 16 of the data model and 0001's aura_created_extensions


def test_every_foreign_key_has_an_index_on_its_leading_columns(
    seeded: tuple[Any, dict[str, Any]]
) -> None:
    conn, _ = seeded
    unindexed = conn.execute(
        """SELECT k.conname FROM pg_constraint k
        WHERE k.contype = 'f' AND k.connamespace = current_schema()::regnamespace
          AND NOT EXISTS (
            SELECT 1 FROM pg_index i
            WHERE i.indrelid = k.conrelid AND i.indisvalid AND i.indpred IS NULL
              AND (string_to_array(i.indkey::text, ' ')::int2[])[1:cardinality(k.conkey)]
                  @> k.conkey
              AND (string_to_array(i.indkey::text, ' ')::int2[])[1:cardinality(k.conkey)]
                  <@ k.conkey)
        ORDER BY 1""").fetchall()
    assert unindexed == []
    count = conn.execute("SELECT count(*) FROM pg_constraint WHERE contype = 'f' "
                         "AND connamespace = current_schema()::regnamespace").fetchone()
    assert count == (len(FOREIGN_KEYS),)


def test_names_follow_the_conventions(seeded: tuple[Any, dict[str, Any]]) -> None:
    conn, _ = seeded
    rows = conn.execute(
        """SELECT k.conname FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
        WHERE c.relnamespace = current_schema()::regnamespace AND c.relname <> ALL (%(yoyo)s)
          AND NOT (k.contype = 'c' AND k.conname LIKE 'ck\\_' || c.relname || '\\_%%'
                   OR k.contype = 'f' AND k.conname LIKE 'fk\\_' || c.relname || '\\_%%'
                   OR k.contype = 'p' AND k.conname = c.relname || '_pkey'
                   OR k.contype = 'n')
        UNION ALL
        SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        JOIN pg_class t ON t.oid = i.indrelid
        WHERE t.relnamespace = current_schema()::regnamespace AND t.relname <> ALL (%(yoyo)s)
          AND NOT (i.indisprimary OR i.indisunique AND c.relname LIKE 'ux\\_' || t.relname || '\\_%%'
                   OR NOT i.indisunique AND c.relname LIKE 'ix\\_' || t.relname || '\\_%%')
        ORDER BY 1""", {"yoyo": list(BOOKKEEPING)}).fetchall()
    assert rows == []


def test_every_function_aura_db_defines_pins_its_search_path(conn: psycopg.Connection[Any]) -> None:
    rows = conn.execute(
        "SELECT p.proname, p.proconfig FROM pg_proc p"
        " WHERE p.pronamespace = 'public'::regnamespace"
        " AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass"
        "                 AND d.objid = p.oid AND d.deptype = 'e')"
        " ORDER BY p.proname").fetchall()
    assert [name for name, _ in rows] == [
        "aura_build_search_index", "aura_bump_version", "aura_comment_search_index",
        "aura_drop_search_index", "aura_reindex_search_index", "aura_search_index_statement",
        "aura_set_audit", "aura_set_updated_at"]
    # built-ins first, pg_temp last (where it cannot shadow anything); the index functions also
    # need public, which only the owner may create in
    definer = {"aura_build_search_index", "aura_drop_search_index", "aura_reindex_search_index",
               "aura_comment_search_index"}
    assert all(config == [f"search_path=pg_catalog, {'public, ' if name in definer else ''}pg_temp"]
               for name, config in rows), rows
    # and they still work whatever search_path the calling session has
    conn.execute("CREATE SCHEMA hostile")
    conn.execute("CREATE FUNCTION hostile.now() RETURNS timestamptz LANGUAGE sql AS $$ SELECT 'epoch'::timestamptz $$")
    conn.execute("SET search_path = hostile, public")
    conn.execute("INSERT INTO workspaces (id, name, path) VALUES ('0123456789abcdef', 'w', '/w')")
    conn.execute("UPDATE workspaces SET name = 'v' WHERE id = '0123456789abcdef'")
    row = conn.execute("SELECT updated_at > 'epoch'::timestamptz, version FROM public.workspaces").fetchone()
    assert row == (True, 2)
