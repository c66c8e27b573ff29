"""The session limits of a migration run, from ``AURA_MIGRATION_*`` or arguments."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError

__all__ = ["ENV_VARS", "MigrationSettings"]

# env var -> MigrationSettings field
ENV_VARS = {
    "AURA_MIGRATION_LOCK_WAIT": "lock_wait",
    "AURA_MIGRATION_LOCK_TIMEOUT": "lock_timeout",
    "AURA_MIGRATION_STATEMENT_TIMEOUT": "statement_timeout",
    "AURA_MIGRATION_RETRIES": "retries",
}


@dataclass(frozen=True, kw_only=True)
class MigrationSettings:
    """Session limits for migration runs (seconds)."""

    lock_wait: float = 60.0  # how long to wait for another run's migration lock
    lock_timeout: float = 5.0  # per-statement wait for a table lock (SET lock_timeout)
    statement_timeout: float = 600.0  # per-statement runtime limit (0 = none)
    retries: int = 3  # tries per migration when its lock_timeout expires
    retry_backoff: float = 1.0  # first pause between tries, doubled each time
    application_name: str = "aura-db migrate"

    def __post_init__(self) -> None:
        for name in ("lock_wait", "lock_timeout", "statement_timeout", "retry_backoff"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0 seconds, got {getattr(self, name)!r}")
        if self.retries < 1:
            raise ConfigError(f"retries must be >= 1, got {self.retries!r}")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> MigrationSettings:
        """Settings from ``AURA_MIGRATION_*`` (see ``ENV_VARS``); non-None keywords win."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for var, field in ENV_VARS.items():
            if env.get(var):
                cast = int if field == "retries" else float
                try:
                    values[field] = cast(env[var])
                except ValueError:
                    raise ConfigError(f"{var} must be a number, got {env[var]!r}") from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def session_options(self) -> str:
        return (f"-c lock_timeout={int(self.lock_timeout * 1000)} "
                f"-c statement_timeout={int(self.statement_timeout * 1000)}")
