"""aura-db: the PostgreSQL data layer of Aura."""

from __future__ import annotations

from .config import Config
from .database import AsyncDatabase, AsyncTransaction, Database, Health, Transaction
from .errors import (
    AlreadyExists,
    AuraError,
    ConcurrencyConflict,
    ConfigError,
    InvalidTransition,
    InvalidValue,
    MigrationError,
    MigrationLockTimeout,
    MultipleRows,
    NoRows,
    NotFound,
    PgvectorMissing,
    PoolClosed,
    PoolForked,
    QueryArgumentError,
    QueryFileError,
    QueryShapeError,
    ServerUnavailable,
)
from .queries import Query, QueryCatalog, Shape, default_catalog, load_queries
from .replicas import ReplicaStatus

__all__ = [
    "AlreadyExists",
    "AsyncDatabase",
    "AsyncTransaction",
    "AuraError",
    "ConcurrencyConflict",
    "Config",
    "ConfigError",
    "Database",
    "Health",
    "InvalidTransition",
    "InvalidValue",
    "MigrationError",
    "MigrationLockTimeout",
    "MultipleRows",
    "NoRows",
    "NotFound",
    "PgvectorMissing",
    "PoolClosed",
    "PoolForked",
    "Query",
    "QueryArgumentError",
    "QueryCatalog",
    "QueryFileError",
    "QueryShapeError",
    "ReplicaStatus",
    "ServerUnavailable",
    "Shape",
    "Transaction",
    "default_catalog",
    "load_queries",
]
__version__ = "0.1.0"
