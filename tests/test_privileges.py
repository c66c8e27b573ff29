"""Least privilege: the owner / application / read-only roles (``aura-db roles``), pgvector for a
non-superuser owner, search-index maintenance without owning rag_chunks, and ``verify`` of the
search indexes. The suite's template is migrated by a non-superuser owner and every repository
test runs as the application role (tests/fix_db.py); this file proves what each role may not do.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from aura_db import Config, Database
from aura_db import errors as E
from aura_db.cli import main
from aura_db.migrations import load_migrations, migrate, rollback, verify, verify_indexes
from aura_db.migrations.files import SUPERSEDED
from aura_db.ops.roles import ensure_roles
from tests.fix_db import APP, OWNER, READONLY, PgServer, as_role

# -- the roles ------------------------------------------------------------------------------------


def test_the_roles_have_no_power_beyond_rows(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT rolname, rolsuper, rolcreatedb, rolcreaterole, rolbypassrls, rolreplication "
            "FROM pg_roles WHERE rolname = ANY(%s) ORDER BY 1", ([OWNER, APP, READONLY],)).fetchall()
        owners = conn.execute(
            "SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class "
            "WHERE relnamespace = 'public'::regnamespace").fetchall()
    assert rows == [(role, False, False, False, False, False) for role in sorted([APP, OWNER, READONLY])]
    assert owners == [(OWNER,)]  # the owner owns every object, nobody else owns any


@pytest.mark.parametrize("statement", [
    "CREATE TABLE intruder (i int)",
    "ALTER TABLE workspaces ADD COLUMN intruder int",
    "DROP TABLE configurations",
    "CREATE INDEX ix_intruder ON rag_chunks (content_id)",
    "TRUNCATE sessions",
    "CREATE FUNCTION intruder() RETURNS int LANGUAGE sql AS 'SELECT 1'",
    "ALTER TABLE rag_chunks DISABLE ROW LEVEL SECURITY",
    "DELETE FROM _yoyo_migration",
    "INSERT INTO aura_migration_files (migration_id, module, up_sha256, applied_by) "
    "VALUES ('x', 'x', 'x', 'x')",
])
def test_the_application_role_may_not_change_the_schema_or_the_bookkeeping(db: Database,
                                                                           statement: str) -> None:
    with pytest.raises(E.PermissionDenied) as caught, db.connection() as conn:
        conn.execute(statement)  # type: ignore[call-overload]
    assert caught.value.sqlstate == "42501"


def test_the_application_role_reads_and_writes_rows_and_the_bookkeeping_only_reads(db: Database) -> None:
    ws = db.workspaces.upsert("/src/privileges")
    assert db.workspaces.get(ws.id).path == "/src/privileges"
    assert db.configurations.set("k", 1).value == 1
    assert db.health().pending_migrations == 0  # reads yoyo's tables


def test_the_read_only_role_reads_and_writes_nothing(db: Database, readonly_url: str) -> None:
    ws = db.workspaces.upsert("/src/readonly")
    with Database(Config(url=readonly_url, min_size=1, max_size=1)) as ro:
        assert ro.workspaces.get(ws.id).path == "/src/readonly"
        with pytest.raises(E.PermissionDenied, match="permission denied for table workspaces"):
            ro.workspaces.upsert("/src/other")
        with pytest.raises(E.PermissionDenied, match="permission denied for table configurations"):
            ro.configurations.set("k", 1)
        with pytest.raises(E.PermissionDenied, match="AURA_MIGRATION_URL"):
            ro.rag_chunks.drop_search_index(768)
        for statement in ("UPDATE workspaces SET name = 'x'", "DELETE FROM stories",
                          "SELECT aura_drop_search_index(768)", "CREATE TABLE t (i int)"):
            with pytest.raises(E.PermissionDenied), ro.connection() as conn:
                conn.execute(statement)  # type: ignore[call-overload]
    assert db.workspaces.get(ws.id).name == ws.name


def test_default_privileges_cover_tables_of_later_migrations(db_url: str, app_url: str,
                                                             readonly_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as owner:  # what a later migration does
        owner.execute("CREATE TABLE later (id serial PRIMARY KEY, v int)")
    with psycopg.connect(app_url, autocommit=True) as app:
        app.execute("INSERT INTO later (v) VALUES (1)")
        assert app.execute("SELECT v FROM later").fetchall() == [(1,)]
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            app.execute("DROP TABLE later")
    with psycopg.connect(readonly_url, autocommit=True) as ro:
        assert ro.execute("SELECT count(*) FROM later").fetchone() == (1,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            ro.execute("INSERT INTO later (v) VALUES (2)")


def test_a_new_migrate_leaves_the_bookkeeping_to_the_owner(db_url: str, app_url: str) -> None:
    newest = load_migrations()[-1].id
    assert rollback(db_url, steps=1) and migrate(db_url) == [newest]
    with psycopg.connect(app_url) as app:
        writable = app.execute(
            "SELECT t FROM unnest(%s::text[]) t WHERE has_table_privilege(t, 'INSERT') "
            "OR has_table_privilege(t, 'DELETE') OR has_table_privilege(t, 'UPDATE')",
            (["_yoyo_migration", "_yoyo_log", "aura_migration_files", "aura_created_extensions",
              "yoyo_lock"],)).fetchall()
    assert writable == []


def test_roles_is_idempotent_and_checks_what_it_is_given(db_url: str, admin_url: str) -> None:
    first = ensure_roles(db_url, app=APP, readonly=READONLY)
    again = ensure_roles(db_url, app=APP, readonly=READONLY)
    assert first.created == again.created == [] and again.bookkeeping_revoked == []
    assert again.owner == OWNER and f"  {APP}: application (read/write rows, no DDL), exists, " \
        "privileges granted" in again.lines()
    with pytest.raises(E.InvalidValue, match="application role name"):
        ensure_roles(db_url, app="Robert'); DROP TABLE stories;--", readonly=READONLY)
    with pytest.raises(E.InvalidValue, match="must differ"):
        ensure_roles(db_url, app=APP, readonly=APP)
    missing = f"aura_missing_{uuid.uuid4().hex[:8]}"
    with pytest.raises(E.PermissionDenied, match=f"CREATE ROLE {missing} LOGIN"):
        ensure_roles(db_url, app=missing, readonly=READONLY)  # the owner has no CREATEROLE
    powerful = f"aura_powerful_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN BYPASSRLS").format(sql.Identifier(powerful)))
    try:
        with pytest.raises(E.ToolError, match="BYPASSRLS"):
            ensure_roles(db_url, app=powerful, readonly=READONLY)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(powerful)))


def test_roles_creates_missing_roles_with_a_scram_password_when_allowed(
        db_url: str, admin_url: str, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    app, ro = (f"aura_new_{kind}_{uuid.uuid4().hex[:6]}" for kind in ("app", "ro"))
    secret = tmp_path / "pw"
    secret.write_text("s3cret-Pw\n")
    try:
        # a superuser (or a CREATEROLE owner) may create them; the password never shows
        code = main(["--url", admin_url, "roles", "--app", app, "--readonly", ro,
                     "--app-password-file", str(secret)])
        out, err = capsys.readouterr()
        assert code == 0, err
        assert f"{app}: application (read/write rows, no DDL), created" in out and "s3cret" not in out + err
        with psycopg.connect(admin_url) as admin:
            rows = admin.execute(
                "SELECT rolname, rolcanlogin, rolsuper, rolbypassrls, left(rolpassword, 14) "
                "FROM pg_authid WHERE rolname = ANY(%s) ORDER BY rolname", ([app, ro],)).fetchall()
            grants = admin.execute(
                "SELECT has_table_privilege(%s, 'stories', 'INSERT'), has_table_privilege(%s, "
                "'stories', 'INSERT'), has_table_privilege(%s, 'stories', 'SELECT')",
                (app, ro, ro)).fetchone()
        assert rows == [(app, True, False, False, "SCRAM-SHA-256$"), (ro, True, False, False, None)]
        assert grants == (True, False, True)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            for role in (app, ro):
                admin.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
                admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


# -- AURA_MIGRATION_URL -----------------------------------------------------------------------------


def test_migration_commands_use_the_migration_url(db_url: str, app_url: str, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("AURA_DATABASE_URL", app_url)
    monkeypatch.delenv("AURA_MIGRATION_URL", raising=False)
    assert main(["rollback"]) == 1  # as the application role: refused, typed, one line
    assert "migrations run as the owner: set AURA_MIGRATION_URL" in capsys.readouterr().err
    monkeypatch.setenv("AURA_MIGRATION_URL", db_url)
    assert main(["rollback"]) == 0 and main(["migrate"]) == 0
    assert "1 migration(s) applied" in capsys.readouterr().out
    config = Config.from_env()
    assert config.url == app_url and config.migration_url == db_url
    with Database(config) as db:  # the application's pool is the application role's
        with db.connection() as conn:
            assert conn.execute("SELECT current_user").fetchone() == (APP,)
        assert db.migrate() == []  # migrate() itself goes through the owner's URL


# -- pgvector and a non-superuser owner ---------------------------------------------------------


def _owned_empty_db(pg_server: PgServer, make_db_url: Callable[..., str]) -> tuple[str, str]:
    """An empty database owned by the test owner: (superuser URL, owner URL)."""
    admin = make_db_url(migrated=False)
    name = str(conninfo_to_dict(admin)["dbname"])
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(name), sql.Identifier(OWNER)))
    return admin, as_role(admin, OWNER)


def _extensions(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [r[0] for r in conn.execute("SELECT extname FROM pg_extension ORDER BY 1")]


def test_a_non_superuser_owner_migrates_and_rolls_back_with_vector_precreated(
        pg_server: PgServer, make_db_url: Callable[..., str]) -> None:
    admin, owner = _owned_empty_db(pg_server, make_db_url)
    with pytest.raises(E.MigrationError, match="CREATE EXTENSION vector") as caught:
        migrate(owner)  # the one prerequisite is missing: said so, with the fix
    assert "may not create it" in str(caught.value)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION vector")
    applied = migrate(owner)
    assert len(applied) == len(load_migrations())
    assert verify(owner) == [] and verify_indexes(owner) == []
    assert len(rollback(owner, steps=len(applied), cascade=True)) == len(applied)
    assert _extensions(admin) == ["plpgsql", "vector"]  # it was there before aura-db: it stays


def test_rollback_drops_vector_only_when_aura_db_created_it(make_db_url: Callable[..., str]) -> None:
    created_here = make_db_url(migrated=False)
    migrate(created_here)  # a superuser: 0001 creates the extension and says so
    with psycopg.connect(created_here) as conn:
        assert conn.execute("SELECT extname FROM aura_created_extensions").fetchall() == [("vector",)]
    rollback(created_here, steps=len(load_migrations()), cascade=True)
    assert _extensions(created_here) == ["plpgsql"]

    before = make_db_url(migrated=False)
    with psycopg.connect(before, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION vector")
    migrate(before)
    rollback(before, steps=len(load_migrations()), cascade=True)
    assert _extensions(before) == ["plpgsql", "vector"]


def test_verify_accepts_the_superseded_first_version_of_0001(db_url: str) -> None:
    old_up, old_down = sorted(SUPERSEDED["0001_workspaces"])  # either order: both are accepted
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("UPDATE aura_migration_files SET up_sha256 = %s, down_sha256 = %s "
                     "WHERE migration_id = '0001_workspaces'", (old_up, old_down))
    assert verify(db_url) == []
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("UPDATE aura_migration_files SET up_sha256 = repeat('0', 64) "
                     "WHERE migration_id = '0001_workspaces'")
    assert [d.kind for d in verify(db_url)] == ["edited"]


# -- search indexes without owning rag_chunks ----------------------------------------------------


def _index_defs(url: str) -> dict[str, str]:
    with psycopg.connect(url) as conn:
        return dict(conn.execute(  # type: ignore[arg-type]
            "SELECT c.relname, pg_get_indexdef(c.oid) FROM pg_index i JOIN pg_class c "
            "ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam "
            "WHERE i.indrelid = 'rag_chunks'::regclass AND a.amname = 'hnsw'").fetchall())


def test_the_application_role_maintains_search_indexes_as_the_migrations_define_them(
        db: Database, db_url: str) -> None:
    migrated = _index_defs(db_url)
    for dims in (384, 768, 1536, 3072):
        db.rag_chunks.drop_search_index(dims)
    assert _index_defs(db_url) == {}
    assert sorted(d.index for d in verify_indexes(db_url)) == [
        f"ix_rag_chunks_embedding_{d}" for d in (1536, 3072, 384, 768)]
    for dims in (384, 768, 1536, 3072):
        db.rag_chunks.build_search_index(dims)
    assert _index_defs(db_url) == migrated  # the same definition as foundation 0005's
    assert verify_indexes(db_url) == []

    db.rag_chunks.reindex_search_index(768, m=8, ef_construction=32)
    options = {i.name: i.options for i in db.rag_chunks.search_indexes()}
    assert options["ix_rag_chunks_embedding_768"] == ["m=8", "ef_construction=32"]
    drift = verify_indexes(db_url)
    assert [(d.kind, d.index) for d in drift] == [("parameters", "ix_rag_chunks_embedding_768")]
    assert "ef_construction=32, m=8" in drift[0].message
    with db.rag_chunks.bulk_load(768):
        assert "ix_rag_chunks_embedding_768" not in _index_defs(db_url)
    assert _index_defs(db_url) == migrated  # bulk_load rebuilds with the default parameters
    with pytest.raises(E.InvalidValue, match="ef_construction"):
        db.rag_chunks.build_search_index(768, m=16, ef_construction=20)  # below 2 * m


def test_the_maintenance_functions_refuse_anything_but_their_indexes(app_url: str) -> None:
    with psycopg.connect(app_url, autocommit=True) as app:
        for call, message in (("SELECT aura_drop_search_index(100)", "no search index for embedding_dims 100"),
                              ("SELECT aura_build_search_index(768, 1, 64)", "m must be 2-100"),
                              ("SELECT aura_reindex_search_index(768, 16, 8)", "at least 2 \\* m")):
            with pytest.raises(psycopg.errors.InvalidParameterValue, match=message):
                app.execute(call)  # type: ignore[call-overload]


def test_verify_and_status_report_an_extra_search_index(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("CREATE INDEX ix_rag_chunks_handmade ON rag_chunks USING gin (content_tsv)")
    assert main(["--url", db_url, "verify"]) == 1
    out = capsys.readouterr().out
    assert "index extra: search index ix_rag_chunks_handmade (gin) is not in the migrations" in out
    assert "0 problem(s) with applied migration files, 1 with search indexes" in out
    assert main(["--url", db_url, "status"]) == 0
    assert "search index extra: search index ix_rag_chunks_handmade" in capsys.readouterr().out


def test_every_function_runs_with_its_own_search_path_whoever_calls(app_url: str, db: Database) -> None:
    """A caller's search_path cannot redirect the SECURITY DEFINER functions to its objects."""
    with psycopg.connect(app_url, autocommit=True) as app:
        app.execute("SET search_path = pg_temp, public")
        app.execute("CREATE TEMP TABLE rag_chunks (i int)")  # a decoy the function must not touch
        app.execute("SELECT aura_drop_search_index(384)")
        app.execute("SELECT aura_build_search_index(384, 16, 64)")
    assert any(i.name == "ix_rag_chunks_embedding_384" and i.valid for i in db.rag_chunks.search_indexes())
