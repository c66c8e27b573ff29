"""Running a named query on a connection: the methods :class:`~aura_db.queries.Query` has
for async connections (``amany``, ``aone``, ...) and, generated from them, for sync ones."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NoReturn, TypeVar

import psycopg
from psycopg.rows import BaseRowFactory, tuple_row

from ._query_base import TYPED_ROWS, QueryBase, Shape, result_shape, show_args
from .errors import MultipleRows, NoRows

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
        self._expect(Shape.MANY)
        build = TYPED_ROWS.get(row_factory)
        if build is None:
            async with self._acursor(conn, row_factory) as cur:
                await cur.execute(self.sql, self.bind(args))
                return await cur.fetchall()
        # a typed row: the kept tuple cursor and row maker, as _atyped (a list page: 51 rows)
        spares, key, kc, shape, make = self._akept(conn, row_factory)
        try:
            await kc.execute(self.sql, self.bind(args))
            values = await kc.fetchall()
            shape, make = self._afit(conn, kc.pgresult, build, shape, make)
        except BaseException:
            await kc.close()
            raise
        self._akeep(spares, key, kc, shape, make)
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
        sent. The fastest way to bulk-load: no statement per row, no parsing of text."""
        self._expect(Shape.COPY_IN)
        sent = 0
        async with conn.cursor() as cur, cur.copy(self.sql) as copy:
            copy.set_types(list(types))
            for row in rows:
                await copy.write_row(row)
                sent += 1
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
            return await self._atyped(conn, row_factory, build, args)  # type: ignore[no-any-return]
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
                      build: Callable[[list[str]], Callable[[Any], Any]], args: Mapping[str, Any]) -> Any:
        # A typed row (typed_row): a binary tuple cursor kept for this query (its values come
        # out of psycopg's C loader as one tuple), and the row maker kept with it, checked
        # against the result's shape (four libpq calls) rather than rebuilt from every column
        # name on every run.
        spares, key, cur, shape, make = self._akept(conn, row_factory)
        try:
            await cur.execute(self.sql, self.bind(args))
            values = await cur.fetchone()
            shape, make = self._afit(conn, cur.pgresult, build, shape, make)
        except BaseException:
            await cur.close()
            raise
        self._akeep(spares, key, cur, shape, make)
        if cur.rowcount > 1:
            self._more_than_one(args)
        return None if values is None else make(values)

    def _akept(self, conn: psycopg.AsyncConnection[Any], row_factory: object) -> tuple[
            dict[Any, Any], tuple[str, object], psycopg.AsyncRawCursor[Any], Any, Any]:
        """The connection's spares, this query's key in them and what is kept under it (taken
        off the shelf while in use): a binary tuple cursor, its last result shape and row
        maker; a new cursor and nothing known when none is kept."""
        held = vars(conn)
        spares: dict[Any, Any] = held.get(SPARES) or held.setdefault(SPARES, {})
        key = (self.sql, row_factory)
        kept = spares.pop(key, None)
        if kept is not None:
            return (spares, key, *kept)
        cur = psycopg.AsyncRawCursor(conn)
        cur.format = psycopg.pq.Format.BINARY
        return spares, key, cur, None, None

    @staticmethod
    def _afit(conn: psycopg.AsyncConnection[Any], res: Any,
             build: Callable[[list[str]], Callable[[Any], Any]], shape: Any,
             make: Callable[[Any], Any] | None) -> tuple[Any, Callable[[Any], Any]]:
        """The shape of ``res`` and the row maker for it: the kept one while the shape holds."""
        now = result_shape(res)
        if make is None or now != shape:
            encoding = conn.info.encoding
            make = build([res.fname(i).decode(encoding) for i in range(res.nfields)])
        return now, make

    @staticmethod
    def _akeep(spares: dict[Any, Any], key: tuple[str, object], cur: psycopg.AsyncRawCursor[Any],
              shape: Any, make: Callable[[Any], Any]) -> None:
        # back on the shelf after success (it holds its last result until its next run)
        if len(spares) < _MAX_SPARES:
            spares[key] = (cur, shape, make)

    def _more_than_one(self, args: Mapping[str, Any]) -> NoReturn:
        raise MultipleRows(
            f"query {self.name!r} ({self.location}) returned more than one row for {show_args(args)}")
