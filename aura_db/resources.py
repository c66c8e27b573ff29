"""Where the shipped SQL lives: ``aura_db/_data`` in a wheel, the repository root in a checkout."""

from __future__ import annotations

from pathlib import Path

__all__ = ["migrations_dir", "queries_dir", "sql_dir"]

_PACKAGE = Path(__file__).resolve().parent


def _data_root() -> Path:
    installed = _PACKAGE / "_data"
    if (installed / "migrations").is_dir():
        return installed
    checkout = _PACKAGE.parent
    if (checkout / "migrations").is_dir():
        return checkout
    raise FileNotFoundError(
        f"aura-db's sql/ and migrations/ folders are missing: looked in {installed} and {checkout}"
    )


def sql_dir() -> Path:
    """The ``sql/`` folder (queries and the reviewed schema)."""
    return _data_root() / "sql"


def queries_dir() -> Path:
    """The ``sql/queries/`` folder: one named-query file per aggregate."""
    return sql_dir() / "queries"


def migrations_dir() -> Path:
    """The ``migrations/`` folder, holding one sub-folder per module."""
    return _data_root() / "migrations"
