"""Input checks, made before anything is sent: each returns the value ready to bind or raises
:class:`~aura_db.errors.InvalidValue` naming the table, the field and the value at fault."""

from __future__ import annotations

import enum
import json
import math
import uuid
from typing import TypeVar

from psycopg.types.json import Jsonb

from ..errors import InvalidValue
from .limits import column_limit

__all__ = [
    "INT4_MAX",
    "check_enum",
    "check_int",
    "check_json",
    "check_number",
    "check_text",
    "check_uuid",
    "escape_like",
    "show",
]

E = TypeVar("E", bound=enum.Enum)

INT4_MAX = 2**31 - 1


def show(value: object, limit: int = 40) -> str:
    """``repr`` of a value, truncated for messages."""
    text = repr(value)
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
    if limit is not None and len(value) > limit:
        raise InvalidValue(
            f"{table}.{field}: {len(value)} characters is longer than the limit of {limit} "
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
