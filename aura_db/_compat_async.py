"""The primitives whose async and sync forms are not a mechanical rewrite of each other (the
pair of :mod:`._compat_sync`, also written by hand): the generated sync modules import these
names from there."""

from __future__ import annotations

import asyncio
import types
from collections.abc import Callable, Coroutine, Generator
from typing import Any, TypeVar, cast

__all__ = ["Event", "Lock", "join", "shielded", "sleep", "spawn", "to_thread"]

T = TypeVar("T")
Lock = asyncio.Lock
sleep = asyncio.sleep


async def to_thread(work: Callable[..., T], /, *args: Any) -> T:
    """Run blocking ``work`` (yoyo's migrations, a server start) on a worker thread."""
    return await asyncio.to_thread(work, *args)


async def shielded(start: Callable[..., Coroutine[Any, Any, T]], /, *args: Any) -> T:
    """Run ``work`` (``start(*args)``) to its end even if the caller is cancelled meanwhile: the caller's
    ``CancelledError`` comes through at once, ``work`` goes on as a task of its own. For what
    must not stop halfway, such as handing a connection back to its pool (a second cancel
    landing in the first one's clean-up would otherwise leave it counted as lent forever).

    Eager, as Python 3.12's ``eager_start``: ``work`` runs here up to its first wait; only
    work that does wait (a rollback, a contended lock) pays for a task, so the common give-back,
    which waits on nothing, costs a function call instead of two trips round the event loop.
    Until that first wait nothing can cancel it (a cancel is delivered at a wait)."""
    work = start(*args)
    try:
        pending = work.send(None)
    except StopIteration as done:
        return cast(T, done.value)
    task: asyncio.Task[T] = asyncio.get_running_loop().create_task(_resume(work, pending))
    _finishing.add(task)  # the loop keeps only a weak reference to a task
    task.add_done_callback(_finishing.discard)
    return await asyncio.shield(task)


_finishing: set[asyncio.Task[Any]] = set()


@types.coroutine
def _resume(work: Coroutine[Any, Any, T], pending: Any) -> Generator[Any, Any, T]:
    """The rest of ``work``, which stopped at ``pending`` (what it waits on): handed to the
    task that runs it, as if the task had run it from the start."""
    while True:
        try:
            sent = yield pending
        except BaseException as exc:
            try:
                pending = work.throw(exc)
            except StopIteration as done:
                return cast(T, done.value)
        else:
            try:
                pending = work.send(sent)
            except StopIteration as done:
                return cast(T, done.value)


class Event(asyncio.Event):
    """An event whose wait can time out, as :class:`threading.Event`'s."""

    async def wait_for(self, timeout: float) -> bool:
        """Whether the event was set within ``timeout`` seconds."""
        try:
            async with asyncio.timeout(timeout):
                await self.wait()
        except TimeoutError:
            return False
        return True


def spawn(work: Callable[[], Coroutine[Any, Any, None]], name: str) -> asyncio.Task[None]:
    """Run ``work`` beside the caller (a task; a daemon thread in the sync flavour)."""
    return asyncio.create_task(work(), name=name)


async def join(worker: asyncio.Task[None], timeout: float) -> None:
    """Wait up to ``timeout`` seconds for a spawned worker to finish (cancel it after that)."""
    await asyncio.wait([worker], timeout=timeout)
    worker.cancel()
