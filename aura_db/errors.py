"""The exceptions aura-db raises: one root, :class:`AuraError`, and a short hierarchy.

Every exception that leaves aura-db's API is an :class:`AuraError`. When PostgreSQL or the
driver was the source, the psycopg exception is its ``__cause__`` and :attr:`AuraError.sqlstate`
reads its SQLSTATE. :attr:`AuraError.retryable` says whether running the same work again may
succeed (a lost connection, a serialization failure, a deadlock); which work aura-db retries on
its own is in the README ("Failures and retries").
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "AlreadyExists",
    "AuraError",
    "AuraTimeout",
    "CommitOutcomeUnknown",
    "ConcurrencyConflict",
    "ConfigError",
    "ConnectionLost",
    "DatabaseError",
    "DeadlineExceeded",
    "Deadlock",
    "IdleInTransactionTimeout",
    "InvalidTransition",
    "InvalidValue",
    "LockTimeout",
    "MigrationDrift",
    "MigrationError",
    "MigrationLockTimeout",
    "MultipleRows",
    "NoRows",
    "NotFound",
    "PermissionDenied",
    "PgvectorMissing",
    "PoolClosed",
    "PoolExhausted",
    "PoolForked",
    "QueryArgumentError",
    "QueryCanceled",
    "QueryFileError",
    "QueryShapeError",
    "ReplicaLost",
    "SerializationConflict",
    "ServerUnavailable",
    "StatementTimeout",
    "ToolError",
    "TransactionConflict",
]


class AuraError(Exception):
    """Root of every error raised by aura-db."""

    retryable: ClassVar[bool] = False

    @property
    def sqlstate(self) -> str | None:
        """The SQLSTATE of the PostgreSQL error behind this one (None when there is none)."""
        cause = self.__cause__
        return getattr(cause, "sqlstate", None) if cause is not None else None


class ConfigError(AuraError):
    """A configuration value (environment or argument) is missing or malformed."""


# -- the server and the connection --------------------------------------------------------------


class ServerUnavailable(AuraError):
    """The database server could not be reached before the deadline (connect refused or timed
    out, the server starting up or shutting down)."""

    retryable = True


class ConnectionLost(ServerUnavailable):
    """The connection broke while in use (backend terminated, server restarted, network
    failure). Nothing the open transaction did was committed; a statement sent outside a
    transaction may or may not have run: then :class:`CommitOutcomeUnknown` is raised.
    ``rolled_back``: it broke inside a transaction aura-db opened for the call alone (behind a
    transaction pooler), before its COMMIT, so even a write was certainly not applied."""

    rolled_back: bool = False


class CommitOutcomeUnknown(ConnectionLost):
    """The connection broke while a write was committing (COMMIT of a transaction, or a write
    statement outside one): it may or may not have been applied. Never retried on its own;
    read the data back to find out."""

    retryable = False


class PoolClosed(AuraError):
    """The Database was closed (or is closing): it lends no more connections."""


class PoolForked(AuraError):
    """A Database opened in one process was used from a forked child."""


class PgvectorMissing(AuraError):
    """The server has no pgvector extension available to install."""


# -- timeouts -------------------------------------------------------------------------------------


class AuraTimeout(AuraError, TimeoutError):
    """A wait ended at its limit (also a built-in :class:`TimeoutError`)."""


class StatementTimeout(AuraTimeout):
    """The server cancelled a statement at ``statement_timeout`` (SQLSTATE 57014)."""


class LockTimeout(AuraTimeout):
    """A lock was not granted within ``lock_timeout`` (SQLSTATE 55P03)."""

    retryable = True


class IdleInTransactionTimeout(AuraTimeout, ConnectionLost):
    """The server closed a session left idle inside a transaction longer than
    ``idle_in_transaction_session_timeout`` (SQLSTATE 25P03); the transaction rolled back."""

    retryable = False


class PoolExhausted(AuraTimeout):
    """No pooled connection came free within the pool's wait: every one is in use."""


class DeadlineExceeded(AuraTimeout, ConnectionLost):
    """The server did not answer a statement within the client-side deadline (a frozen
    backend or a dead network): a cancel was sent and the connection closed. A backend that
    had not read the statement yet may still run it when it thaws, which is why a write (or a
    COMMIT) that hits the deadline raises :class:`CommitOutcomeUnknown` instead."""

    retryable = False


class ReplicaLost(ConnectionLost):
    """A read replica broke under a read (connection lost, or no answer within the deadline):
    it left the rotation, and the read — which wrote nothing — may run again on another replica
    or the primary, as the retry policy does."""


class QueryCanceled(AuraError):
    """A statement was cancelled on request (SQLSTATE 57014, not by a timeout)."""


# -- conflicts and permissions ----------------------------------------------------------------------


class ConcurrencyConflict(AuraError):
    """The row changed since it was read: the expected version is stale."""


class TransactionConflict(ConcurrencyConflict):
    """The server aborted the transaction to keep concurrent ones consistent; running it again
    may succeed (``db.run_transaction`` does)."""

    retryable = True


class SerializationConflict(TransactionConflict):
    """Serialization failure (SQLSTATE 40001)."""


class Deadlock(TransactionConflict):
    """Deadlock detected (SQLSTATE 40P01)."""


class PermissionDenied(AuraError):
    """The role lacks a privilege the statement needs (SQLSTATE 42501)."""


class DatabaseError(AuraError):
    """Any other error PostgreSQL or the driver raised; ``sqlstate`` says which."""


# -- named queries ------------------------------------------------------------------------------------


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


# -- migrations and tools -----------------------------------------------------------------------------


class MigrationError(AuraError):
    """A migration could not be read, applied or rolled back.

    When a run fails part-way, ``done`` lists the migrations it applied (or rolled back) before
    the failure, and ``left`` the failing one and those it did not reach; the message says both.
    """

    done: list[str]
    left: list[str]

    def __init__(self, *args: object) -> None:
        super().__init__(*args)
        self.done = []
        self.left = []


class MigrationLockTimeout(MigrationError):
    """Another process held the migration lock for longer than the wait allowed."""


class MigrationDrift(MigrationError):
    """An applied migration's file was edited, renamed or deleted since it was applied."""


class ToolError(AuraError):
    """A PostgreSQL client program (pg_dump, pg_restore, psql) is missing, too old or failed."""


# -- the data ---------------------------------------------------------------------------------------------


class NotFound(AuraError):
    """The row asked for does not exist (or is soft-deleted)."""


class AlreadyExists(AuraError):
    """A row with the same natural key already exists."""


class InvalidTransition(AuraError):
    """A status change that the state machine does not allow."""


class InvalidValue(AuraError, ValueError):
    """A value is out of its domain: bad enum, too long, NUL byte, lone surrogate, out of range,
    wrong type, naive datetime, JSON that cannot be stored. Nothing was written. Also a
    built-in :class:`ValueError`."""
