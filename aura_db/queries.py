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

import bisect
import enum
import functools
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from psycopg.rows import RowFactory, tuple_row

from . import resources
from ._sqlscan import IDENT, compile_params, scan
from .errors import MultipleRows, NoRows, QueryArgumentError, QueryFileError, QueryShapeError

__all__ = ["Query", "QueryCatalog", "Shape", "default_catalog", "load_queries", "parse_file"]

R = TypeVar("R")

_NAME_LINE = re.compile(r"--\s*name\s*:(?P<rest>.*)\Z")
_SHAPE_CHARS = "^?$!*#<"
_COPY_FROM_STDIN = re.compile(r"\s*COPY\b.*\bFROM\s+STDIN\b[^;]*;?\s*\Z", re.IGNORECASE | re.DOTALL)


class Shape(enum.Enum):
    """What a query returns, declared by the suffix after its name."""

    MANY = ""  # every row, as an eager list
    ONE = "^"  # exactly one row; NoRows / MultipleRows otherwise
    OPTIONAL = "?"  # one row or None; MultipleRows when more
    SCALAR = "$"  # the first column of exactly one row
    AFFECTED = "!"  # the number of rows affected
    EXECUTE_MANY = "*!"  # one statement run for each parameter set (pipeline mode)
    SCRIPT = "#"  # several statements, no parameters
    COPY_IN = "<"  # COPY ... FROM STDIN: rows streamed in, no parameters

    @property
    def returns_rows(self) -> bool:
        return self in (Shape.MANY, Shape.ONE, Shape.OPTIONAL, Shape.SCALAR)


@dataclass(frozen=True, slots=True)
class Query:
    """One named query, compiled. ``sql`` is the exact text sent to the server."""

    name: str
    shape: Shape
    sql: str
    params: tuple[str, ...]
    doc: str
    file: str
    line: int
    source: str = field(repr=False)
    body_line: int = field(repr=False)
    offsets: tuple[tuple[int, int], ...] = field(repr=False)

    @property
    def location(self) -> str:
        return f"{self.file}:{self.line}"

    def bind(self, args: Mapping[str, Any]) -> tuple[Any, ...]:
        """Order ``args`` as the compiled ``$n`` placeholders; raise on missing or extra names."""
        missing = [p for p in self.params if p not in args]
        extra = sorted(set(args) - set(self.params))
        if missing or extra:
            parts = []
            if missing:
                parts.append(f"missing {', '.join(missing)}")
            if extra:
                parts.append(f"unexpected {', '.join(extra)}")
            raise QueryArgumentError(
                f"query {self.name!r} ({self.location}) called with {'; '.join(parts)} "
                f"(it takes: {', '.join(self.params) or 'no parameters'})"
            )
        return tuple(args[p] for p in self.params)

    def source_line(self, position: int) -> int:
        """File line of a 1-based character ``position`` in :attr:`sql` (server error positions)."""
        index = max(position - 1, 0)
        starts = [c for c, _ in self.offsets]
        seg = max(bisect.bisect_right(starts, index) - 1, 0)
        compiled_start, source_start = self.offsets[seg]
        source_index = min(source_start + max(index - compiled_start, 0), len(self.source))
        return self.body_line + self.source.count("\n", 0, source_index)

    # -- running -------------------------------------------------------------------------------

    def _expect(self, *shapes: Shape) -> None:
        if self.shape not in shapes:
            wanted = " or ".join(repr(s.value or "(none)") for s in shapes)
            raise QueryShapeError(
                f"query {self.name!r} ({self.location}) is declared with shape "
                f"{self.shape.value or '(none)'!r} ({self.shape.name.lower()}), not {wanted}"
            )

    def _cursor(self, conn: psycopg.Connection[Any], row_factory: RowFactory[R]) -> psycopg.RawCursor[R]:
        return psycopg.RawCursor(conn, row_factory=row_factory)

    def many(self, conn: psycopg.Connection[Any], row_factory: RowFactory[R], /, **args: Any) -> list[R]:
        """Run a *many* query and return every row."""
        self._expect(Shape.MANY)
        with self._cursor(conn, row_factory) as cur:
            cur.execute(self.sql, self.bind(args))
            return cur.fetchall()

    def one(self, conn: psycopg.Connection[Any], row_factory: RowFactory[R], /, **args: Any) -> R:
        """Run a *one* query: exactly one row, else :class:`NoRows` / :class:`MultipleRows`."""
        self._expect(Shape.ONE)
        row = self._single(conn, row_factory, args)
        if row is None:
            raise NoRows(f"query {self.name!r} ({self.location}) returned no row for {_show(args)}")
        return row

    def optional(
        self, conn: psycopg.Connection[Any], row_factory: RowFactory[R], /, **args: Any
    ) -> R | None:
        """Run an *optional* query: the row, or None; :class:`MultipleRows` when more."""
        self._expect(Shape.OPTIONAL)
        return self._single(conn, row_factory, args)

    def scalar(self, conn: psycopg.Connection[Any], /, **args: Any) -> Any:
        """Run a *scalar* query: the first column of exactly one row."""
        self._expect(Shape.SCALAR)
        row = self._single(conn, tuple_row, args)
        if row is None:
            raise NoRows(f"query {self.name!r} ({self.location}) returned no row for {_show(args)}")
        return row[0]

    def execute(self, conn: psycopg.Connection[Any], row_factory: RowFactory[R], /,
                **args: Any) -> psycopg.RawCursor[R]:
        """Send a row-returning query and return its cursor unread: inside
        ``with conn.pipeline():`` several queries then share one round trip."""
        self._expect(Shape.MANY, Shape.ONE, Shape.OPTIONAL, Shape.SCALAR)
        cur = self._cursor(conn, row_factory)
        cur.execute(self.sql, self.bind(args))
        return cur

    def affected(self, conn: psycopg.Connection[Any], /, **args: Any) -> int:
        """Run an *affected-rows* query and return how many rows it changed."""
        self._expect(Shape.AFFECTED)
        with self._cursor(conn, tuple_row) as cur:
            cur.execute(self.sql, self.bind(args))
            return cur.rowcount

    def execute_many(self, conn: psycopg.Connection[Any], arg_sets: Iterable[Mapping[str, Any]], /) -> int:
        """Run an *executemany* query once per parameter set, pipelined; return rows affected."""
        self._expect(Shape.EXECUTE_MANY)
        bound = [self.bind(a) for a in arg_sets]  # validate every set before anything is sent
        if not bound:
            return 0
        with self._cursor(conn, tuple_row) as cur:
            cur.executemany(self.sql, bound)
            return cur.rowcount

    def script(self, conn: psycopg.Connection[Any], /) -> int:
        """Run a *script* (several statements, no parameters) in one simple-protocol round trip;
        return the rows its last statement affected (0 when it reports none)."""
        self._expect(Shape.SCRIPT)
        with self._cursor(conn, tuple_row) as cur:
            cur.execute(self.sql)
            while cur.nextset():  # to the last statement's result
                pass
            return max(cur.rowcount, 0)

    def copy_in(self, conn: psycopg.Connection[Any], types: Sequence[str],
                rows: Iterable[Sequence[Any]], /) -> int:
        """Stream ``rows`` through a *copy-in* query (``COPY ... FROM STDIN (FORMAT BINARY)``),
        each value typed by the PostgreSQL type names ``types``, in one COPY; return the rows
        sent. The fastest way to bulk-load: no statement per row, no parsing of text."""
        self._expect(Shape.COPY_IN)
        sent = 0
        with conn.cursor() as cur, cur.copy(self.sql) as copy:
            copy.set_types(list(types))
            for row in rows:
                copy.write_row(row)
                sent += 1
        return sent

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

    def _single(self, conn: psycopg.Connection[Any], row_factory: RowFactory[R],
                args: Mapping[str, Any]) -> R | None:
        with self._cursor(conn, row_factory) as cur:
            cur.execute(self.sql, self.bind(args))
            rows = cur.fetchmany(2)
        if len(rows) > 1:
            raise MultipleRows(
                f"query {self.name!r} ({self.location}) returned more than one row for {_show(args)}"
            )
        return rows[0] if rows else None


def _show(args: Mapping[str, Any]) -> str:
    if not args:
        return "no parameters"
    shown = []
    for key, value in args.items():
        text = repr(value)
        shown.append(f"{key}={text[:60] + '...' if len(text) > 60 else text}")
    return ", ".join(shown)


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
