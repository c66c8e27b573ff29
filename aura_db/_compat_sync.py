"""The sync forms of :mod:`._compat_async` (written by hand, not generated)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from threading import Lock
from time import sleep
from typing import Any, TypeVar

__all__ = ["Event", "Lock", "join", "shielded", "sleep", "spawn", "to_thread"]

T = TypeVar("T")


def to_thread(work: Callable[..., T], /, *args: Any) -> T:
    """Run ``work`` here: a sync caller is already on the thread it may block."""
    return work(*args)


def shielded(work: Callable[..., T], /, *args: Any) -> T:
    """``work(*args)``: a sync call runs to its end (nothing cancels it halfway)."""
    return work(*args)


class Event(threading.Event):
    """:class:`threading.Event` with the async flavour's name for a wait that times out."""

    def wait_for(self, timeout: float) -> bool:
        """Whether the event was set within ``timeout`` seconds."""
        return self.wait(timeout)


def spawn(work: Callable[[], None], name: str) -> threading.Thread:
    """Run ``work`` beside the caller, on a daemon thread."""
    thread = threading.Thread(target=work, name=name, daemon=True)
    thread.start()
    return thread


def join(worker: threading.Thread, timeout: float) -> None:
    """Wait up to ``timeout`` seconds for a spawned worker to finish (a daemon: left behind
    after that)."""
    worker.join(timeout)
