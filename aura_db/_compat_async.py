"""The primitives whose async and sync forms are not a mechanical rewrite of each other (the
pair of :mod:`._compat_sync`, also written by hand): the generated sync modules import these
names from there."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["Event", "Lock", "join", "sleep", "spawn", "to_thread"]

T = TypeVar("T")
Lock = asyncio.Lock
sleep = asyncio.sleep


async def to_thread(work: Callable[..., T], /, *args: Any) -> T:
    """Run blocking ``work`` (yoyo's migrations, a server start) on a worker thread."""
    return await asyncio.to_thread(work, *args)


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
