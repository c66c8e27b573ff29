"""The async rag_search repository: the source ``tools/async_to_sync.py`` generates
``rag_search_sync.py`` from. Its rows, checks and helpers are :mod:`.rag_search`'s, shared by both.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, ClassVar

import psycopg
from pgvector import Vector
from psycopg.rows import RowFactory, dict_row, tuple_row

from ..errors import InvalidValue
from ..queries import Query, QueryCatalog
from ..retry import RetryPolicy
from .base_async import AsyncConnector, AsyncRepository, reads, writes
from .checks import (
    check_bool,
    check_enum,
    check_int,
    check_items,
    check_number,
    check_text,
    escape_like,
)
from .conversations import RagContentType, RagContext, RagContextRow
from .conversations_async import AsyncMessagesRepository
from .rag_route import EXACT_FALLBACK, Route, decide
from .rag_search import (
    _FILTERS,
    _SETTINGS,
    _T,
    HybridHit,
    SearchHit,
    SearchPlan,
    SearchTuning,
    _hit,
    _hybrid_hit,
    _only,
    _Request,
    _walk,
    embedding_array,
    index_name,
)

__all__ = ["AsyncRagSearch"]

_MAX_ROUTES = 4096  # remembered routes (one per workspace, size, limit and filters searched)


@asynccontextmanager
async def _pipelined_savepoint(conn: psycopg.AsyncConnection[Any]) -> AsyncIterator[None]:
    async with conn.pipeline(), conn.transaction():
        yield


class AsyncRagSearch(AsyncRepository):
    """The search half of ``db.rag_chunks``: vector, hybrid, explain, record hits."""

    table: ClassVar[str] = _T
    tuning: SearchTuning = SearchTuning()

    def __init__(self, connector: AsyncConnector, catalog: QueryCatalog | None = None,
                 retry: RetryPolicy | None = None) -> None:
        super().__init__(connector, catalog, retry)
        # (workspace, dims) -> (an unfiltered search's settled route, when, its tuning): _remember
        self._settled: dict[tuple[str, int], tuple[Route, float, SearchTuning]] = {}
        # (workspace, dims, limit, forced route, filters) -> the route its last search took: the
        # next search sends that route's statement with the routing one (see _routed)
        self._routes: dict[tuple[Any, ...], Route] = {}

    @reads
    async def search(self, workspace_id: str, embedding: object, limit: int = 10, *,
                     content_types: Sequence[RagContentType | str] | None = None,
                     path_prefix: str | None = None, min_score: float | None = None,
                     ef_search: int | None = None, exact: bool | None = None) -> list[SearchHit]:
        """The ``limit`` chunks of the workspace most similar to ``embedding`` (cosine), best first.

        Filters: ``content_types`` (any of), ``path_prefix`` (literal source_path prefix) and
        ``min_score``. ``exact=True``/``False`` forces a path; ``ef_search`` overrides
        :attr:`tuning`. Fewer than ``limit`` hits means fewer chunks match (or pass
        ``min_score``). Raises :class:`InvalidValue` for a bad embedding, limit or filter.
        """
        req = self._request(workspace_id, embedding, limit, content_types, path_prefix)
        floor = check_number(_T, "min_score", min_score)
        if self._settled_route(req, exact, ef_search) is not None:
            rows = await self._search_settled(req)
        else:
            route, rows = await self._routed(req, exact, ef_search, "search", _hit)
            self._remember(req, route, exact, ef_search)
        return [h for h in rows if floor is None or h.score >= floor]

    async def _search_settled(self, req: _Request) -> list[SearchHit]:
        """The exact path's statement alone (see _settled_route), never prepared: planned for its
        workspace and filters, as force_custom_plan makes the routed path's."""
        query = self._q("search_exact")
        async with self._conn() as conn:
            return await query.amany_planned(conn, _hit, **self._args(query, req))

    @reads
    async def hybrid_search(self, workspace_id: str, query_text: str, embedding: object, limit: int = 10, *,
                            content_types: Sequence[RagContentType | str] | None = None,
                            path_prefix: str | None = None, vector_weight: float = 1.0,
                            text_weight: float = 1.0, rrf_k: int = 60, candidates: int | None = None,
                            ef_search: int | None = None, exact: bool | None = None) -> list[HybridHit]:
        """Full-text and vector search fused by reciprocal rank fusion in one SQL statement.

        Each leg takes its best ``candidates`` (default ``max(4 * limit, 40)``) chunks under the
        same filters; score = vector_weight / (rrf_k + vector rank) + text_weight / (rrf_k +
        text rank). ``query_text`` uses web-search syntax ("quoted phrases", -exclusions, or).
        Raises :class:`InvalidValue` for bad arguments.
        """
        req = self._hybrid_request(workspace_id, query_text, embedding, limit, content_types, path_prefix,
                                   vector_weight, text_weight, rrf_k, candidates)
        return (await self._routed(req, exact, ef_search, "hybrid", _hybrid_hit))[1]

    def _hybrid_request(self, workspace_id: str, query_text: str, embedding: object, limit: int,
                        content_types: Sequence[RagContentType | str] | None, path_prefix: str | None,
                        vector_weight: float, text_weight: float, rrf_k: int,
                        candidates: int | None) -> _Request:
        req = self._request(workspace_id, embedding, limit, content_types, path_prefix)
        check_text(_T, "query_text", query_text, allow_blank=True)
        weights = [check_number(_T, name, w) for name, w in
                   (("vector_weight", vector_weight), ("text_weight", text_weight))]
        if any(w is None or w < 0 for w in weights):
            raise InvalidValue(f"{_T}: weights must be non-negative numbers (got {weights})")
        check_int(_T, "rrf_k", rrf_k, minimum=1, maximum=10_000, required=True)
        wide = check_int(_T, "candidates", candidates, minimum=1, maximum=10_000)
        req.filters.update(query_text=query_text, vector_weight=weights[0], text_weight=weights[1],
                           rrf_k=rrf_k, candidates=wide or max(4 * req.limit, 40))
        return req

    @reads
    async def explain_search(self, workspace_id: str, embedding: object, limit: int = 10, *,
                             content_types: Sequence[RagContentType | str] | None = None,
                             path_prefix: str | None = None, ef_search: int | None = None,
                             exact: bool | None = None) -> SearchPlan:
        """How :meth:`search` would run with these arguments: its route and EXPLAIN plan
        (node types and index names), planned with the same settings."""
        req = self._request(workspace_id, embedding, limit, content_types, path_prefix)
        settled = self._settled_route(req, exact, ef_search)
        if settled is not None:  # what search would do: the exact statement alone, no routing
            query = self._q("search_exact")
            route = dataclasses.replace(settled, reason=(
                f"the workspace held {settled.candidates} chunks, at most its exact threshold, when a search "
                f"counted them: the exact statement alone, no routing round trip, counted again "
                f"{self.tuning.recount_after:g}s after"))
            async with self._conn() as conn:
                row = await self._explain(conn, query, self._args(query, req))
        else:
            async with self._searching(req, exact, ef_search) as (conn, route):
                query = await self._settle(conn, route, req, "search")
                row = await self._explain(conn, query, self._args(query, req))
        return self._search_plan(route, query, row)

    @reads
    async def explain_hybrid_search(self, workspace_id: str, query_text: str, embedding: object,
                                    limit: int = 10, *,
                                    content_types: Sequence[RagContentType | str] | None = None,
                                    path_prefix: str | None = None, candidates: int | None = None,
                                    ef_search: int | None = None, exact: bool | None = None) -> SearchPlan:
        """How :meth:`hybrid_search` would run with these arguments: its route and the EXPLAIN
        plan of its statement (both legs' indexes), planned with the same settings."""
        req = self._hybrid_request(workspace_id, query_text, embedding, limit, content_types, path_prefix,
                                   1.0, 1.0, 60, candidates)
        async with self._searching(req, exact, ef_search) as (conn, route):
            query = await self._settle(conn, route, req, "hybrid")
            row = await self._explain(conn, query, self._args(query, req))
        return self._search_plan(route, query, row)

    @staticmethod
    def _search_plan(route: Route, query: Query, row: Any) -> SearchPlan:
        nodes: list[str] = []
        indexes: list[str] = []
        _walk(row[0][0]["Plan"], nodes, indexes)
        return SearchPlan(route.path, query.name, route.candidates, route.ef_search, route.calibrated,
                          tuple(nodes), tuple(indexes), row[0], route.reason)

    @staticmethod
    async def _explain(conn: psycopg.AsyncConnection[Any], query: Query, args: dict[str, Any]) -> Any:
        async with psycopg.AsyncRawCursor(conn) as cur:
            await cur.execute("EXPLAIN (FORMAT JSON) " + query.sql, query.bind(args))
            row = await cur.fetchone()
        assert row is not None
        return row

    @writes
    async def record_hits(self, message_id: uuid.UUID | str, query_text: str,
                          hits: Sequence[SearchHit | HybridHit]) -> list[RagContextRow]:
        """Record the hits an assistant message was answered with (message_rag_contexts), in
        one statement; returns the rows in the order given. Raises :class:`NotFound` when the
        message does not exist."""
        contexts = [RagContext(query=query_text, content_id=h.content_id, chunk_index=h.chunk_index,
                               chunk_content=h.content, score=h.score, source_path=h.source_path,
                               content_type=h.content_type)
                    for h in check_items(_T, "hits", hits, (SearchHit, HybridHit))]
        messages = AsyncMessagesRepository(self._connector, self._catalog)
        return await messages.attach_rag_contexts(message_id, contexts)

    # -- the route --------------------------------------------------------------------------------

    def _settled_route(self, req: _Request, exact: bool | None, ef_search: int | None) -> Route | None:
        """The settled route of an unfiltered search of this workspace (its chunks at most its
        exact threshold) less than ``tuning.recount_after`` s ago (this search can skip routing)."""
        if exact is False or ef_search is not None:
            return None
        check_bool(_T, "exact", exact, required=False)
        known = self._settled.get((req.workspace_id, req.dims))
        if known is None:
            return None
        route, counted, tuning = known
        return route if tuning is self.tuning and time.monotonic() - counted < tuning.recount_after else None

    def _forget_settled(self, workspace_id: str) -> None:
        """An ingest into ``workspace_id`` may have grown it: its next search is routed."""
        for key in [k for k in self._settled if k[0] == workspace_id]:
            self._settled.pop(key, None)

    def _remember(self, req: _Request, route: Route, exact: bool | None, ef_search: int | None) -> None:
        """After a routed search: remember a workspace every search of which is exact."""
        if exact is not None or ef_search is not None or any(v is not None for v in req.filters.values()):
            return
        key = (req.workspace_id, req.dims)
        if route.path == "exact" and route.settled:
            if len(self._settled) >= _MAX_ROUTES:
                self._settled.clear()
            self._settled[key] = (route, time.monotonic(), self.tuning)
        else:
            self._settled.pop(key, None)

    @staticmethod
    def _check_forced(exact: bool | None, ef_search: int | None) -> None:
        if ef_search is not None:
            check_int(_T, "ef_search", ef_search, minimum=1, maximum=1000, required=True)
        check_bool(_T, "exact", exact, required=False)

    async def _routed(self, req: _Request, exact: bool | None, ef_search: int | None, kind: str,
                      row_factory: RowFactory[Any]) -> tuple[Route, list[Any]]:
        """The route of a search and its rows, in as few round trips as the route allows.

        A search of its own (an autocommit connection, no transaction open) whose route is
        remembered from the last search with the same workspace, size, limit and filters sends
        everything in one round trip, one pipeline (see _block): the routing statement, that
        route's settings and search; the transaction-local settings end at its Sync. The
        route the routing statement returns is then compared with the one guessed: the rows
        are kept when they match, else the decided route is searched in a second round trip
        (a workspace that grew or shrank across the threshold, an index dropped or built, a
        new calibration). Without a remembered route, or inside the caller's transaction
        (where the settings are put back before the savepoint is released), the route is
        read first: two round trips. An HNSW search that returns fewer rows than asked
        (filters) is searched again exactly, in one more."""
        self._check_forced(exact, ef_search)
        key = (req.workspace_id, req.dims, req.limit, exact, ef_search,
               tuple(req.filters["content_types"] or ()), req.filters["content_types"] is None,
               req.filters["path_like"])
        guess = self._routes.get(key)
        async with self._conn() as conn:
            own = conn.autocommit and conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
            route: Route | None = None
            rows: list[Any] | None = None
            before: dict[str, Any] | None = None
            if own and guess is not None:
                # route_calibrated (no count, its plan cached) when the count decides nothing:
                # the HNSW path forced (exact=False: filters or not), or an unfiltered search
                # whose workspace the calibration may prove above its threshold
                calibrated = guess.path == "hnsw" and (exact is False or (
                    exact is None and guess.calibrated and all(req.filters[f] is None for f in _FILTERS)))
                try:
                    async with self._block(conn, own):
                        sent = await self._send_routing(conn, req, count=exact is None, calibrated=calibrated)
                        cur = await self._send(conn, guess, req, kind, row_factory)
                except BaseException:  # e.g. a stale exact guess timed out: route the next one afresh
                    self._routes.pop(key, None)
                    raise
                before = await self._read_routing(*sent)
                if exact is False:  # forced onto the HNSW path: nothing was counted
                    before["candidates"] = 0
                if before["candidates"] is None:  # route_calibrated proved nothing: route afresh
                    before = None
                else:
                    route = self._route(before, req, exact, ef_search)
                    if (route.path, route.ef_search) == (guess.path, guess.ef_search):
                        rows = await cur.fetchall()
                await cur.close()
            if rows is None or route is None:
                route, rows, before = await self._search_route(
                    conn, req, kind, row_factory, route, before, own, exact, ef_search)
            if kind == "search" and route.path == "hnsw" and exact is None and len(rows) < req.limit:
                rows = (await self._search_route(conn, req, kind, row_factory, EXACT_FALLBACK, before,
                                                 own, exact, ef_search))[1]
        if len(self._routes) >= _MAX_ROUTES:
            self._routes.clear()
        self._routes[key] = route
        return route, rows

    async def _search_route(self, conn: psycopg.AsyncConnection[Any], req: _Request, kind: str,
                            row_factory: RowFactory[Any], route: Route | None,
                            before: dict[str, Any] | None, own: bool, exact: bool | None,
                            ef_search: int | None) -> tuple[Route, list[Any], dict[str, Any] | None]:
        """Search ``route`` in a transaction (a savepoint in the caller's) with the route's
        settings, and in the caller's transaction the settings as they were (``before``) put
        back: one round trip, the rows read after it. With no route, the routing statement
        is read first (one more round trip) and decides it. Returns the route, the rows and
        the settings as they were."""
        async with self._block(conn, own):
            if route is None:
                before = await self._read_routing(*await self._send_routing(conn, req, count=exact is None))
                route = self._route(before, req, exact, ef_search)
            else:  # transaction-local: they end with the transaction, or are put back below
                await self._q("force_custom_plans").aexecute(conn, tuple_row)
            cur = await self._send(conn, route, req, kind, row_factory)
            if not own:
                assert before is not None
                await self._q("restore_search_settings").aexecute(conn, tuple_row, **_only(before, _SETTINGS))
        async with cur:
            return route, await cur.fetchall(), before

    @staticmethod
    def _block(conn: psycopg.AsyncConnection[Any], own: bool) -> AbstractAsyncContextManager[Any]:
        """The transaction a search's statements run in. The search's own (autocommit, no
        transaction open): a pipeline, whose statements up to its Sync the server runs as one
        implicit transaction and commits at the Sync (transaction-local settings end there):
        one round trip, no BEGIN or COMMIT. In the caller's transaction: a savepoint."""
        if own:
            return conn.pipeline()
        return _pipelined_savepoint(conn)

    async def _send_routing(
            self, conn: psycopg.AsyncConnection[Any], req: _Request, *, count: bool = True,
            calibrated: bool = False) -> tuple[psycopg.AsyncRawCursor[Any], psycopg.AsyncRawCursor[Any]]:
        """Send (unread) the statements that plan the search for its parameters and return
        the settings as they were, the candidates and the calibration (set_search_settings).
        Without ``count`` (a search whose path the caller forced: the count decides nothing,
        neither the route nor an exact fallback), the candidates are counted up to 1: the
        count reads one index entry instead of up to the exact threshold's. ``calibrated``
        (an unfiltered search whose previous one took the calibrated HNSW path, or a search
        forced onto the HNSW path): the routing statement without the count, route_calibrated,
        first (its plan cached), whose candidates are None when it cannot prove the workspace
        above its threshold."""
        cap = max(self.tuning.exact_threshold, req.limit) + 1 if count else 1
        if calibrated:
            counted = await self._q("route_calibrated").aexecute(
                conn, dict_row, workspace_id=req.workspace_id, dims=req.dims, cap=cap)
            return await self._q("force_custom_plans").aexecute(conn, dict_row), counted
        custom = await self._q("force_custom_plans").aexecute(conn, dict_row)
        counted = await self._q("set_search_settings").aexecute(
            conn, dict_row, workspace_id=req.workspace_id, dims=req.dims, cap=cap,
            **_only(req.filters, _FILTERS))
        return custom, counted

    @staticmethod
    async def _read_routing(custom: psycopg.AsyncRawCursor[Any],
                            counted: psycopg.AsyncRawCursor[Any]) -> dict[str, Any]:
        async with custom, counted:
            mode, before = await custom.fetchone(), await counted.fetchone()
        assert mode is not None and before is not None
        before["plan_cache_mode"] = mode["plan_cache_mode"]
        return before  # type: ignore[no-any-return]

    async def _send(self, conn: psycopg.AsyncConnection[Any], route: Route, req: _Request, kind: str,
                    row_factory: RowFactory[Any]) -> psycopg.AsyncRawCursor[Any]:
        """Send (unread) the route's settings and its search."""
        query = await self._settle(conn, route, req, kind)
        return await query.aexecute(conn, row_factory, **self._args(query, req))

    @asynccontextmanager
    async def _searching(self, req: _Request, exact: bool | None,
                         ef_search: int | None) -> AsyncIterator[tuple[psycopg.AsyncConnection[Any], Route]]:
        """A transaction (a savepoint in the caller's) with the search settings applied, and the
        route read first (explain_search: the route, then the plan of its statement)."""
        self._check_forced(exact, ef_search)
        async with self._conn() as conn, conn.pipeline(), conn.transaction():
            before = await self._read_routing(*await self._send_routing(conn, req))
            yield conn, self._route(before, req, exact, ef_search)
            await self._q("restore_search_settings").aexecute(conn, tuple_row, **_only(before, _SETTINGS))

    def _route(self, before: dict[str, Any], req: _Request, exact: bool | None,
               ef_search: int | None) -> Route:
        return decide(before, index_name(req.dims), self.tuning.exact_threshold,
                      lambda base: self.tuning.ef_for(req.limit, base), exact, ef_search, limit=req.limit)

    def _request(self, workspace_id: str, embedding: object, limit: int,
                 content_types: Sequence[RagContentType | str] | None,
                 path_prefix: str | None) -> _Request:
        check_text(_T, "workspace_id", workspace_id)
        array = embedding_array(embedding, f"{_T}.embedding (query)")
        check_int(_T, "limit", limit, minimum=1, maximum=1000, required=True)
        if isinstance(content_types, str):
            content_types = [content_types]
        kinds = None if content_types is None else sorted(
            {check_enum(_T, "content_type", k, RagContentType).value
             for k in check_items(_T, "content_types", content_types)})
        check_text(_T, "source_path", path_prefix, required=False, allow_blank=True)
        like = None if path_prefix is None else escape_like(path_prefix) + "%"
        return _Request(workspace_id, Vector(array), array.size, limit,
                        {"content_types": kinds, "path_like": like})

    async def _settle(self, conn: psycopg.AsyncConnection[Any], route: Route, req: _Request,
                      kind: str) -> Query:
        """Apply the HNSW path's settings (for that path) and return the query to run."""
        if route.path == "exact":
            return self._q(f"{kind}_exact")
        # sent unread: in the pipeline it shares the search's round trip
        await self._q("set_hnsw_settings").aexecute(conn, tuple_row, ef_search=route.ef_search,
                                                    max_scan_tuples=self.tuning.max_scan_tuples,
                                                    bitmap_scans=kind == "hybrid")
        return self._q(f"{kind}_hnsw_{req.dims}")

    @staticmethod
    def _args(query: Query, req: _Request) -> dict[str, Any]:
        args = {"workspace_id": req.workspace_id, "embedding": req.embedding, "dims": req.dims,
                "limit": req.limit, **req.filters}
        return _only(args, query.params)
