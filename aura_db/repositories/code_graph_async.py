"""The async code_graph repository: the source ``tools/async_to_sync.py`` generates
``code_graph_sync.py`` from. Its rows, checks and helpers are :mod:`.code_graph`'s, shared by both.
"""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import psycopg
from psycopg.rows import tuple_row

from ..errors import InvalidValue
from .base_async import AsyncRepository, idempotent, reads, writes
from .checks import (
    check_bool,
    check_enum,
    check_int,
    check_items,
    check_text,
    check_uuid,
    escape_like,
    show,
)
from .code_graph import (
    _E,
    _EDGE_COPY,
    _NODE_COPY,
    _T,
    MAX_DEPTH,
    CodeEdge,
    CodeEdgeType,
    CodeNode,
    CodeNodeRow,
    CodeNodeType,
    GraphHit,
    _edge_tuple,
    _hit,
    _node_row,
    _node_tuple,
    _unique,
)

__all__ = ["AsyncCodeGraphRepository"]


class AsyncCodeGraphRepository(AsyncRepository):
    """``db.code_graph``: upsert a repository's graph, replace a file, find symbols, traverse."""

    table: ClassVar[str] = _T

    # -- writes -------------------------------------------------------------------------------

    @idempotent
    async def upsert(self, repository_path: str | None, nodes: Sequence[CodeNode],
                     edges: Sequence[CodeEdge] = ()) -> tuple[int, int]:
        """Insert or update ``nodes`` and ``edges`` of one repository on their natural keys, in
        one transaction (binary COPY to staging, one INSERT per table). Edge endpoints given by
        key may be nodes of this call or already stored. Returns (nodes, edges) given.

        Raises :class:`InvalidValue` naming the node or edge and the problem (nothing written)
        and :class:`NotFound` when an edge names an unknown node.
        """
        repo = self._repo(repository_path)
        node_rows = [_node_tuple(repo, i, n) for i, n in enumerate(check_items(_T, "nodes", nodes))]
        edge_rows = [_edge_tuple(repo, i, e) for i, e in enumerate(check_items(_E, "edges", edges))]
        _unique(node_rows)
        async with self._conn() as conn, conn.transaction():
            await self._stage(conn, node_rows, edge_rows)
        return len(node_rows), len(edge_rows)

    @idempotent
    async def replace_file(self, repository_path: str | None, file_path: str, nodes: Sequence[CodeNode],
                           edges: Sequence[CodeEdge] = ()) -> tuple[int, int]:
        """Make ``nodes`` the file's only nodes, atomically: nodes of the file not given are
        deleted (with their edges), the rest upserted (ids kept, so edges from other files
        stay), then ``edges`` upserted. Every node must declare ``file_path``."""
        repo = self._repo(repository_path)
        check_text(_T, "file_path", file_path)
        node_rows = [_node_tuple(repo, i, n) for i, n in enumerate(check_items(_T, "nodes", nodes))]
        for i, row in enumerate(node_rows):
            if row[4] != file_path:
                raise InvalidValue(
                    f"{_T}.file_path: node {i} ({row[2]!r}) is in {row[4]!r}, not {file_path!r}")
        edge_rows = [_edge_tuple(repo, i, e) for i, e in enumerate(check_items(_E, "edges", edges))]
        _unique(node_rows)
        async with self._conn() as conn, conn.transaction():
            await self._q("delete_file_nodes_except").aaffected(
                conn, repository_path=repo, file_path=file_path,
                fqns=[r[2] for r in node_rows], node_types=[r[3] for r in node_rows])
            await self._stage(conn, node_rows, edge_rows)
        return len(node_rows), len(edge_rows)

    async def _stage(self, conn: psycopg.AsyncConnection[Any], nodes: list[tuple[Any, ...]],
                     edges: list[tuple[Any, ...]]) -> None:
        await self._q("create_graph_staging").ascript(conn)
        for query, types, rows in (("copy_node_staging", _NODE_COPY, nodes),
                                   ("copy_edge_staging", _EDGE_COPY, edges)):
            if rows:
                await self._q(query).acopy_in(conn, types, rows)
        if nodes:
            await self._q("upsert_staged_nodes").ascript(conn)
        if edges:
            await self._q("upsert_staged_edges").ascript(conn)

    @writes
    async def delete_repository(self, repository_path: str | None) -> int:
        """Delete a repository's whole graph (edges cascade); returns the nodes deleted."""
        async with self._conn() as conn:
            return int(await self._q("delete_repository_graph").ascalar(
                conn, repository_path=self._repo(repository_path)))

    @reads
    async def counts(self, repository_path: str | None) -> tuple[int, int]:
        """(nodes, edges) of a repository."""
        async with self._conn() as conn:
            row = await self._q("count_graph").aone(
                conn, tuple_row, repository_path=self._repo(repository_path))
        return int(row[0]), int(row[1])

    # -- reads --------------------------------------------------------------------------------

    @reads
    async def get(self, id: uuid.UUID | str) -> CodeNodeRow:
        """The node with this id; :class:`NotFound` when there is none."""
        node_id = check_uuid(_T, "id", id)
        async with self._conn() as conn:
            row = await self._q("get_code_node").aoptional(conn, _node_row, id=node_id)
        if row is None:
            raise self._not_found(node_id)
        return row

    @reads
    async def find(self, repository_path: str | None = None, *, name: str | None = None,
                   fully_qualified_name: str | None = None, fqn_prefix: str | None = None,
                   name_contains: str | None = None,
                   node_types: Sequence[CodeNodeType | str] | None = None,
                   any_repository: bool = False, limit: int = 100) -> builtins.list[CodeNodeRow]:
        """Symbols matching every filter given: exact ``name``, exact ``fully_qualified_name``,
        literal ``fqn_prefix``, case-insensitive literal ``name_contains``, ``node_types``; in
        one repository (or all with ``any_repository``), by fully qualified name."""
        for field, value in (("name", name), ("fully_qualified_name", fully_qualified_name),
                             ("fully_qualified_name", fqn_prefix), ("name", name_contains)):
            check_text(_T, field, value, required=False, allow_blank=True)
        check_int(_T, "limit", limit, minimum=1, maximum=10_000, required=True)
        check_bool(_T, "any_repository", any_repository)
        kinds = None if node_types is None else [check_enum(_T, "node_type", k, CodeNodeType).value
                                                 for k in check_items(_T, "node_types", node_types)]
        async with self._conn() as conn:
            return await self._q("find_code_nodes").amany(
                conn, _node_row, any_repository=bool(any_repository),
                repository_path=None if any_repository else self._repo(repository_path),
                name=name, fqn=fully_qualified_name,
                fqn_like=None if fqn_prefix is None else escape_like(fqn_prefix) + "%",
                name_ilike=None if name_contains is None else f"%{escape_like(name_contains)}%",
                node_types=kinds, limit=limit)

    @reads
    async def traverse(self, start: uuid.UUID | str, direction: Literal["out", "in"],
                       edge_types: Sequence[CodeEdgeType | str],
                       max_depth: int = 1) -> builtins.list[GraphHit]:
        """Nodes reachable from ``start`` along ``edge_types`` (``out``: in the edges'
        direction, ``in``: against it), up to ``max_depth`` hops (at most 20); each node once,
        at its minimal depth, never the start itself, by depth then name. Cycles end a path."""
        node_id = check_uuid(_T, "id", start)
        check_int(_E, "max_depth", max_depth, minimum=1, maximum=MAX_DEPTH, required=True)
        if direction not in ("out", "in"):
            raise InvalidValue(f"{_E}: direction must be 'out' or 'in', got {show(direction)}")
        kinds = [check_enum(_E, "edge_type", k, CodeEdgeType).value
                 for k in check_items(_E, "edge_types", edge_types)]
        query = "walk_outgoing" if direction == "out" else "walk_incoming"
        async with self._conn() as conn:
            return await self._q(query).amany(
                conn, _hit, start=node_id, edge_types=kinds, max_depth=max_depth)

    @reads
    async def children(self, id: uuid.UUID | str) -> builtins.list[CodeNodeRow]:
        """What the node contains directly (Contains edges), by fully qualified name."""
        return [h.node for h in await self.traverse(id, "out", [CodeEdgeType.CONTAINS])]

    @reads
    async def callers(self, id: uuid.UUID | str, depth: int = 1) -> builtins.list[GraphHit]:
        """Who calls the node, transitively up to ``depth`` hops."""
        return await self.traverse(id, "in", [CodeEdgeType.CALLS], depth)

    @reads
    async def callees(self, id: uuid.UUID | str, depth: int = 1) -> builtins.list[GraphHit]:
        """What the node calls, transitively up to ``depth`` hops."""
        return await self.traverse(id, "out", [CodeEdgeType.CALLS], depth)

    @reads
    async def implementations(self, id: uuid.UUID | str, depth: int = MAX_DEPTH) -> builtins.list[GraphHit]:
        """Types implementing an interface, directly or through inheritance (Implements and
        Inherits edges, against their direction)."""
        return await self.traverse(id, "in", [CodeEdgeType.IMPLEMENTS, CodeEdgeType.INHERITS], depth)

    @reads
    async def inheritors(self, id: uuid.UUID | str, depth: int = MAX_DEPTH) -> builtins.list[GraphHit]:
        """Types deriving from the node, transitively (Inherits edges, against their direction)."""
        return await self.traverse(id, "in", [CodeEdgeType.INHERITS], depth)

    @reads
    async def references(self, id: uuid.UUID | str) -> builtins.list[GraphHit]:
        """Nodes that reference the node directly."""
        return await self.traverse(id, "in", [CodeEdgeType.REFERENCES])

    def _repo(self, path: str | None) -> str | None:
        return check_text(_T, "repository_path", path, required=False)
