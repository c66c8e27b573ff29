"""When aura-db runs work again, and how: a bounded retry policy with jittered backoff.

Only work that cannot have done harm is retried: a read, an idempotent write (a natural-key
upsert, a replace), or a transaction the server rolled back (serialization failure, deadlock,
a connection lost before COMMIT). A write whose outcome is unknown is never retried.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import AuraError, CommitOutcomeUnknown, ConnectionLost, LockTimeout, TransactionConflict

__all__ = ["RetryPolicy", "retryable"]



def retryable(exc: AuraError, *, wrote: bool) -> bool:
    """Whether work that failed with ``exc`` may simply run again. ``wrote``: the work writes
    and is not idempotent, so only a failure that rolled it back for certain qualifies."""
    if isinstance(exc, TransactionConflict | LockTimeout):
        return True  # the server rolled the statement (or transaction) back
    if wrote:  # only a write rolled back with the call's own transaction (transaction pooler)
        return isinstance(exc, ConnectionLost) and exc.rolled_back and exc.retryable
    return isinstance(exc, ConnectionLost) and not isinstance(exc, CommitOutcomeUnknown) and exc.retryable


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """``attempts`` tries at most, ``backoff`` seconds before the second (doubled after each,
    capped at ``max_backoff``, drawn from [pause/2, pause]), all within ``deadline`` seconds."""

    attempts: int = 3
    backoff: float = 0.05
    max_backoff: float = 1.0
    deadline: float = 10.0
