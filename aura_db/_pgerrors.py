"""PostgreSQL and driver errors as aura-db's: every psycopg exception that would reach a caller
goes through :func:`translate`, so what leaves the API is always an :class:`AuraError` with the
psycopg exception as ``__cause__`` (and its SQLSTATE readable as ``err.sqlstate``)."""

from __future__ import annotations

import psycopg
from psycopg import errors as pg

from .errors import (
    AlreadyExists,
    AuraError,
    CommitOutcomeUnknown,
    ConfigError,
    ConnectionLost,
    DatabaseError,
    DeadlineExceeded,
    Deadlock,
    IdleInTransactionTimeout,
    InvalidValue,
    LockTimeout,
    NotFound,
    PermissionDenied,
    QueryCanceled,
    SerializationConflict,
    StatementTimeout,
)
from .pooler import pooler_hint

__all__ = ["DeadlineHit", "is_connection_loss", "translate"]


class DeadlineHit(pg.OperationalError):
    """Raised inside psycopg (by :class:`aura_db.database.AuraConnection`) when the server did
    not answer within the client-side deadline; :func:`translate` makes it DeadlineExceeded."""


_GONE = (pg.AdminShutdown, pg.CrashShutdown, pg.CannotConnectNow, pg.IdleInTransactionSessionTimeout,
         DeadlineHit)


def is_connection_loss(exc: BaseException) -> bool:
    """Whether ``exc`` means the connection is gone (and the session with it)."""
    if isinstance(exc, _GONE):
        return True
    if not isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
        return False
    state = exc.sqlstate
    return state is None or state.startswith("08")


def _text(exc: psycopg.Error) -> str:
    diag = exc.diag
    text = diag.message_primary or str(exc) or type(exc).__name__
    return " ".join(text.split())


def translate(exc: psycopg.Error, table: str | None = None, *, committing: bool = False) -> AuraError:
    """The aura-db error for a psycopg error raised while working on ``table`` (for messages).
    ``committing``: the error came while a write was committing, so a lost connection leaves
    its outcome unknown. The caller raises the result ``from exc``."""
    diag = exc.diag
    where = diag.table_name or table or "database"
    constraint = diag.constraint_name
    kind = type(exc).__name__
    if hint := pooler_hint(_text(exc)):
        return ConfigError(f"{where}: {_text(exc)}{hint}")
    if isinstance(exc, DeadlineHit):
        if committing:  # the COMMIT was sent: the server may yet apply it (a frozen backend thaws)
            return CommitOutcomeUnknown(
                f"{where}: {_text(exc)} while the write was committing: it may or may not have "
                f"been applied")
        return DeadlineExceeded(f"{where}: {_text(exc)}")
    if is_connection_loss(exc):
        if isinstance(exc, pg.IdleInTransactionSessionTimeout):
            return IdleInTransactionTimeout(f"{where}: {_text(exc)}{_ROLLED_BACK}")
        if committing:
            return CommitOutcomeUnknown(
                f"{where}: the connection broke while the write was committing ({kind}: "
                f"{_text(exc)}): it may or may not have been applied")
        return ConnectionLost(f"{where}: the connection to the server was lost ({kind}: {_text(exc)})")
    if isinstance(exc, pg.UniqueViolation):
        return AlreadyExists(f"{where}: {_detail(exc)} (constraint {constraint})")
    if isinstance(exc, pg.ForeignKeyViolation):
        return NotFound(f"{where}: {_detail(exc)} (constraint {constraint})")
    if isinstance(exc, pg.CheckViolation):
        return InvalidValue(f"{where}: the row breaks constraint {constraint}")
    if isinstance(exc, pg.NotNullViolation):
        return InvalidValue(f"{where}.{diag.column_name}: a value is required (got None)")
    if isinstance(exc, pg.QueryCanceled):
        cls: type[AuraError] = StatementTimeout if "timeout" in _text(exc) else QueryCanceled
        return cls(f"{where}: {_text(exc)}")
    for psycopg_class, aura_class, note in _BY_CLASS:
        if isinstance(exc, psycopg_class):
            return aura_class(f"{where}: {_text(exc)}{note}")
    return DatabaseError(f"{where}: {kind}: {_text(exc)}" + (f" [{exc.sqlstate}]" if exc.sqlstate else ""))


_ROLLED_BACK = " (the transaction rolled back)"
# psycopg class -> aura-db class, and what the message adds; the classes are disjoint
_BY_CLASS: tuple[tuple[type[psycopg.Error], type[AuraError], str], ...] = (
    (pg.SerializationFailure, SerializationConflict, _ROLLED_BACK),
    (pg.DeadlockDetected, Deadlock, _ROLLED_BACK),
    (pg.LockNotAvailable, LockTimeout, ""),
    (pg.InsufficientPrivilege, PermissionDenied, ""),
    (pg.DataError, InvalidValue, ""),
)


def _detail(exc: psycopg.Error) -> str:
    return (exc.diag.message_detail or exc.diag.message_primary or str(exc)).strip()
