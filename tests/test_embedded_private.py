"""The embedded server is private: whatever the data directory's length, its socket sits in a
directory only the server's OS user can enter, the socket itself is 0700, there is no TCP
listener, and another local user cannot connect (tried as ``nobody`` when the suite is root)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from aura_db.embedded import start_server


@pytest.mark.parametrize("length", [40, 150], ids=["short-path", "150-char-path"])
def test_the_socket_is_private_at_any_data_dir_length(length: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="aura-private-"))
    try:
        pgdata = root / ("d" * max(1, length - len(str(root)) - len("/pgdata") - 1)) / "pgdata"
        pgdata.parent.mkdir()
        assert len(str(pgdata)) >= length - 1
        server = start_server(pgdata, cleanup_mode="delete")
        try:
            url = server.get_uri()
            socket_dir = Path(str(conninfo_to_dict(url)["host"]))
            assert stat.S_IMODE(socket_dir.stat().st_mode) & 0o077 == 0, oct(socket_dir.stat().st_mode)
            with psycopg.connect(url) as conn:
                settings = dict(conn.execute(
                    "SELECT name, setting FROM pg_settings WHERE name IN "
                    "('unix_socket_permissions', 'listen_addresses')").fetchall())
            assert settings == {"unix_socket_permissions": "0700", "listen_addresses": ""}
            if length > 100:
                assert not str(socket_dir).startswith(str(pgdata))  # the long-path case was exercised
            if os.geteuid() == 0 and shutil.which("runuser"):
                psql = Path(server.bin_path) / "psql"
                tried = subprocess.run(
                    ["runuser", "-u", "nobody", "--", str(psql), "-h", str(socket_dir), "-U", "postgres",
                     "-d", "postgres", "-Atc", "SELECT 1"],
                    capture_output=True, text=True, timeout=30, cwd="/")
                assert tried.returncode != 0, tried.stdout
                assert "Permission denied" in tried.stderr, tried.stderr
        finally:
            server.cleanup()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_no_parent_directory_is_opened_to_others() -> None:
    """pgserver, started as root, would chmod every parent of the data directory o+rx (``/root``
    becomes 0755); aura-db gives the server's user an ACL entry to traverse instead, and no mode
    changes. Another user still cannot enter the private parent."""
    root = Path(tempfile.mkdtemp(prefix="aura-parents-"))
    try:
        private = root / "private"
        (private / "deeper").mkdir(parents=True)
        for directory in (root, private, private / "deeper"):
            directory.chmod(0o700)
        before = {d: d.stat().st_mode for d in (root, private, private / "deeper")}
        server = start_server(private / "deeper" / "pgdata", cleanup_mode="delete")
        try:
            with psycopg.connect(server.get_uri()) as conn:
                assert conn.execute("SELECT 1").fetchone() == (1,)
            after = {d: d.stat().st_mode for d in before}
            # the group bits of a directory with an ACL show its mask: compare owner and others
            assert {d: m & 0o7707 for d, m in after.items()} == {d: m & 0o7707 for d, m in before.items()}
            if os.geteuid() == 0 and shutil.which("runuser"):
                tried = subprocess.run(["runuser", "-u", "nobody", "--", "ls", str(private / "deeper")],
                                       capture_output=True, text=True, timeout=30, cwd="/")
                assert tried.returncode != 0 and "Permission denied" in tried.stderr, tried
        finally:
            server.cleanup()
    finally:
        shutil.rmtree(root, ignore_errors=True)
