"""Schema check: prepare and describe every named query against a migrated database.

sqlc-grade checking without code generation: a query that names a missing column, has a type
error or declares a shape its statement cannot have is reported with the server's message and
HINT at the ``file:line`` of the offending text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import pq

from ..queries import Query, QueryCatalog, Shape

__all__ = ["Problem", "check_queries"]


@dataclass(frozen=True, slots=True)
class Problem:
    """One query that does not fit the schema."""

    query: str
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.query}: {self.message}"


def check_queries(conn: psycopg.Connection[Any], catalog: QueryCatalog) -> list[Problem]:
    """Prepare (unnamed) and describe each query on ``conn``; return the problems found.

    Scripts (several statements) and COPY ... FROM STDIN cannot be prepared, so they are
    skipped. ``conn`` must be idle.
    """
    problems: list[Problem] = []
    for query in catalog.values():
        if query.shape in (Shape.SCRIPT, Shape.COPY_IN):
            continue
        problem = _check_one(conn.pgconn, query)
        if problem is not None:
            problems.append(problem)
    return problems


def _check_one(pgconn: pq.abc.PGconn, query: Query) -> Problem | None:
    res = pgconn.prepare(b"", query.sql.encode())
    if res.status != pq.ExecStatus.COMMAND_OK:
        return _server_problem(query, res)
    desc = pgconn.describe_prepared(b"")
    if desc.status != pq.ExecStatus.COMMAND_OK:
        return _server_problem(query, desc)
    if desc.nparams != len(query.params):
        return Problem(query.name, query.file, query.line,
                       f"server sees {desc.nparams} parameters, the file declares "
                       f"{len(query.params)}")
    if query.shape.returns_rows and desc.nfields == 0:
        return Problem(query.name, query.file, query.line,
                       f"declared shape {query.shape.value or '(many)'!r} returns rows, "
                       f"but the statement returns none (add RETURNING, or use '!')")
    if query.shape is Shape.SCALAR and desc.nfields != 1:
        return Problem(query.name, query.file, query.line,
                       f"a scalar query must return one column, this one returns {desc.nfields}")
    return None


def _server_problem(query: Query, res: pq.abc.PGresult) -> Problem:
    def field(code: int) -> str:
        value = res.error_field(code)
        return value.decode(errors="replace") if value else ""

    message = field(pq.DiagnosticField.MESSAGE_PRIMARY) or "unknown error"
    hint = field(pq.DiagnosticField.MESSAGE_HINT)
    position = field(pq.DiagnosticField.STATEMENT_POSITION)
    line = query.source_line(int(position)) if position.isdigit() else query.line
    sqlstate = field(pq.DiagnosticField.SQLSTATE)
    text = f"{message} [{sqlstate}]" + (f" (hint: {hint})" if hint else "")
    return Problem(query.name, query.file, line, text)
