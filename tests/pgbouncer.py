"""A real PgBouncer (Debian's ``pgbouncer`` package) in transaction pooling mode, started in
front of the test server: the harness of tests/test_pooler.py and of the pooled run
(``AURA_TEST_POOLER=pgbouncer``, see tests/fix_db.py).

It listens on a Unix socket in a directory of its own, forwards every database name to the test
server (``* =``), trusts its clients (the server still authenticates PgBouncer with the roles'
passwords from the auth file), and lends few server connections, so that the clients of one
test share backends the way an application's processes would. PgBouncer refuses to run as
root: started as root it runs as the user that owns the server's socket directory (the embedded
server's ``pgserver``), or ``nobody``.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

PORT = 6432  # names the socket file only (.s.PGSQL.6432): no TCP port is opened


def executable() -> str | None:
    """The pgbouncer binary (PATH, then Debian's /usr/sbin), or None."""
    return shutil.which("pgbouncer") or next(
        (p for p in ("/usr/sbin/pgbouncer", "/usr/local/sbin/pgbouncer") if os.access(p, os.X_OK)), None)


@dataclass
class PgBouncer:
    """A running PgBouncer; :meth:`url` turns a server URL into the same one through it."""

    workdir: Path
    process: subprocess.Popen[bytes]

    @property
    def socket_dir(self) -> Path:
        return self.workdir / "socket"

    def url(self, server_url: str) -> str:
        """``server_url`` (any database and role) through PgBouncer."""
        return make_conninfo(server_url, host=str(self.socket_dir), port=str(PORT), hostaddr=None)

    def log(self) -> str:
        path = self.workdir / "pgbouncer.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        """Shut down (SIGINT: at once, closing every connection), then delete its directory."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        shutil.rmtree(self.workdir, ignore_errors=True)


def _run_as(server_url: str) -> pwd.struct_passwd | None:
    """Whom PgBouncer runs as: the current user, or (as root, which it refuses) the owner of
    the server's socket directory, else nobody."""
    if os.geteuid() != 0:
        return None
    host = str(conninfo_to_dict(server_url).get("host") or "")
    if host.startswith("/") and Path(host).exists():
        owner = pwd.getpwuid(Path(host).stat().st_uid)
        if owner.pw_uid != 0:
            return owner
    return pwd.getpwnam("nobody")


def start(server_url: str, passwords: dict[str, str], *, pool_size: int = 3) -> PgBouncer:
    """Start PgBouncer (pool_mode = transaction, ``pool_size`` server connections per database
    and role) in front of the server of ``server_url``; ``passwords``: role -> password for the
    auth file ("" where the server trusts). Raises RuntimeError with its log when it does not
    come up within 10 s."""
    binary = executable()
    if binary is None:
        raise RuntimeError("pgbouncer is not installed (Debian: apt-get install pgbouncer; .ci/run does)")
    params = conninfo_to_dict(server_url)
    workdir = Path(tempfile.mkdtemp(prefix="aura-pgbouncer-"))
    (workdir / "socket").mkdir()
    users = "".join(f'"{role}" "{password}"\n' for role, password in passwords.items())
    (workdir / "users.txt").write_text(users)
    target = f"host={params.get('host') or 'localhost'} port={params.get('port') or 5432}"
    (workdir / "pgbouncer.ini").write_text(f"""\
[databases]
* = {target}

[pgbouncer]
pool_mode = transaction
listen_addr =
listen_port = {PORT}
unix_socket_dir = {workdir / 'socket'}
auth_type = trust
auth_file = {workdir / 'users.txt'}
default_pool_size = {pool_size}
max_client_conn = 500
server_idle_timeout = 10
server_lifetime = 300
logfile = {workdir / 'pgbouncer.log'}
log_connections = 0
log_disconnections = 0
""")
    user = _run_as(server_url)
    if user is not None:
        os.chmod(workdir, 0o700)
        for path in (workdir, *workdir.iterdir()):
            os.chown(path, user.pw_uid, user.pw_gid)
    command = [binary, *(["-u", user.pw_name] if user is not None else []), str(workdir / "pgbouncer.ini")]
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    bouncer = PgBouncer(workdir, process)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            with psycopg.connect(bouncer.url(server_url), connect_timeout=2) as conn:
                conn.execute("SELECT 1")
            return bouncer
        except psycopg.OperationalError:
            time.sleep(0.05)
    log = bouncer.log()
    bouncer.stop()
    raise RuntimeError(f"pgbouncer did not come up: {log[-2000:]}")
