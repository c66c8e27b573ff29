"""Input checks, made before anything is sent: each returns the value ready to bind or raises
:class:`~aura_db.errors.InvalidValue` naming the table, the field and the value at fault."""

from __future__ import annotations

import enum
import json
import math
import re
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, TypeVar

from psycopg.types.json import Jsonb

from ..errors import InvalidValue
from .limits import column_limit

__all__ = [
    "INT4_MAX",
    "JSON_MAX_DEPTH",
    "check_bool",
    "check_datetime",
    "check_enum",
    "check_int",
    "check_items",
    "check_json",
    "check_number",
    "check_text",
    "check_unicode",
    "check_uuid",
    "escape_like",
    "show",
]

E = TypeVar("E", bound=enum.Enum)

INT4_MAX = 2**31 - 1


def show(value: object, limit: int = 40) -> str:
    """``repr`` of a value, truncated for messages (a value whose repr fails, e.g. nested too
    deep, is shown by its type)."""
    try:
        text = repr(value)
    except Exception:  # RecursionError, or a broken __repr__: the message must still be built
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_text(table: str, field: str, value: object, *, max_len: int | None = None,
               required: bool = True, allow_blank: bool = False) -> str | None:
    """A text value: a ``str`` without NUL bytes, within its column's ``varchar`` length
    (:mod:`.limits`) or ``max_len`` characters for a value that is not a column."""
    limit = column_limit(table, field) if max_len is None else max_len
    if value is None:
        if required:
            raise InvalidValue(f"{table}.{field}: a value is required (got None)")
        return None
    if not isinstance(value, str):
        raise InvalidValue(f"{table}.{field}: expected text, got {type(value).__name__} {show(value)}")
    if "\x00" in value:
        raise InvalidValue(f"{table}.{field}: text must not contain NUL bytes (got {show(value)})")
    if not value.isascii():
        check_unicode(table, field, value)
    if limit is not None and len(value) > limit:
        raise InvalidValue(
            f"{table}.{field}: {len(value)} characters is longer than the limit of {limit} "
            f"(got {show(value)})"
        )
    if required and not allow_blank and not value.strip():
        raise InvalidValue(f"{table}.{field}: must not be blank (got {show(value)})")
    return value


def check_unicode(table: str, field: str, value: str) -> None:
    """Refuse text UTF-8 cannot carry (a lone surrogate, e.g. from a bad decode)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidValue(
            f"{table}.{field}: text must be valid Unicode, got the lone surrogate "
            f"{value[exc.start]!r} at position {exc.start} (in {show(value)})") from None


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
    """A JSON value (None means SQL NULL), ready to send as ``jsonb``: made of dicts with text
    keys, lists or tuples, text, integers, finite floats, booleans and None, nested at most
    :data:`JSON_MAX_DEPTH` levels; text without NUL characters or lone surrogates (which
    ``jsonb`` cannot store)."""
    text = json_text(table, field, value)
    return None if text is None else Jsonb(value, dumps=lambda _: text)


def json_text(table: str, field: str, value: object) -> str | None:
    """The JSON text of a value :func:`check_json` accepts (None for None)."""
    if value is None:
        return None
    _check_json_value(table, field, value, 1)
    return _json_text(value)


_json_text = json.JSONEncoder(ensure_ascii=False, allow_nan=False).encode
# (json.dumps with any non-default option builds this encoder again on every call)


JSON_MAX_DEPTH = 64
"""How deep a JSON parameter may nest (objects and arrays): deeper values are refused with
InvalidValue before anything is sent."""


def _check_json_value(table: str, field: str, value: object, depth: int) -> None:
    kind = type(value)  # exact int and bool by identity: isinstance on a union costs
    if value is None or kind is int or kind is bool:
        pass
    elif isinstance(value, str):
        _check_json_text(table, field, value)
    elif isinstance(value, int):  # subclasses of int (and bool)
        pass
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidValue(f"{table}.{field}: not storable as JSON (Out of range float values "
                               f"are not JSON compliant: {value!r})")
    elif not isinstance(value, dict | list | tuple):
        raise InvalidValue(f"{table}.{field}: not storable as JSON (Object of type "
                           f"{type(value).__name__} is not JSON serializable): {show(value)}")
    elif depth > JSON_MAX_DEPTH:
        raise InvalidValue(f"{table}.{field}: not storable as JSON (nested deeper than "
                           f"{JSON_MAX_DEPTH} levels)")
    elif isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidValue(f"{table}.{field}: not storable as JSON (keys must be str, got "
                                   f"{type(key).__name__} {show(key)})")
            _check_json_text(table, field, key)
            _check_json_value(table, field, item, depth + 1)
    else:
        for item in value:
            _check_json_value(table, field, item, depth + 1)


def _check_json_text(table: str, field: str, text: str) -> None:
    if "\x00" in text:
        raise InvalidValue(f"{table}.{field}: JSON text must not contain NUL characters (got {show(text)})")
    if not text.isascii():
        check_unicode(table, field, text)


def check_datetime(table: str, field: str, value: object) -> datetime | None:
    """A timezone-aware datetime (a ``timestamptz``) or None; a naive one is refused, since
    the server would read it in its own time zone."""
    if value is None:
        return None
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise InvalidValue(f"{table}.{field}: expected a timezone-aware datetime, got "
                           f"{type(value).__name__} {show(value)}")
    return value


def check_bool(table: str, field: str, value: object, *, required: bool = True) -> bool | None:
    """``True`` or ``False`` (None when not required); truthy stand-ins are refused."""
    if value is None and not required:
        return None
    if not isinstance(value, bool):
        raise InvalidValue(
            f"{table}.{field}: expected a boolean, got {show(value)}")
    return value


def check_items(table: str, field: str, value: object,
                item_type: type | tuple[type, ...] | None = None) -> list[Any]:
    """The items of a sequence parameter as a list: a list, tuple or other iterable — not a
    string, bytes or mapping, which iterate as something else — whose items are all
    ``item_type`` instances when it is given."""
    types = item_type if isinstance(item_type, tuple) else (item_type,) if item_type else ()
    what = " or ".join(t.__name__ for t in types) or "values"
    if isinstance(value, str | bytes | bytearray | Mapping) or not isinstance(value, Iterable):
        raise InvalidValue(f"{table}.{field}: expected a sequence of {what}, got "
                           f"{type(value).__name__} {show(value)}")
    items = list(value)
    if types:
        for i, item in enumerate(items):
            if not isinstance(item, types):
                raise InvalidValue(f"{table}.{field}: item {i} is {type(item).__name__} {show(item)}, "
                                   f"not a {what}")
    return items


_WORKSPACE_ID = re.compile(r"^[0-9a-f]{16}$")


def check_workspace_id(value: object) -> str:
    """A workspace id for a transaction's scope: 16 lowercase hex characters (``workspace_id()``
    of its path), else :class:`InvalidValue`."""
    if not isinstance(value, str) or not _WORKSPACE_ID.match(value):
        raise InvalidValue(f"workspaces.id: a transaction's workspace must be a workspace id (16 "
                           f"lowercase hex characters), got {show(value)}")
    return value


def escape_like(text: str) -> str:
    """Escape ``\\``, ``%`` and ``_`` so ``text`` matches literally in ``LIKE ... ESCAPE '\\'``."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def check_range(table: str, since: object, until: object) -> dict[str, datetime | None]:
    """The half-open time range [since, until) as query parameters ``since`` / ``until``;
    :class:`InvalidValue` for a bad bound or since after until."""
    start, end = check_datetime(table, "since", since), check_datetime(table, "until", until)
    if start is not None and end is not None and start > end:
        raise InvalidValue(f"{table}.since: {start.isoformat()} is after until {end.isoformat()}")
    return {"since": start, "until": end}
