"""``aura-db roles``: the owner, application and read-only roles, and what each may do.

Run by the **owner** (the role that runs migrations and owns every object; ``AURA_MIGRATION_URL``)
in its database, before or after migrating; running it again changes nothing. It

- creates the application and read-only roles when they are missing (LOGIN, not superuser, no
  CREATEDB / CREATEROLE / BYPASSRLS / REPLICATION) — that needs CREATEROLE; without it a DBA
  creates them first and this command only grants — and refuses roles that exist with any of
  those powers;
- grants the application role SELECT, INSERT, UPDATE, DELETE on every table, USAGE and SELECT on
  every sequence, EXECUTE on aura-db's functions (the search-index maintenance of foundation
  0012 included), CONNECT and TEMPORARY on the database; the read-only role SELECT and CONNECT;
  neither may CREATE in the schema (revoked from PUBLIC too), ALTER or DROP anything;
- sets the owner's default privileges so tables, sequences and functions of later migrations
  are covered the same way;
- leaves the migration bookkeeping writable by the owner only
  (:func:`aura_db.migrations.privileges.lock_bookkeeping`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from .._pgerrors import translate
from ..errors import InvalidValue, PermissionDenied, ToolError
from ..migrations.privileges import BOOKKEEPING, lock_bookkeeping

__all__ = ["RoleReport", "ensure_roles"]

_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_POWERS = ("rolsuper", "rolcreatedb", "rolcreaterole", "rolbypassrls", "rolreplication")
# functions the read-only role must not run (PUBLIC's EXECUTE is revoked by foundation 0012)
_MAINTENANCE = ("aura_drop_search_index(integer)", "aura_build_search_index(integer, integer, integer)",
                "aura_reindex_search_index(integer, integer, integer)", "aura_comment_search_index(integer)")


@dataclass
class RoleReport:
    """What ``ensure_roles`` found and did, for the operator."""

    owner: str
    database: str
    app: str
    readonly: str
    created: list[str] = field(default_factory=list)
    bookkeeping_revoked: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"database {self.database}: owner {self.owner}"]
        for role, what in ((self.app, "application (read/write rows, no DDL)"),
                           (self.readonly, "read-only")):
            state = "created" if role in self.created else "exists"
            out.append(f"  {role}: {what}, {state}, privileges granted")
        out.append(f"  default privileges of {self.owner} cover tables, sequences and functions "
                   f"of later migrations")
        out.extend(f"  revoked writes on bookkeeping {r}" for r in self.bookkeeping_revoked)
        return out


def _check_name(kind: str, name: str) -> None:
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidValue(f"roles: the {kind} role name must match {_NAME.pattern}, got {name!r}")


def ensure_roles(owner_url: str, *, app: str = "aura_app", readonly: str = "aura_readonly",
                 app_password: str | None = None, readonly_password: str | None = None) -> RoleReport:
    """Create (when missing) and grant the application and read-only roles in the database at
    ``owner_url``, as its owner; idempotent. Passwords, when given, are sent SCRAM-encrypted
    (never in clear text, so not in the server log). Returns what was done."""
    _check_name("application", app)
    _check_name("read-only", readonly)
    if app == readonly:
        raise InvalidValue(f"roles: the application and read-only roles must differ, both are {app!r}")
    try:
        return _ensure(owner_url, app, readonly, app_password, readonly_password)
    except psycopg.Error as exc:
        raise translate(exc, "roles") from exc


def _ensure(owner_url: str, app: str, readonly: str, app_password: str | None,
            readonly_password: str | None) -> RoleReport:
    with psycopg.connect(owner_url, autocommit=True, application_name="aura-db roles",
                         options="-c lock_timeout=10000") as conn:
        row = conn.execute("SELECT current_user, current_database()").fetchone()
        assert row is not None
        report = RoleReport(owner=row[0], database=row[1], app=app, readonly=readonly)
        if report.owner in (app, readonly):
            raise InvalidValue(f"roles: run this as the owner, not as the {report.owner!r} role it grants")
        with conn.transaction():
            for name, password in ((app, app_password), (readonly, readonly_password)):
                if _ensure_role(conn, name, password):
                    report.created.append(name)
            _grant(conn, report)
            report.bookkeeping_revoked = lock_bookkeeping(conn)
    return report


def _ensure_role(conn: psycopg.Connection[Any], name: str, password: str | None) -> bool:
    """Create the role when missing (True); refuse one with powers it must not have."""
    row = conn.execute("SELECT rolsuper, rolcreatedb, rolcreaterole, rolbypassrls, rolreplication "
                       "FROM pg_roles WHERE rolname = %s", (name,)).fetchone()
    if row is not None:
        powers = [p.removeprefix("rol").upper() for p, has in zip(_POWERS, row, strict=True) if has]
        if powers:
            raise ToolError(f"roles: role {name!r} exists with {', '.join(powers)}; the application "
                            f"and read-only roles must have none of these (ALTER ROLE {name} "
                            f"NO{' NO'.join(powers)};)")
        if password is not None:
            conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                sql.Identifier(name), sql.Literal(_encrypted(conn, name, password))))
        return False
    statement = sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS "
                        "NOREPLICATION INHERIT").format(sql.Identifier(name))
    if password is not None:
        statement += sql.SQL(" PASSWORD {}").format(sql.Literal(_encrypted(conn, name, password)))
    try:
        with conn.transaction():
            conn.execute(statement)
    except psycopg.errors.InsufficientPrivilege:
        raise PermissionDenied(
            f"roles: role {name!r} does not exist and {conn.info.user!r} may not create it (it "
            f"needs CREATEROLE): a DBA runs CREATE ROLE {name} LOGIN; then run aura-db roles again"
        ) from None
    return True


def _encrypted(conn: psycopg.Connection[Any], name: str, password: str) -> str:
    return conn.pgconn.encrypt_password(password.encode(), name.encode(), b"scram-sha-256").decode()


def _grant(conn: psycopg.Connection[Any], report: RoleReport) -> None:
    app, ro = sql.Identifier(report.app), sql.Identifier(report.readonly)
    owner, database = sql.Identifier(report.owner), sql.Identifier(report.database)
    statements = [
        sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(database, app),
        sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(database, ro),
        sql.SQL("REVOKE CREATE ON SCHEMA public FROM PUBLIC, {}, {}").format(app, ro),
        sql.SQL("GRANT USAGE ON SCHEMA public TO {}, {}").format(app, ro),
        sql.SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {}").format(app),
        sql.SQL("GRANT SELECT ON ALL SEQUENCES IN SCHEMA public TO {}").format(ro),
        sql.SQL("GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO {}").format(app),
    ]
    for objects, to_app, to_ro in (("TABLES", "SELECT, INSERT, UPDATE, DELETE", "SELECT"),
                                   ("SEQUENCES", "USAGE, SELECT", "SELECT"),
                                   ("FUNCTIONS", "EXECUTE", None)):
        prefix = sql.SQL("ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA public GRANT ").format(owner)
        statements.append(prefix + sql.SQL(f"{to_app} ON {objects} TO ") + app)
        if to_ro:
            statements.append(prefix + sql.SQL(f"{to_ro} ON {objects} TO ") + ro)
    tables = conn.execute(
        "SELECT c.relname, c.relname = ANY(%s) FROM pg_class c "
        "WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm') "
        "ORDER BY 1", (list(BOOKKEEPING),)).fetchall()
    data = sql.SQL(", ").join(sql.Identifier(name) for name, bookkeeping in tables if not bookkeeping)
    every = sql.SQL(", ").join(sql.Identifier(name) for name, _ in tables)
    if tables:  # the bookkeeping is read by status and health, written by migrations only
        statements.append(sql.SQL("GRANT SELECT ON TABLE {} TO {}, {}").format(every, app, ro))
    if any(not bookkeeping for _, bookkeeping in tables):
        statements.append(sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE {} TO {}").format(data, app))
    for statement in statements:
        conn.execute(statement)
    for function in _MAINTENANCE:  # the read-only role may not change indexes
        if conn.execute("SELECT to_regprocedure(%s)", (function,)).fetchone() not in (None, (None,)):
            conn.execute(sql.SQL("REVOKE EXECUTE ON FUNCTION {} FROM PUBLIC, {}").format(
                sql.SQL(function), ro))
