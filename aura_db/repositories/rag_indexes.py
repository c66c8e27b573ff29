"""The HNSW search indexes of rag_chunks: list, drop, build, rebuild, and bulk loads around them.

Two roles may change them. The owner of rag_chunks (the migration role, or a superuser) does it
CONCURRENTLY: writers keep writing while an index builds. Any other role goes through the
SECURITY DEFINER functions of foundation 0012, which ``aura-db roles`` lets the application
role (and only it) call: one transaction each, so writes wait for a build while reads go on. A
role that may do neither gets :class:`PermissionDenied` naming the roles that can. The index
definition itself lives in SQL (``aura_search_index_statement``), for both ways.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import psycopg
from psycopg.rows import class_row

__all__ = ["SearchIndex"]

logger = logging.getLogger(__name__)

_T = "rag_chunks"


@dataclass(frozen=True, slots=True)
class SearchIndex:
    """An HNSW index of rag_chunks: validity and storage options (``m=16``, ...)."""

    name: str
    valid: bool
    options: list[str]
    size_bytes: int


@dataclass(frozen=True, slots=True)
class _Access:
    role: str
    owner: bool
    maintainer: bool


_index_row = class_row(SearchIndex)
_access_row = class_row(_Access)


_IDLE = psycopg.pq.TransactionStatus.IDLE


