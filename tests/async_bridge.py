"""Run the repository suites against the async flavour too: a synchronous view of an
``AsyncDatabase`` whose every call runs on an event loop in a background thread.

The view is a test device, not an API: it lets one test body drive both flavours, so the async
repositories answer the very assertions the sync ones do (same rows, same errors, same
messages). Through it, ``db.stories.get(id)`` awaits ``AsyncStoriesRepository.get`` on the loop;
``with db.transaction() as tx`` enters the async context manager there; async iterators are
drained there; objects of the async API (repositories, transactions, connections, cursors)
come back wrapped in a view, plain values (rows, pages, numbers) as they are. An exception
raised on the loop is re-raised here unchanged.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

T = TypeVar("T")


class Loop:
    """An event loop running on a daemon thread until :meth:`close`."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="aura-db test loop",
                                        daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the loop and return its result (or raise its exception)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def close(self) -> None:
        async def shutdown() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.loop.shutdown_asyncgens()

        self.run(shutdown())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


def _is_async_api(value: Any) -> bool:
    cls = type(value)
    return cls.__name__.startswith("Async") and cls.__module__.split(".")[0] in ("aura_db", "psycopg")


class SyncView:
    """The synchronous face of one object of the async API."""

    __slots__ = ("_loop", "_target")

    def __init__(self, target: Any, loop: Loop) -> None:
        object.__setattr__(self, "_target", target)
        object.__setattr__(self, "_loop", loop)

    @property
    def target(self) -> Any:
        """The async object behind the view."""
        return self._target

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if callable(value) and not isinstance(value, type):
            return self._calling(value)
        return adapt(value, self._loop)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._target, name, value)

    def _calling(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            return adapt(fn(*args, **kwargs), self._loop)

        return call

    def __enter__(self) -> Any:
        return adapt(self._loop.run(self._target.__aenter__()), self._loop)

    def __exit__(self, *exc: Any) -> bool:
        return bool(self._loop.run(self._target.__aexit__(*exc)))

    def __iter__(self) -> Iterator[Any]:
        return _drain(self._target, self._loop)

    def __repr__(self) -> str:
        return f"SyncView({self._target!r})"


def _drain(target: Any, loop: Loop) -> Iterator[Any]:
    iterator = target.__aiter__()
    while True:
        try:
            item = loop.run(iterator.__anext__())
        except StopAsyncIteration:
            return
        yield adapt(item, loop)


def adapt(value: Any, loop: Loop) -> Any:
    """``value`` as a sync caller sees it: awaited, entered, drained or wrapped."""
    if asyncio.iscoroutine(value):
        return adapt(loop.run(value), loop)
    if _is_async_api(value) or hasattr(value, "__aenter__"):
        return SyncView(value, loop)
    if hasattr(value, "__aiter__"):
        return _drain(value, loop)
    return value
