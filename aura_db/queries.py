"""Named queries: ``sql/queries/*.sql`` parsed once into immutable :class:`Query` records.

File syntax::

    -- name: get_story^
    -- Get one story by id.            (doc lines: become the query's doc)
    SELECT * FROM stories WHERE id = %(id)s;

The suffix after the name is the result shape (see :class:`Shape`). Parameters are written
``%(name)s`` and compiled once to native ``$n`` placeholders; queries run through a
:class:`psycopg.RawCursor`, so the text sent is stable (psycopg prepares it after a few runs) and
a literal ``%`` needs no escaping. Every statement carries a tag comment
(``/* aura-db:get_story stories.sql:12 */``) so server logs show where it came from.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from psycopg.rows import RowFactory, tuple_row

from . import resources
from ._query_base import Shape
from ._query_run_async import AsyncQueryRunner
from ._query_run_sync import QueryRunner
from ._sqlscan import IDENT, compile_params, scan
from .errors import QueryFileError, QueryShapeError

__all__ = ["Query", "QueryCatalog", "Shape", "default_catalog", "load_queries", "parse_file"]

R = TypeVar("R")

_NAME_LINE = re.compile(r"--\s*name\s*:(?P<rest>.*)\Z")
_SHAPE_CHARS = "^?$!*#<"
_COPY_FROM_STDIN = re.compile(r"\s*COPY\b.*\bFROM\s+STDIN\b[^;]*;?\s*\Z", re.IGNORECASE | re.DOTALL)


class Query(QueryRunner, AsyncQueryRunner):
    """One named query, compiled. ``sql`` is the exact text sent to the server. Its runners
    (``many``, ``one``, ... for a connection; ``amany``, ``aone``, ... for an async one) are
    :mod:`aura_db._query_run_async`'s."""

    __slots__ = ()

    def __call__(self, conn: psycopg.Connection[Any], /, row_factory: RowFactory[Any] = tuple_row,
                 **args: Any) -> Any:
        """Run the query by its declared shape (untyped convenience; repositories use the
        shape-specific methods)."""
        if self.shape is Shape.MANY:
            return self.many(conn, row_factory, **args)
        if self.shape is Shape.ONE:
            return self.one(conn, row_factory, **args)
        if self.shape is Shape.OPTIONAL:
            return self.optional(conn, row_factory, **args)
        if self.shape is Shape.SCALAR:
            return self.scalar(conn, **args)
        if self.shape is Shape.AFFECTED:
            return self.affected(conn, **args)
        if self.shape is Shape.SCRIPT:
            return self.script(conn)
        call = "copy_in(conn, types, rows)" if self.shape is Shape.COPY_IN else "execute_many(conn, sets)"
        raise QueryShapeError(f"query {self.name!r} ({self.location}) takes {call}")

class QueryCatalog(Mapping[str, Query]):
    """Every named query of a directory, by name (names are unique across files)."""

    def __init__(self, queries: Iterable[Query]) -> None:
        self._queries: dict[str, Query] = {}
        for q in queries:
            if q.name in self._queries:
                first = self._queries[q.name]
                raise QueryFileError(
                    f"duplicate query name {q.name!r} (first defined at {first.location})",
                    file=q.file, line=q.line,
                )
            self._queries[q.name] = q

    def __getitem__(self, name: str) -> Query:
        try:
            return self._queries[name]
        except KeyError:
            raise KeyError(f"no named query {name!r} (known: {len(self._queries)} queries)") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._queries)

    def __len__(self) -> int:
        return len(self._queries)

    def in_file(self, file: str) -> list[Query]:
        """The queries of one file (``stories.sql``), in file order."""
        return [q for q in self._queries.values() if q.file == file]


def load_queries(directory: Path | None = None) -> QueryCatalog:
    """Parse every ``*.sql`` file under ``directory`` (default: the shipped ``sql/queries``).

    Raises :class:`QueryFileError` naming ``file:line`` for any malformed query.
    """
    directory = resources.queries_dir() if directory is None else directory
    queries: list[Query] = []
    for path in sorted(directory.glob("*.sql")):
        queries.extend(parse_file(path.read_text(encoding="utf-8"), path.name))
    return QueryCatalog(queries)


@functools.cache
def default_catalog() -> QueryCatalog:
    """The shipped queries, parsed and compiled once per process."""
    return load_queries()


# -- parsing -------------------------------------------------------------------------------------


def parse_file(text: str, file: str) -> list[Query]:
    """Parse one query file's text; ``file`` is the name used in locations and tags."""
    lines = text.splitlines(keepends=True)
    headers = [i for i, ln in enumerate(lines) if _NAME_LINE.match(ln.strip())]
    _check_preamble(lines[: headers[0] if headers else len(lines)], file)
    if not headers:
        raise QueryFileError("no '-- name:' line: the file defines no query", file=file, line=1)
    queries: list[Query] = []
    seen: dict[str, int] = {}
    for n, start in enumerate(headers):
        end = headers[n + 1] if n + 1 < len(headers) else len(lines)
        q = _parse_block(lines, start, end, file)
        if q.name in seen:
            raise QueryFileError(
                f"duplicate query name {q.name!r} (first defined at line {seen[q.name]})",
                file=file, line=q.line,
            )
        seen[q.name] = q.line
        queries.append(q)
    return queries


def _check_preamble(lines: list[str], file: str) -> None:
    for i, ln in enumerate(lines):
        stripped = ln.strip()
        if stripped and not stripped.startswith("--"):
            raise QueryFileError("SQL before the first '-- name:' line", file=file, line=i + 1)


def _parse_block(lines: list[str], start: int, end: int, file: str) -> Query:
    line_no = start + 1
    match = _NAME_LINE.match(lines[start].strip())
    assert match is not None
    name, shape = _parse_name(match.group("rest").strip(), file, line_no)
    i = start + 1
    doc: list[str] = []
    while i < end and lines[i].strip().startswith("--") and not lines[i].strip().startswith("---"):
        doc.append(lines[i].strip()[2:].strip())
        i += 1
    source = "".join(lines[i:end])
    body_line = i + 1
    tokens = scan(source, file, body_line)
    if not tokens.has_code:
        raise QueryFileError(f"empty body for query {name!r}", file=file, line=line_no)
    if tokens.extra_statement_at is not None and shape is not Shape.SCRIPT:
        raise QueryFileError(
            f"query {name!r} has more than one statement (declare it a script with '#')",
            file=file, line=body_line + source.count("\n", 0, tokens.extra_statement_at),
        )
    if shape in (Shape.SCRIPT, Shape.COPY_IN) and tokens.params:
        raise QueryFileError(f"{shape.name.lower().replace('_', '-')} query {name!r} cannot take parameters",
                             file=file, line=line_no)
    if shape is Shape.COPY_IN and not _COPY_FROM_STDIN.match(source):
        raise QueryFileError(f"copy-in query {name!r} must be one COPY ... FROM STDIN statement",
                             file=file, line=body_line)
    compiled, params, offsets = compile_params(source, tokens)
    tag = f"/* aura-db:{name} {file}:{line_no} */ "
    offsets = tuple((c + len(tag), s) for c, s in offsets)
    return Query(
        name=name, shape=shape, sql=tag + compiled, params=params, doc="\n".join(doc).strip(),
        file=file, line=line_no, source=source, body_line=body_line, offsets=offsets,
    )


def _parse_name(rest: str, file: str, line: int) -> tuple[str, Shape]:
    if not rest:
        raise QueryFileError("'-- name:' without a query name", file=file, line=line)
    cut = len(rest)
    for i, ch in enumerate(rest):
        if ch in _SHAPE_CHARS:
            cut = i
            break
    name, suffix = rest[:cut].strip(), rest[cut:].strip()
    if not IDENT.match(name):
        raise QueryFileError(
            f"query name {name!r} is not an identifier (letters, digits, _; not starting with a digit)",
            file=file, line=line,
        )
    try:
        shape = Shape(suffix)
    except ValueError:
        known = ", ".join(f"{s.value!r}" for s in Shape if s.value)
        raise QueryFileError(
            f"unknown result shape {suffix!r} for query {name!r} (known: none, {known})",
            file=file, line=line,
        ) from None
    return name, shape
