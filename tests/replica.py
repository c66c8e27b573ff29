"""A real streaming replica of the test server, made on this machine with ``pg_basebackup`` from
the embedded server's own binaries: the harness of tests/test_replicas.py and of the replicated
run (``AURA_TEST_REPLICA=1``, see tests/fix_db.py).

The replica has a data directory and a Unix socket directory of its own (no TCP port), streams
from the primary over the primary's socket (``primary_conninfo`` written by ``pg_basebackup
-R``) and serves hot-standby reads; every database of the primary, a test's throwaway one
included, is on it. PostgreSQL refuses to run as root: started as root, everything runs as the
user that owns the primary's socket directory (the embedded server's ``pgserver``).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo


def _server_user(host: str) -> pwd.struct_passwd | None:
    """Whom the replica runs as: the current user, or (as root) the primary socket's owner."""
    if os.geteuid() != 0:
        return None
    owner = pwd.getpwuid(Path(host).stat().st_uid)
    if owner.pw_uid == 0:
        raise RuntimeError(f"the primary's socket directory {host} is root's: run the tests as a user")
    return owner


@dataclass
class Replica:
    """A running (or stopped) streaming replica; :meth:`url` turns a primary URL into it."""

    workdir: Path
    bin_dir: Path
    user: pwd.struct_passwd | None
    primary_admin_url: str = ""
    slot: str = ""  # its physical replication slot on the primary: WAL is kept until it streamed it

    @property
    def data_dir(self) -> Path:
        return self.workdir / "data"

    @property
    def socket_dir(self) -> Path:
        return self.workdir / "socket"

    def url(self, primary_url: str) -> str:
        """``primary_url`` (any database and role) on the replica."""
        return make_conninfo(primary_url, host=str(self.socket_dir), port=None, hostaddr=None)

    def _run(self, tool: str, *args: str, timeout: float = 60) -> None:
        done = subprocess.run([str(self.bin_dir / tool), *args], cwd=self.workdir, capture_output=True,
                              text=True, timeout=timeout, check=False,
                              user=self.user.pw_uid if self.user else None,
                              group=self.user.pw_gid if self.user else None)
        if done.returncode != 0:
            raise RuntimeError(f"{tool} {' '.join(args)} failed: {done.stderr[-2000:]}{self.log()[-2000:]}")

    def log(self) -> str:
        path = self.workdir / "replica.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data_dir), "-w", "-t", "60", "-l", str(self.workdir / "replica.log"),
                  "-o", f"-h '' -k {self.socket_dir}", "start")

    def stop(self, mode: str = "fast") -> None:
        """``mode``: ``fast`` (clean), or ``immediate`` (as if killed: no shutdown checkpoint)."""
        if (self.data_dir / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data_dir), "-w", "-m", mode, "stop")

    def promote(self) -> None:
        self._run("pg_ctl", "-D", str(self.data_dir), "-w", "promote")

    def superuser(self, primary_admin_url: str) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(self.url(primary_admin_url), autocommit=True, connect_timeout=5)

    def wait_replayed(self, primary_admin_url: str, timeout: float = 30) -> None:
        """Until the replica has replayed everything the primary has written now."""
        with psycopg.connect(primary_admin_url, autocommit=True) as primary:
            row = primary.execute("SELECT pg_current_wal_insert_lsn() - '0/0'::pg_lsn").fetchone()
        assert row is not None
        deadline = time.monotonic() + timeout
        with self.superuser(primary_admin_url) as conn:
            while time.monotonic() < deadline:
                done = conn.execute("SELECT pg_last_wal_replay_lsn() - '0/0'::pg_lsn").fetchone()
                if done is not None and done[0] is not None and done[0] >= row[0]:
                    return
                time.sleep(0.01)
        raise RuntimeError(f"the replica did not catch up within {timeout}s: {self.log()[-2000:]}")

    def remove(self) -> None:
        """Stop it, delete it, and drop its slot (else the primary keeps WAL for it forever)."""
        try:
            self.stop("immediate")
        finally:
            shutil.rmtree(self.workdir, ignore_errors=True)
            if self.slot:
                with psycopg.connect(self.primary_admin_url, autocommit=True) as primary:
                    primary.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                                    "WHERE slot_name = %s", (self.slot,))


def make(primary_admin_url: str, bin_dir: Path) -> Replica:
    """Base-back-up the primary at ``primary_admin_url`` (a superuser on a local socket) into a
    new replica and start it; it streams from the primary until removed."""
    host = str(conninfo_to_dict(primary_admin_url).get("host") or "")
    if not host.startswith("/"):
        raise RuntimeError(f"a local replica needs a primary on a Unix socket, not {host!r}")
    user = _server_user(host)
    workdir = Path(tempfile.mkdtemp(prefix="aura-replica-"))
    (workdir / "socket").mkdir(mode=0o700)
    if user is not None:
        for path in (workdir, workdir / "socket"):
            os.chown(path, user.pw_uid, user.pw_gid)
    # A physical slot (-C -S, and primary_slot_name through -R): a replica that was stopped,
    # frozen or slow still finds every WAL segment it has not streamed yet, however many
    # checkpoints the primary made meanwhile (without one, a test run lost the replica to
    # "requested WAL segment ... has already been removed").
    replica = Replica(workdir, bin_dir, user, primary_admin_url, f"aura_test_{workdir.name[-8:].lower()}")
    replica.slot = "".join(c if c.isalnum() else "_" for c in replica.slot)
    try:
        replica._run("pg_basebackup", "-d", primary_admin_url, "-D", str(replica.data_dir), "-X", "stream",
                     "-C", "-S", replica.slot, "-R", "-c", "fast", "--no-sync", timeout=300)
        with (replica.data_dir / "postgresql.auto.conf").open("a") as conf:
            conf.write("hot_standby_feedback = on\nwal_receiver_status_interval = 1s\n")
        replica.start()
    except BaseException:
        replica.remove()
        raise
    return replica
