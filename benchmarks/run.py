"""Run the workloads on a bench and collect the report."""

from __future__ import annotations

import logging
import os
import platform
import subprocess
import time
from collections.abc import Sequence
from datetime import datetime
from importlib.metadata import version
from pathlib import Path

import psycopg

from .env import Bench, database, server
from .report import Report
from .sizes import Size
from .workloads import WORKLOADS

__all__ = ["run", "run_on"]

logger = logging.getLogger(__name__)


def run(admin_url: str | None, size: Size, only: Sequence[str] = ()) -> Report:
    """Start a throwaway embedded server (or use the server at ``admin_url``), create and
    migrate a database, run the workloads, drop everything again."""
    with server(admin_url) as (admin, settings), database(admin) as url:
        report = run_on(url, size, only)
    report.settings = settings
    return report


def run_on(url: str, size: Size, only: Sequence[str] = ()) -> Report:
    """Run the workloads (all, or those named in ``only``) on the migrated database at ``url``."""
    unknown = sorted(set(only) - set(WORKLOADS))
    if unknown:
        raise ValueError(f"unknown workload(s) {', '.join(unknown)} (known: {', '.join(WORKLOADS)})")
    started, began = datetime.now().astimezone(), time.perf_counter()
    cases = []
    with Bench.open(url, size) as bench:
        for name, workload in WORKLOADS.items():
            if only and name not in only:
                continue
            logger.info("workload %s (%s)", name, size.name)
            t0 = time.perf_counter()
            cases += workload(bench)
            logger.info("workload %s done in %.1f s", name, time.perf_counter() - t0)
        machine = machine_info(bench)
    report = Report(size.name, started, time.perf_counter() - began, machine, {}, cases)
    report.notes = _notes()
    return report


def machine_info(bench: Bench) -> dict[str, str]:
    """CPU, OS and the version of everything measured."""
    with bench.pool.connection() as conn:
        row = conn.execute("SELECT current_setting('server_version'), "
                           "(SELECT extversion FROM pg_extension WHERE extname = 'vector'), "
                           "current_setting('shared_buffers'), current_setting('synchronous_commit')"
                           ).fetchone()
    assert row is not None
    return {
        "CPU": f"{os.cpu_count()} logical CPUs, {platform.processor() or platform.machine()}",
        "OS": platform.platform(),
        "Python": platform.python_version(),
        "psycopg": f"{psycopg.__version__} (libpq {psycopg.pq.version()}, {psycopg.pq.__impl__})",
        "psycopg_pool": version("psycopg-pool"),
        "PostgreSQL": f"{row[0]} (shared_buffers {row[2]}, synchronous_commit {row[3]})",
        "pgvector": f"{row[1]} (Python package {version('pgvector')})",
        "SQLAlchemy": version("sqlalchemy"),
        "aiosql": version("aiosql"),
        "asyncpg": version("asyncpg"),
        "aura-db": f"{version('aura-db')} at {_commit()}",
    }


def _commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             cwd=Path(__file__).parent, timeout=10, check=False)
    except OSError:
        return "unknown commit"
    return out.stdout.strip() or "unknown commit"


def _notes() -> list[str]:
    return [
        "Contenders: aura-db's repositories; raw psycopg 3 with the same SQL written by hand "
        "(benchmarks/raw_sql.py); SQLAlchemy 2.0 ORM over psycopg 3 with models mapped onto aura-db's "
        "tables (benchmarks/orm.py); aiosql over psycopg 3 loading the same SQL in its `:name` dialect "
        "(benchmarks/sql/peers.sql). All check they return the same answers before they are timed.",
        "Pools: aura-db's Database (psycopg_pool; a checkout round trip only when a connection sat "
        "idle, else libpq reads what the server sent, RESET only after raw access, returns inline), "
        "a plain psycopg_pool.ConnectionPool shared by raw psycopg and aiosql, SQLAlchemy's QueuePool; "
        "8 connections each, all opened before timing.",
        "Samples: per call for calls, pages and queries; per batch (time / rows) for ingest; per run "
        "(wall time / operations) for concurrency. p50 = median, IQR = p75 - p25.",
        "The machine is shared with other jobs: absolute times are noisy, ratios within one case "
        "much less so (interleaved).",
    ]
