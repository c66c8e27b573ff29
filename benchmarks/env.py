"""The bench: one database, and every contender's way into it.

``server()`` starts a throwaway embedded PostgreSQL (or uses ``--url``) and yields the URL of a
fresh, migrated database; ``Bench`` opens aura-db's ``Database``, a plain psycopg pool of the
same size (raw psycopg and aiosql share it), and a SQLAlchemy engine with its own pool.
``MachineryOff`` is aura-db with its retries and deadline taken out, the reference that shows
what they cost.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import aiosql
import psycopg
from pgvector.psycopg import register_vector
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import ConnectionPool
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine

import aura_db.pool_sync
from aura_db import Config, Database
from aura_db.migrations import migrate
from aura_db.retry import RetryPolicy

from .rag import default_ef_search
from .sizes import Size

__all__ = ["POOL_SIZE", "Bench", "MachineryOff", "database", "server"]

POOL_SIZE = 8  # every pool: the most threads workload 7 runs
_PEERS_SQL = Path(__file__).parent / "sql" / "peers.sql"


@contextmanager
def server(url: str | None) -> Iterator[tuple[str, dict[str, str]]]:
    """An admin URL and the server settings changed for the run: ``url`` as given, else a
    throwaway embedded server (deleted afterwards) tuned for a benchmark, not for safety."""
    if url is not None:
        yield url, {}
        return
    from aura_db.embedded import start_server

    root = Path(tempfile.mkdtemp(prefix="aura-bench-"))
    handle = start_server(root / "pgdata", cleanup_mode="delete")
    try:
        admin = handle.get_uri()
        settings = _tune(admin)
        handle.stop()  # shared_buffers takes a restart
        handle.start()
        yield admin, settings
    finally:
        handle.cleanup()
        shutil.rmtree(root, ignore_errors=True)


def _tune(admin_url: str) -> dict[str, str]:
    # A commit waits for no disk flush (the WAL is still written): the benchmark measures the
    # data layers, not this machine's fsync latency, which would drown them on a shared disk.
    # Shared buffers that hold every table and index a run reads (the largest, 100k x 768
    # chunks, is ~0.9 GB with its HNSW index; 25% of this 23 GB machine would be more): with
    # the default 128 MB, whichever contender ran first after another one's table scan read
    # the shared index back from the OS page cache, and the next one found it warm. The
    # rotation put aura-db before the bare statement it is compared with in most rounds:
    # 2.55x it on the realistic data's largest workspace beside the peers, 1.1-1.2x alone.
    settings = {"synchronous_commit": "off", "maintenance_work_mem": "1GB", "shared_buffers": "2GB"}
    with psycopg.connect(admin_url, autocommit=True) as conn:
        for name, value in settings.items():
            conn.execute(sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(name), sql.Literal(value)))
        conn.execute("SELECT pg_reload_conf()")
    return settings


@contextmanager
def database(admin_url: str) -> Iterator[str]:
    """A new database on the server, migrated to the newest schema, dropped afterwards."""
    name = f"aura_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = make_conninfo(admin_url, dbname=name)
    try:
        migrate(url)
        yield url
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _prewarm(engine: Engine) -> None:
    """Open the engine's connections now, so that no contender pays for a connect."""
    conns = [engine.connect() for _ in range(POOL_SIZE)]
    for conn in conns:
        conn.close()


@dataclass
class Bench:
    """Every contender's handle on the same database, opened with the same pool size."""

    url: str
    size: Size
    db: Database
    pool: ConnectionPool[psycopg.Connection[Any]]
    engine: Engine
    aq: Any  # aiosql's Queries

    @classmethod
    @contextmanager
    def open(cls, url: str, size: Size) -> Iterator[Bench]:
        db = Database(Config(url=url, min_size=POOL_SIZE, max_size=POOL_SIZE, connect_timeout=30))
        # The peers search as wide as aura-db does by default, set once per session.
        options = f"-c hnsw.ef_search={default_ef_search()}"
        pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            url, min_size=POOL_SIZE, max_size=POOL_SIZE, configure=register_vector, open=False,
            kwargs={"options": options})
        pool.open(wait=True, timeout=30)
        engine = create_engine("postgresql+psycopg://",
                               creator=lambda: psycopg.connect(url, options=options),
                               pool_size=POOL_SIZE, max_overflow=0)
        _prewarm(engine)
        try:
            yield cls(url, size, db, pool, engine, aiosql.from_path(_PEERS_SQL, "psycopg"))
        finally:
            engine.dispose()
            pool.close()
            db.close()

    @property
    def dbname(self) -> str:
        return str(conninfo_to_dict(self.url).get("dbname", ""))


class MachineryOff(Database):
    """aura-db with its failure machinery off, to measure what that costs (a benchmark
    reference, not a way to run aura-db): ``retry_attempts=1`` and no retry policy on the
    repositories (the ``reads``/``writes`` decorators call the method straight away),
    ``call_deadline=0`` and plain ``psycopg.Connection`` s, whose ``wait()`` is psycopg's own."""

    def __init__(self, config: Config, *, name: str = "machinery-off") -> None:
        config = dataclasses.replace(config, retry_attempts=1, call_deadline=0)
        # the pool takes its connection class from aura_db.pool_sync when it is built
        with mock.patch.object(aura_db.pool_sync, "AuraConnection", psycopg.Connection):
            super().__init__(config, name=name)

    def _retry_policy(self) -> RetryPolicy | None:
        return None
