"""Rows as typed, frozen dataclasses, built at the cost of a tuple: :func:`typed_row`."""

from __future__ import annotations

import dataclasses
import enum
import operator
import types
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg
from psycopg.rows import BaseRowFactory, RowMaker

from .._query_base import TYPED_ROWS
from ..errors import AuraError

__all__ = ["member", "typed_row"]

T = TypeVar("T")
E = TypeVar("E", bound=enum.Enum)
_MEMBERS: dict[type[enum.Enum], dict[object, Any]] = {}


def member(kind: type[E], value: object) -> E:
    """``kind(value)`` at the cost of a dict lookup (a tenth of the Enum call, which a row of
    an enum column pays once per row); a value outside ``kind`` raises as ``kind(value)`` does."""
    try:
        return _MEMBERS[kind][value]  # type: ignore[no-any-return]
    except KeyError:
        members = _MEMBERS.setdefault(kind, {m.value: m for m in kind})
        return members[value] if value in members else kind(value)


def typed_row(cls: type[T]) -> BaseRowFactory[T]:
    """Like psycopg's ``class_row``, for ``SELECT *`` / ``RETURNING *``: builds ``cls`` from the
    columns named like its fields and ignores other columns, so an additive migration does not
    break code already running (rolling deploys). A missing field is an error naming it. The
    named-query runners build its rows themselves, from binary results (``TYPED_ROWS``)."""
    fields = tuple(f.name for f in dataclasses.fields(cls))  # type: ignore[arg-type]
    makers: dict[tuple[bytes, ...], RowMaker[T]] = {}

    def factory(cursor: Any) -> RowMaker[T]:
        # Called on every execute: read the raw column names off the result (as psycopg's own
        # class_row does; building cursor.description costs a Column object per column) and
        # reuse the row maker built the first time this column list was seen.
        res = cursor.pgresult
        nfields = res.nfields if res is not None and res.status in _TUPLES else 0
        key = tuple(map(res.fname, range(nfields))) if nfields else ()  # map: no Python frame per column
        maker = makers.get(key)
        if maker is None:
            names = [n.decode(cursor.connection.info.encoding) for n in key]
            maker = makers[key] = _row_maker(cls, fields, names)
        return maker

    TYPED_ROWS[factory] = lambda names: _row_maker(cls, fields, names)  # the runners' fast path
    return factory


_TUPLES = (psycopg.pq.ExecStatus.TUPLES_OK, psycopg.pq.ExecStatus.SINGLE_TUPLE,
           psycopg.pq.ExecStatus.TUPLES_CHUNK)


def _row_maker(cls: type[T], fields: tuple[str, ...], names: list[str]) -> RowMaker[T]:
    missing = set(fields) - set(names)
    if missing:
        raise AuraError(f"{cls.__name__}: the query returns no column {', '.join(sorted(missing))}")
    position = {n: i for i, n in enumerate(names)}  # a repeated name: the last column wins
    indexes = [position[f] for f in fields]
    setters = _slot_setters(cls, fields)
    if setters is not None:
        # A frozen, slotted dataclass without an __init__ of its own: fill its slots directly,
        # then run its __post_init__. Half the cost of the generated __init__, which goes
        # through object.__setattr__ once per field; the result is the same object.
        return _unrolled(cls, indexes, setters, getattr(cls, "__post_init__", None))
    pick: Callable[[Any], Any] = (
        operator.itemgetter(*indexes) if len(indexes) > 1 else lambda values: (values[indexes[0]],))
    return lambda values: cls(*pick(values))  # fields in declaration order: positional


def _unrolled(cls: type[T], indexes: list[int], setters: list[Callable[[Any, Any], None]],
              post_init: Callable[[Any], None] | None) -> RowMaker[T]:
    """``make(values)``: a new ``cls`` with slot ``n`` set to ``values[indexes[n]]``, one
    statement per field (as dataclasses writes its ``__init__``: no loop, ~12% faster on a
    37-field row). The source holds only these integers and generated local names."""
    scope: dict[str, Any] = {"new": object.__new__, "cls": cls, "post_init": post_init}
    lines = ["def make(values):", "    row = new(cls)"]
    for n, (index, setter) in enumerate(zip(indexes, setters, strict=True)):
        scope[f"set{n}"] = setter
        lines.append(f"    set{n}(row, values[{int(index)}])")
    if post_init is not None:
        lines.append("    post_init(row)")
    lines.append("    return row")
    exec("\n".join(lines), scope)  # integers and our own names only: no outside text
    maker: RowMaker[T] = scope["make"]
    return maker


def _slot_setters(cls: type, fields: tuple[str, ...]) -> list[Callable[[Any, Any], None]] | None:
    """The slot setters of a slotted dataclass whose fields are all set by its __init__ (the row
    types here), or None: build such a row through __init__."""
    if not dataclasses.is_dataclass(cls) or not all(f.init for f in dataclasses.fields(cls)):
        return None
    descriptors = [cls.__dict__.get(name) for name in fields]
    if not all(isinstance(d, types.MemberDescriptorType) for d in descriptors):
        return None
    return [d.__set__ for d in descriptors]  # type: ignore[union-attr]
