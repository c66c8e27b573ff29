"""Streaming read replicas: where reads that tolerate staleness run, and when a replica may
serve them.

A Database given replicas (``Config.replicas``, ``AURA_REPLICA_URLS``) keeps one pool per
replica and sends each repository read made outside a transaction (a get, a list, a count, a
search; see ``aura_db.repositories.base.ROUTE``) to the next replica in rotation; writes,
transactions, raw connections, migrations and health checks go to the primary.

- **Read-your-writes.** After this Database committed something, the next replica read waits
  until the replica has replayed the primary's WAL position taken after that commit (asked
  once per batch of commits: one round trip to the primary), polling for at most
  ``replica_wait`` seconds; a replica still behind then is skipped and the read runs on the
  primary. A commit made by another process is seen once the replica replays it (within
  ``replica_max_lag``).
- **Rotation.** Every replica's role and lag are checked (one round trip) at most every
  ``min(1, replica_max_lag / 2)`` seconds, when a read is about to use it. A replica that does
  not answer, lost a connection during a read, lags more than ``replica_max_lag`` seconds, or
  was promoted (no longer in recovery) leaves the rotation for ``replica_retry`` seconds and is
  checked again when that time is up. A read whose replica broke under it (connection lost,
  or no answer within ``call_deadline``: a frozen replica) raises :class:`ReplicaLost`, which
  the retry policy runs again — on another replica or the primary — so a killed or frozen
  replica costs time, never a failed read (unless retries are off).
- Lag is how long WAL the replica had received at an earlier check has stayed unreplayed (zero
  when it has replayed all it received, or everything it had received at the last check). It is
  measured on this side, so a primary that was idle for an hour does not make a replica look an
  hour behind, and a replica whose replay stopped is seen lagging even when nothing new comes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import LiteralString

__all__ = ["BORROW_WAIT", "POLL", "REPLAYED", "REPLAY_TARGET", "STATE", "ReplicaStatus"]

# The primary's WAL insert position now: past the end of every commit acknowledged before it
# (the write position can be behind one with synchronous_commit off)
REPLAY_TARGET: LiteralString = "SELECT pg_current_wal_insert_lsn() - '0/0'::pg_lsn"
STATE: LiteralString = (
    "SELECT pg_is_in_recovery(), coalesce(pg_last_wal_replay_lsn() - '0/0'::pg_lsn, 0), "
    "coalesce(pg_last_wal_receive_lsn() - '0/0'::pg_lsn, 0)")
REPLAYED: LiteralString = "SELECT coalesce(pg_last_wal_replay_lsn() - '0/0'::pg_lsn, 0)"
BORROW_WAIT = 1.0  # seconds a read waits for a replica's connection before it reads elsewhere
POLL = 0.002  # first pause while waiting for replay (doubled up to 0.02 s)


@dataclass(frozen=True, slots=True)
class ReplicaStatus:
    """One replica as the Database sees it."""

    server: str  # host:port/dbname (never the password)
    in_rotation: bool
    reason: str | None  # why it is out of rotation
    lag: float | None  # seconds, at the last check (None: never checked)
    reads: int  # reads it served
