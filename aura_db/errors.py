"""The exceptions aura-db raises: one root, a short flat hierarchy.

PostgreSQL errors are not re-wrapped wholesale (psycopg has a class per SQLSTATE); they are
translated here only where aura-db adds a meaning, and the original stays as ``__cause__``.
"""

from __future__ import annotations

__all__ = [
    "AlreadyExists",
    "AuraError",
    "ConcurrencyConflict",
    "ConfigError",
    "InvalidTransition",
    "InvalidValue",
    "MigrationDrift",
    "MigrationError",
    "MigrationLockTimeout",
    "MultipleRows",
    "NoRows",
    "NotFound",
    "PgvectorMissing",
    "PoolClosed",
    "PoolForked",
    "QueryArgumentError",
    "QueryFileError",
    "QueryShapeError",
    "ServerUnavailable",
    "ToolError",
]


class AuraError(Exception):
    """Root of every error raised by aura-db."""


class ConfigError(AuraError):
    """A configuration value (environment or argument) is missing or malformed."""


class ServerUnavailable(AuraError):
    """The database server could not be reached before the connect deadline."""


class PgvectorMissing(AuraError):
    """The server has no pgvector extension available to install."""


class PoolClosed(AuraError):
    """The Database was closed (or is closing): it lends no more connections."""


class PoolForked(AuraError):
    """A Database opened in one process was used from a forked child."""


class QueryFileError(AuraError):
    """A named-query file is malformed; the message starts with ``file:line``."""

    def __init__(self, message: str, *, file: str, line: int) -> None:
        super().__init__(f"{file}:{line}: {message}")
        self.file = file
        self.line = line


class QueryArgumentError(AuraError):
    """A named query was called with missing or unexpected parameters."""


class QueryShapeError(AuraError):
    """A named query was run through a result method that does not match its declared shape."""


class NoRows(AuraError):
    """A query declared to return exactly one row returned none."""


class MultipleRows(AuraError):
    """A query declared to return exactly one row returned more than one."""


class MigrationError(AuraError):
    """A migration could not be read, applied or rolled back."""


class MigrationLockTimeout(MigrationError):
    """Another process held the migration lock for longer than the wait allowed."""


class MigrationDrift(MigrationError):
    """An applied migration's file was edited, renamed or deleted since it was applied."""


class ToolError(AuraError):
    """A PostgreSQL client program (pg_dump, pg_restore, psql) is missing, too old or failed."""


class NotFound(AuraError):
    """The row asked for does not exist (or is soft-deleted)."""


class AlreadyExists(AuraError):
    """A row with the same natural key already exists."""


class ConcurrencyConflict(AuraError):
    """The row changed since it was read: the expected version is stale."""


class InvalidTransition(AuraError):
    """A status change that the state machine does not allow."""


class InvalidValue(AuraError):
    """A value is out of its domain: bad enum, too long, NUL byte, out of range, wrong type."""
