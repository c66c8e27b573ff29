"""What every repository shares: its connection, error translation, input checks, cursors.

A repository is a thin object bound to a *connector* — a callable returning a context manager
that yields a connection: the Database's (borrow from the pool, commit on exit) or a
Transaction's (its one connection; the transaction block commits). Repositories never commit.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import enum
import json
import math
import operator
import types
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from typing import Any, ClassVar, TypeVar

import psycopg
from psycopg import errors as pg
from psycopg.rows import RowFactory, RowMaker
from psycopg.types.json import Jsonb

from ..errors import AlreadyExists, AuraError, ConcurrencyConflict, InvalidValue, NotFound
from ..queries import Query, QueryCatalog, default_catalog

__all__ = [
    "Connector",
    "Page",
    "Repository",
    "check_enum",
    "check_int",
    "check_json",
    "check_text",
    "check_uuid",
    "decode_cursor",
    "encode_cursor",
    "escape_like",
    "not_found",
    "show",
    "translating",
    "typed_row",
]

Connector = Callable[[], AbstractContextManager[psycopg.Connection[Any]]]
E = TypeVar("E", bound=enum.Enum)
T = TypeVar("T")

INT4_MAX = 2**31 - 1


def show(value: object, limit: int = 40) -> str:
    """``repr`` of a value, truncated for messages."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def typed_row(cls: type[T]) -> RowFactory[T]:
    """Like psycopg's ``class_row``, for ``SELECT *`` / ``RETURNING *``: builds ``cls`` from the
    columns named like its fields and ignores other columns, so an additive migration does not
    break code already running (rolling deploys). A missing field is an error naming it."""
    fields = tuple(f.name for f in dataclasses.fields(cls))  # type: ignore[arg-type]
    makers: dict[tuple[bytes, ...], RowMaker[T]] = {}

    def factory(cursor: Any) -> RowMaker[T]:
        # Called on every execute: read the raw column names off the result (as psycopg's own
        # class_row does; building cursor.description costs a Column object per column) and
        # reuse the row maker built the first time this column list was seen.
        res = cursor.pgresult
        nfields = res.nfields if res is not None and res.status in _TUPLES else 0
        key = tuple(res.fname(i) for i in range(nfields))
        maker = makers.get(key)
        if maker is None:
            names = [n.decode(cursor.connection.info.encoding) for n in key]
            maker = makers[key] = _row_maker(cls, fields, names)
        return maker

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
        plan = list(zip(indexes, setters, strict=True))
        post_init = getattr(cls, "__post_init__", None)
        new = object.__new__

        def make(values: Any) -> T:
            row = new(cls)
            for index, set_slot in plan:
                set_slot(row, values[index])
            if post_init is not None:
                post_init(row)
            return row

        return make
    pick: Callable[[Any], Any] = (
        operator.itemgetter(*indexes) if len(indexes) > 1 else lambda values: (values[indexes[0]],))
    return lambda values: cls(*pick(values))  # fields in declaration order: positional


def _slot_setters(cls: type, fields: tuple[str, ...]) -> list[Callable[[Any, Any], None]] | None:
    """The slot setters of a slotted dataclass whose fields are all set by its __init__ (the row
    types here), or None: build such a row through __init__."""
    if not dataclasses.is_dataclass(cls) or not all(f.init for f in dataclasses.fields(cls)):
        return None
    descriptors = [cls.__dict__.get(name) for name in fields]
    if not all(isinstance(d, types.MemberDescriptorType) for d in descriptors):
        return None
    return [d.__set__ for d in descriptors]  # type: ignore[union-attr]


# -- input checks, before the round trip ------------------------------------------------------


def check_text(table: str, field: str, value: object, *, max_len: int | None = None,
               required: bool = True, allow_blank: bool = False) -> str | None:
    """A text value: a ``str`` without NUL bytes, within ``max_len`` characters."""
    if value is None:
        if required:
            raise InvalidValue(f"{table}.{field}: a value is required (got None)")
        return None
    if not isinstance(value, str):
        raise InvalidValue(f"{table}.{field}: expected text, got {type(value).__name__} {show(value)}")
    if "\x00" in value:
        raise InvalidValue(f"{table}.{field}: text must not contain NUL bytes (got {show(value)})")
    if max_len is not None and len(value) > max_len:
        raise InvalidValue(
            f"{table}.{field}: {len(value)} characters is longer than the limit of {max_len} "
            f"(got {show(value)})"
        )
    if required and not allow_blank and not value.strip():
        raise InvalidValue(f"{table}.{field}: must not be blank (got {show(value)})")
    return value


def check_int(table: str, field: str, value: object, *, minimum: int = 0, maximum: int = INT4_MAX,
              required: bool = False) -> int | None:
    """An integer in ``[minimum, maximum]`` (``bool`` is refused: it is not a count)."""
    if value is None:
        if required:
            raise InvalidValue(f"{table}.{field}: a value is required (got None)")
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidValue(f"{table}.{field}: expected an integer, got {type(value).__name__} {show(value)}")
    if not minimum <= value <= maximum:
        raise InvalidValue(f"{table}.{field}: {value} is outside {minimum}..{maximum}")
    return value


def check_enum(table: str, field: str, value: object, enum_type: type[E]) -> E:
    """A member of ``enum_type``, given as the member or its value."""
    if isinstance(value, enum_type):
        return value
    try:
        return enum_type(value)
    except ValueError:
        allowed = ", ".join(str(m.value) for m in enum_type)
        raise InvalidValue(f"{table}.{field}: {show(value)} is not one of {allowed}") from None


def check_uuid(table: str, field: str, value: object) -> uuid.UUID:
    """A UUID, given as ``uuid.UUID`` or its text form."""
    if isinstance(value, uuid.UUID):
        return value
    if isinstance(value, str):
        try:
            return uuid.UUID(value)
        except ValueError:
            pass
    raise InvalidValue(f"{table}.{field}: {show(value)} is not a UUID")


def check_number(table: str, field: str, value: object) -> float | None:
    """A finite real number or None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidValue(f"{table}.{field}: expected a finite number, got {show(value)}")
    return float(value)


def check_json(table: str, field: str, value: object) -> Jsonb | None:
    """A JSON-serializable value (None means SQL NULL), ready to send as ``jsonb``; refuses
    NaN/infinity and NUL characters, which PostgreSQL's jsonb cannot store."""
    if value is None:
        return None
    try:
        text = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidValue(f"{table}.{field}: not storable as JSON ({exc}): {show(value)}") from None
    if _has_nul(value):
        raise InvalidValue(f"{table}.{field}: JSON text must not contain NUL characters (got {show(value)})")
    return Jsonb(value, dumps=lambda _: text)


def _has_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    return False


def escape_like(text: str) -> str:
    """Escape ``\\``, ``%`` and ``_`` so ``text`` matches literally in ``LIKE ... ESCAPE '\\'``."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# -- keyset cursors ----------------------------------------------------------------------------


def encode_cursor(*values: object) -> str:
    """An opaque cursor for keyset pagination (URL-safe base64 of JSON)."""
    plain = [v.isoformat() if isinstance(v, datetime) else str(v) if isinstance(v, uuid.UUID) else v
             for v in values]
    return base64.urlsafe_b64encode(json.dumps(plain, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, table: str, kinds: tuple[type, ...]) -> list[Any]:
    """Decode a cursor made by :func:`encode_cursor` with values of ``kinds``
    (``datetime``, ``uuid.UUID``, ``str``, ``int``); raise :class:`InvalidValue` otherwise."""
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(raw, list) or len(raw) != len(kinds):
            raise ValueError("shape")
        out: list[Any] = []
        for kind, value in zip(kinds, raw, strict=True):
            if kind is datetime:
                out.append(datetime.fromisoformat(value))
            elif kind is uuid.UUID:
                out.append(uuid.UUID(value))
            elif not isinstance(value, kind):
                raise ValueError("type")
            else:
                out.append(value)
        return out
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError, json.JSONDecodeError):
        raise InvalidValue(f"{table}: cursor {show(cursor)} was not issued by this listing") from None


class Page(list[T]):
    """One page of rows, plus the cursor of the next page (None on the last page)."""

    next_cursor: str | None

    def __init__(self, rows: list[T], next_cursor: str | None) -> None:
        super().__init__(rows)
        self.next_cursor = next_cursor


# -- error translation -------------------------------------------------------------------------


def _detail(exc: psycopg.Error) -> str:
    return (exc.diag.message_detail or exc.diag.message_primary or str(exc)).strip()


def translate(exc: psycopg.Error, table: str) -> AuraError | None:
    """The domain error for a PostgreSQL error, or None when there is none to add."""
    diag = exc.diag
    where = diag.table_name or table
    constraint = diag.constraint_name
    if isinstance(exc, pg.UniqueViolation):
        return AlreadyExists(f"{where}: {_detail(exc)} (constraint {constraint})")
    if isinstance(exc, pg.ForeignKeyViolation):
        return NotFound(f"{where}: {_detail(exc)} (constraint {constraint})")
    if isinstance(exc, pg.CheckViolation):
        return InvalidValue(f"{where}: the row breaks constraint {constraint}")
    if isinstance(exc, pg.NotNullViolation):
        return InvalidValue(f"{where}.{diag.column_name}: a value is required (got None)")
    if isinstance(exc, pg.SerializationFailure):
        return ConcurrencyConflict(f"{where}: {diag.message_primary}")
    if isinstance(exc, pg.DataError):
        return InvalidValue(f"{where}: {(diag.message_primary or str(exc)).strip()}")
    return None


@contextmanager
def translating(table: str) -> Iterator[None]:
    """Re-raise PostgreSQL errors that carry a domain meaning as aura-db errors
    (the original stays as ``__cause__``)."""
    try:
        yield
    except psycopg.Error as exc:
        domain = translate(exc, table)
        if domain is None:
            raise
        raise domain from exc


class Repository:
    """Base of the repositories: a connector, the query catalog and the table for messages."""

    table: ClassVar[str] = ""

    def __init__(self, connector: Connector, catalog: QueryCatalog | None = None) -> None:
        self._connector = connector
        self._catalog = catalog if catalog is not None else default_catalog()

    def _q(self, name: str) -> Query:
        return self._catalog[name]

    @contextmanager
    def _conn(self) -> Iterator[psycopg.Connection[Any]]:
        with self._connector() as conn, translating(self.table):
            yield conn

    def _not_found(self, key: object, field: str = "id") -> NotFound:
        return not_found(self.table, key, field)


def not_found(table: str, key: object, field: str = "id") -> NotFound:
    """The NotFound error for ``key`` in ``table``."""
    shown = str(key) if isinstance(key, uuid.UUID) else key
    return NotFound(f"{table}: no row with {field} {show(shown, 80)}")
