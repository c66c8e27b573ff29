"""What every repository shares: its connector, its query catalog and the translation of
PostgreSQL errors into aura-db's.

A repository is a thin object bound to a *connector* — a callable returning a context manager
that yields a connection: the Database's (borrow from the pool, commit on exit) or a
Transaction's (its one connection; the transaction block commits). Repositories never commit.
Rows are built by :mod:`.rows`, input is checked by :mod:`.checks`, pages by :mod:`.cursors`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, ClassVar

import psycopg
from psycopg import errors as pg

from ..errors import AlreadyExists, AuraError, ConcurrencyConflict, InvalidValue, NotFound
from ..queries import Query, QueryCatalog, default_catalog
from .checks import show

__all__ = ["Connector", "Repository", "not_found", "translate", "translating"]

Connector = Callable[[], AbstractContextManager[psycopg.Connection[Any]]]


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
