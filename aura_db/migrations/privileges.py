"""The migration bookkeeping is written by migrations only.

The owner's default privileges (``aura-db roles``) give the application role INSERT, UPDATE and
DELETE on every table the owner creates, and yoyo creates its tables on the first run: without
this step the application could rewrite which migrations are applied. Every migrate, rollback
and ``aura-db roles`` run takes the write privileges on these tables back from every role but
their owner, leaving SELECT (``health`` and ``status`` read them).
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

__all__ = ["BOOKKEEPING", "lock_bookkeeping"]

# yoyo's tables, aura-db's migration records, and the tables only migrations write
BOOKKEEPING = ("_yoyo_migration", "_yoyo_log", "_yoyo_version", "yoyo_lock", "aura_migration_files",
               "aura_migration_failures", "aura_created_extensions")

_WRITES = {name: sql.SQL(name) for name in ("INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES",
                                             "TRIGGER")}


def lock_bookkeeping(conn: psycopg.Connection[Any]) -> list[str]:
    """Revoke every write privilege on the bookkeeping tables from every role but the table's
    owner; return ``"table: role"`` for each revoke made."""
    rows = conn.execute(
        "SELECT c.relname, r.rolname, array_agg(a.privilege_type ORDER BY a.privilege_type) "
        "FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) a "
        "LEFT JOIN pg_roles r ON r.oid = a.grantee "
        "WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r' "
        "  AND c.relname = ANY(%s) AND a.grantee <> c.relowner AND a.privilege_type = ANY(%s) "
        "GROUP BY 1, 2 ORDER BY 1, 2",
        (list(BOOKKEEPING), list(_WRITES)),
    ).fetchall()
    done = []
    for table, grantee, privileges in rows:  # grantee NULL: PUBLIC
        who = sql.SQL("PUBLIC") if grantee is None else sql.Identifier(grantee)
        conn.execute(sql.SQL("REVOKE {} ON TABLE {} FROM {}").format(
            sql.SQL(", ").join(_WRITES[p] for p in privileges), sql.Identifier(table), who))
        done.append(f"{table}: {grantee or 'PUBLIC'}")
    return done
