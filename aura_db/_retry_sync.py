# WARNING: generated from _retry_async.py by tools/async_to_sync.py: do not edit.
# Change the async source and run `python tools/async_to_sync.py`.
"""The retry loop of :class:`~aura_db.retry.RetryPolicy`, for coroutines and (generated) for
functions."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

from ._compat_sync import sleep
from .errors import AuraError
from .retry import RetryPolicy, retryable

__all__ = ["retrying"]

logger = logging.getLogger("aura_db.retry")
T = TypeVar("T")


def retrying(policy: RetryPolicy,
             work: Callable[..., T],
             args: tuple[Any, ...], kwargs: dict[str, Any], *, wrote: bool, what: str) -> T:
    """``work(*args, **kwargs)``, run again while it fails with an error :func:`retryable`
    accepts and attempts and time remain (counted from the first failure, so a call that
    succeeds pays nothing); the last error is raised."""
    first_failure: float | None = None
    pause = policy.backoff
    attempt = 1
    while True:
        try:
            return work(*args, **kwargs)
        except AuraError as exc:
            if attempt >= policy.attempts or not retryable(exc, wrote=wrote):
                raise
            now = time.monotonic()
            first_failure = now if first_failure is None else first_failure
            wait = random.uniform(pause / 2, pause)
            if now - first_failure + wait > policy.deadline:
                raise
            attempt += 1
            logger.info("%s: retrying (attempt %d of %d) after %s", what, attempt, policy.attempts, exc)
        sleep(wait)
        pause = min(pause * 2, policy.max_backoff)
