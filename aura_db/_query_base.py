"""A named query's record and what it returns (:class:`Shape`), shared by
:class:`~aura_db.queries.Query` and its runners."""

from __future__ import annotations

import bisect
import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import InvalidValue, QueryArgumentError, QueryShapeError

__all__ = ["TYPED_ROWS", "QueryBase", "Refused", "Shape", "result_shape", "show_args"]

TYPED_ROWS: dict[object, Callable[[list[str]], Callable[[Sequence[Any]], Any]]] = {}
"""Row factories the runners build rows for themselves (``typed_row`` registers its own), each
with the builder of its row maker for a result's column names. Their results are read in
binary format (no text parsing of uuids, timestamps, integers, jsonb: ~5% of a point read of a
37-column row; every field type of these rows has a binary loader, and the tests read every
field back) through a tuple cursor kept per query, whose maker is rebuilt whenever the shape
of the result changes (see ``result_shape``)."""


class Refused(Exception):
    """A COPY's rows refused one of theirs (``error``): what psycopg abandons the COPY with, so
    that the server's log says a row was refused without showing the value (psycopg sends the
    exception's text with the CopyFail)."""

    def __init__(self, error: InvalidValue) -> None:
        super().__init__("a row was refused by the client's checks before it was sent")
        self.error = error


def result_shape(res: Any) -> tuple[Any, ...]:
    """What a kept row maker is checked against on every run of the same query on the same
    connection, at the cost of four libpq calls instead of one per column: the column count,
    and the last column's table, attribute number and name. ``ADD COLUMN`` and ``DROP COLUMN``
    (alone or together) change the count or the last column's attribute number (attribute
    numbers are never reused); so does a table swap. Only renaming columns before the last
    goes unseen while the connection stays open (PostgreSQL itself refuses to run a prepared
    statement whose result changed type); the maker then reads the same columns as before."""
    n = res.nfields
    if not n:
        return ()
    return (n, res.ftable(n - 1), res.ftablecol(n - 1), res.fname(n - 1))


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


def show_args(args: Mapping[str, Any]) -> str:
    if not args:
        return "no parameters"
    shown = []
    for key, value in args.items():
        text = repr(value)
        shown.append(f"{key}={text[:60] + '...' if len(text) > 60 else text}")
    return ", ".join(shown)


@dataclass(frozen=True, slots=True)
class QueryBase:
    """A named query's record (:class:`~aura_db.queries.Query` adds the runners)."""

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
        params = self.params
        if len(args) == len(params):  # the hot path: as many names as placeholders, all found
            try:
                return tuple([args[p] for p in params])
            except KeyError:
                pass  # a name missing (so another one is extra): say which below
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
        return tuple([args[p] for p in params])

    def source_line(self, position: int) -> int:
        """File line of a 1-based character ``position`` in :attr:`sql` (server error positions)."""
        index = max(position - 1, 0)
        starts = [c for c, _ in self.offsets]
        seg = max(bisect.bisect_right(starts, index) - 1, 0)
        compiled_start, source_start = self.offsets[seg]
        source_index = min(source_start + max(index - compiled_start, 0), len(self.source))
        return self.body_line + self.source.count("\n", 0, source_index)

    def _expect(self, *shapes: Shape) -> None:
        if self.shape not in shapes:
            wanted = " or ".join(repr(s.value or "(none)") for s in shapes)
            raise QueryShapeError(
                f"query {self.name!r} ({self.location}) is declared with shape "
                f"{self.shape.value or '(none)'!r} ({self.shape.name.lower()}), not {wanted}"
            )
