"""Keyset pagination: opaque page cursors and the :class:`Page` a listing returns."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import datetime
from typing import Any, TypeVar

from ..errors import InvalidValue
from .checks import show

__all__ = ["Page", "decode_cursor", "encode_cursor", "newest_first_page", "resume_below"]

T = TypeVar("T")


def encode_cursor(*values: object) -> str:
    """An opaque cursor for keyset pagination (URL-safe base64 of JSON)."""
    plain = [v.isoformat() if isinstance(v, datetime) else str(v) if isinstance(v, uuid.UUID) else v
             for v in values]
    return base64.urlsafe_b64encode(_compact(plain).encode()).decode().rstrip("=")


_compact = json.JSONEncoder(separators=(",", ":")).encode  # one encoder, not one per call


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


def resume_below(cursor: str | None, table: str) -> dict[str, Any]:
    """The ``before_created_at`` / ``before_id`` parameters of a newest-first listing keyset-paged
    on (created_at, id): the position ``cursor`` (from :func:`newest_first_page`) continues below."""
    before = [None, None] if cursor is None else decode_cursor(cursor, table, (datetime, uuid.UUID))
    return {"before_created_at": before[0], "before_id": before[1]}


def newest_first_page(rows: list[Any], limit: int) -> Page[Any]:
    """The page of ``rows`` fetched with ``LIMIT limit + 1``: the extra row only tells that a next
    page exists, whose cursor is the (created_at, id) of the last row kept."""
    kept = rows[:limit]
    return Page(kept, encode_cursor(kept[-1].created_at, kept[-1].id) if len(rows) > limit else None)
