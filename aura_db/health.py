"""A snapshot of a Database's server, pool and replicas (``db.health()``)."""

from __future__ import annotations

from dataclasses import dataclass

from .replicas import ReplicaStatus

__all__ = ["Health"]


@dataclass(frozen=True, slots=True)
class Health:
    """A snapshot of the server and the pool."""

    server: str  # masked URL or embedded data directory
    server_version: str
    pgvector_version: str | None  # None when the extension is not installed in this database
    pool: dict[str, int]
    pending_migrations: int
    replicas: tuple[ReplicaStatus, ...] = ()

    def lines(self) -> list[str]:
        """Human-readable ``key: value`` lines, as the CLI prints them."""
        pool = ", ".join(f"{k}={v}" for k, v in sorted(self.pool.items()))
        return [
            f"server: {self.server}",
            f"postgresql: {self.server_version}",
            f"pgvector: {self.pgvector_version or 'not installed (run aura-db migrate)'}",
            f"pending migrations: {self.pending_migrations}",
            f"pool: {pool}",
            *(f"replica {r.server}: " + (f"in rotation (lag {r.lag or 0:.1f}s, {r.reads} reads)"
                                         if r.in_rotation else f"out of rotation: {r.reason}")
              for r in self.replicas),
        ]
