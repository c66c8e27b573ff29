"""Running a named query on a connection: the methods :class:`~aura_db.queries.Query` has
for async connections (``amany``, ``aone``, ...) and, generated from them, for sync ones."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NoReturn, TypeVar

import psycopg
from psycopg.rows import BaseRowFactory, tuple_row

from ._query_base import TYPED_ROWS, QueryBase, Refused, Shape, result_shape, show_args
from .errors import InvalidValue, MultipleRows, NoRows

__all__ = ["SPARES", "AsyncQueryRunner"]

R = TypeVar("R")
SPARES = "_aura_spare_cursors"  # an attribute of the connection: {row factory: idle cursor}
# (for a typed row: {(sql, row factory): (idle cursor, result shape, row maker)})
_MAX_SPARES = 64  # row factories made per call (a caller's lambda) must not pile up cursors


class AsyncQueryRunner(QueryBase):
    """The runners of a Query on an async connection (a mixin of Query)."""

    __slots__ = ()

    def _acursor(self, conn: psycopg.AsyncConnection[Any],
                 row_factory: BaseRowFactory[R]) -> psycopg.AsyncRawCursor[R]:
        cur = psycopg.AsyncRawCursor(conn, row_factory=row_factory)
        if row_factory in TYPED_ROWS:
            cur.format = psycopg.pq.Format.BINARY
        return cur

    async def amany(self, conn: psycopg.AsyncConnection[Any], row_factory: BaseRowFactory[R], /,
                    **args: Any) -> list[R]:
        """Run a *many* query and return every row."""
        return await self._amany(conn, row_factory, args, None)

    async def amany_planned(self, conn: psycopg.AsyncConnection[Any], row_factory: BaseRowFactory[R], /,
                            **args: Any) -> list[R]:
        """:meth:`amany`, the statement never prepared: the server plans it for these arguments
        on every run (as ``plan_cache_mode = force_custom_plan`` would, without a setting to
        set), where a prepared statement may be served a generic plan that cannot see them
        (e.g. ``$1::text[] IS NULL OR col = ANY ($1)`` then filters instead of using an index)."""
        return await self._amany(conn, row_factory, args, False)

    async def _amany(self, conn: psycopg.AsyncConnection[Any], row_factory: BaseRowFactory[R],
                     args: Mapping[str, Any], prepare: bool | None) -> list[R]:
        self._expect(Shape.MANY)
        build = TYPED_ROWS.get(row_factory)
        if build is None:
            async with self._acursor(conn, row_factory) as cur:
                await cur.execute(self.sql, self.bind(args), prepare=prepare)
                return await cur.fetchall()
        values, make, _ = await self._atyped(conn, row_factory, build, args, many=True, prepare=prepare)
        return list(map(make, values))

    async def aone(self, conn: psycopg.AsyncConnection[Any], row_factory: BaseRowFactory[R], /,
                   **args: Any) -> R:
        """Run a *one* query: exactly one row, else :class:`NoRows` / :class:`MultipleRows`."""
        self._expect(Shape.ONE)
        row = await self._asingle(conn, row_factory, args)
        if row is None:
            raise NoRows(f"query {self.name!r} ({self.location}) returned no row for {show_args(args)}")
        return row

    async def aoptional(
        self, conn: psycopg.AsyncConnection[Any], row_factory: BaseRowFactory[R], /, **args: Any
    ) -> R | None:
        """Run an *optional* query: the row, or None; :class:`MultipleRows` when more."""
        self._expect(Shape.OPTIONAL)
        return await self._asingle(conn, row_factory, args)

    async def ascalar(self, conn: psycopg.AsyncConnection[Any], /, **args: Any) -> Any:
        """Run a *scalar* query: the first column of exactly one row."""
        self._expect(Shape.SCALAR)
        row = await self._asingle(conn, tuple_row, args)
        if row is None:
            raise NoRows(f"query {self.name!r} ({self.location}) returned no row for {show_args(args)}")
        return row[0]

    async def aexecute(self, conn: psycopg.AsyncConnection[Any], row_factory: BaseRowFactory[R], /,
                       **args: Any) -> psycopg.AsyncRawCursor[R]:
        """Send a row-returning query and return its cursor unread: inside
        ``with conn.pipeline():`` several queries then share one round trip."""
        self._expect(Shape.MANY, Shape.ONE, Shape.OPTIONAL, Shape.SCALAR)
        cur = self._acursor(conn, row_factory)
        await cur.execute(self.sql, self.bind(args))
        return cur

    async def aaffected(self, conn: psycopg.AsyncConnection[Any], /, **args: Any) -> int:
        """Run an *affected-rows* query and return how many rows it changed."""
        self._expect(Shape.AFFECTED)
        async with self._acursor(conn, tuple_row) as cur:
            await cur.execute(self.sql, self.bind(args))
            return cur.rowcount

    async def aexecute_many(self, conn: psycopg.AsyncConnection[Any],
                            arg_sets: Iterable[Mapping[str, Any]], /) -> int:
        """Run an *executemany* query once per parameter set, pipelined; return rows affected."""
        self._expect(Shape.EXECUTE_MANY)
        bound = [self.bind(a) for a in arg_sets]  # validate every set before anything is sent
        if not bound:
            return 0
        async with self._acursor(conn, tuple_row) as cur:
            await cur.executemany(self.sql, bound)
            return cur.rowcount

    async def ascript(self, conn: psycopg.AsyncConnection[Any], /) -> int:
        """Run a *script* (several statements, no parameters) in one simple-protocol round trip;
        return the rows its last statement affected (0 when it reports none)."""
        self._expect(Shape.SCRIPT)
        async with self._acursor(conn, tuple_row) as cur:
            await cur.execute(self.sql)
            while cur.nextset():  # to the last statement's result
                pass
            return max(cur.rowcount, 0)

    async def acopy_in(self, conn: psycopg.AsyncConnection[Any], types: Sequence[str],
                       rows: Iterable[Sequence[Any]], /) -> int:
        """Stream ``rows`` through a *copy-in* query (``COPY ... FROM STDIN (FORMAT BINARY)``),
        each value typed by the PostgreSQL type names ``types``, in one COPY; return the rows
        sent. The fastest way to bulk-load: no statement per row, no parsing of text.

        ``rows`` may check its rows as they are taken: an :class:`InvalidValue` it raises
        abandons the COPY (the server is told only that a row was refused, never the value)
        and comes out as it is."""
        self._expect(Shape.COPY_IN)
        sent = 0
        try:
            async with conn.cursor() as cur, cur.copy(self.sql) as copy:
                copy.set_types(list(types))
                try:
                    for row in rows:
                        await copy.write_row(row)
                        sent += 1
                except InvalidValue as exc:
                    raise Refused(exc) from None
        except Refused as refused:
            raise refused.error from None
        return sent

    async def _asingle(self, conn: psycopg.AsyncConnection[Any], row_factory: BaseRowFactory[R],
                       args: Mapping[str, Any]) -> R | None:
        # The hot path (every get, one, optional and scalar): a cursor of the connection's kept
        # for this row factory, not a new one per call (a cursor and its transformer cost a
        # tenth of a point read). Taken off the shelf while in use, so that two callers sharing
        # the connection never share a cursor (the second makes its own); put back only after
        # success.
        build = TYPED_ROWS.get(row_factory)
        if build is not None:
            row, make, rowcount = await self._atyped(conn, row_factory, build, args, many=False)
            if rowcount > 1:
                self._more_than_one(args)
            return None if row is None else make(row)
        held = vars(conn)
        spares: dict[Any, Any] = held.get(SPARES) or held.setdefault(SPARES, {})
        cur: psycopg.AsyncRawCursor[R] | None = spares.pop(row_factory, None)
        if cur is None:
            cur = self._acursor(conn, row_factory)
        try:
            await cur.execute(self.sql, self.bind(args))
            row = await cur.fetchone()
        except BaseException:
            await cur.close()
            raise
        if len(spares) < _MAX_SPARES:
            spares[row_factory] = cur
        if cur.rowcount > 1:  # the rows the result holds (only the first was built)
            self._more_than_one(args)
        return row

    async def _atyped(self, conn: psycopg.AsyncConnection[Any], row_factory: object,
                      build: Callable[[list[str]], Callable[[Any], Any]], args: Mapping[str, Any], *,
                      many: bool, prepare: bool | None = None) -> tuple[Any, Callable[[Any], Any], int]:
        # A typed row (typed_row): a binary tuple cursor kept for this query (its values come
        # out of psycopg's C loader as tuples), and the row maker kept with it, checked against
        # the result's shape (four libpq calls) rather than rebuilt from every column name on
        # every run. Returns the values (every row's, or the first row's), the maker and the
        # rows the result holds.
        held = vars(conn)
        spares: dict[Any, Any] = held.get(SPARES) or held.setdefault(SPARES, {})
        key = (self.sql, row_factory)
        kept = spares.pop(key, None)  # off the shelf while in use, as in _asingle
        if kept is None:
            cur: psycopg.AsyncRawCursor[Any] = psycopg.AsyncRawCursor(conn)
            cur.format = psycopg.pq.Format.BINARY
            shape: Any = None
            make: Callable[[Any], Any] | None = None
        else:
            cur, shape, make = kept
        try:
            await cur.execute(self.sql, self.bind(args), prepare=prepare)
            values = await cur.fetchall() if many else await cur.fetchone()
            res = cur.pgresult
            now = result_shape(res)
            if make is None or now != shape:
                encoding = conn.info.encoding
                make = build([res.fname(i).decode(encoding) for i in range(res.nfields)])  # type: ignore[union-attr]
        except BaseException:
            await cur.close()
            raise
        if len(spares) < _MAX_SPARES:  # back on the shelf (it holds its result until its next run)
            spares[key] = (cur, now, make)
        return values, make, cur.rowcount

    def _more_than_one(self, args: Mapping[str, Any]) -> NoReturn:
        raise MultipleRows(
            f"query {self.name!r} ({self.location}) returned more than one row for {show_args(args)}")
