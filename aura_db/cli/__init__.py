"""The ``aura-db`` command: ``main(argv) -> exit code``; 0 ok, 1 error (one line), 2 bad usage."""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version

import psycopg

from ..config import describe_server, mask_dsn
from ..database import Database
from ..errors import AuraError, ConfigError, ServerUnavailable
from . import access as cli_access
from . import common as cli_common
from . import migrations as cli_migrations
from . import ops as cli_ops
from . import search as cli_search
from .common import Out, config_of
from .env import apply_env, reference

__all__ = ["cli_reference", "main"]

logger = logging.getLogger("aura_db")


def cmd_wait(args: argparse.Namespace, out: Out) -> int:
    args.wait = args.timeout
    _, url = cli_common.database_url(args)
    out(f"PostgreSQL at {describe_server(url)} accepts connections")
    return 0


def cmd_health(args: argparse.Namespace, out: Out) -> int:
    config, url = cli_common.database_url(args)
    try:  # one bounded probe first: an unreachable server is one line, not a pool's retries
        psycopg.connect(url, connect_timeout=max(1, round(config.connect_timeout))).close()
    except psycopg.Error as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise ServerUnavailable(f"could not connect to PostgreSQL at {describe_server(url)} within "
                                f"{config.connect_timeout:g}s: {reason}") from None
    with Database(config) as db:
        health = db.health()
    if args.json:
        cli_common.emit_json(out, health)
    else:
        for line in health.lines():
            out(line)
    return 0




def _version() -> str:
    try:
        return version("aura-db")
    except PackageNotFoundError:  # pragma: no cover - running from a tree that is not installed
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aura-db",
        description="aura-db: Aura's PostgreSQL data layer. Without --url or AURA_DATABASE_URL "
        "it uses the embedded PostgreSQL server.",
    )
    parser.add_argument("--url", help="database URL (default: $AURA_DATABASE_URL, "
                        "$DATABASE_URL, else the embedded server; a password here shows in the "
                        "process list: prefer the environment, --url-file or ~/.pgpass)")
    parser.add_argument("--url-file", metavar="FILE", help="read the database URL from FILE")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="print only errors and the data asked for (JSON, a plan)")
    parser.add_argument("--version", action="version", version=f"aura-db {_version()}")
    parser.add_argument("--migrations-dir", metavar="DIR",
                        help="root of the migration modules (default: the shipped migrations/)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = cli_common.adder(sub)("health", "server, pgvector and pool status")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    cli_common.wait_arg(p)
    p.set_defaults(func=cmd_health)

    p = cli_common.adder(sub)("wait", "wait (retrying with backoff) until the server accepts "
                                          "connections; exit 1 when it does not in time")
    p.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS",
                   help="how long to wait (default 60)")
    p.set_defaults(func=cmd_wait)

    cli_migrations.register(sub)
    cli_ops.register(sub)
    cli_access.register(sub)

    cli_search.register(sub)
    apply_env(parser)
    return parser


def cli_reference() -> str:
    """The README's reference of every command, option, variable and exit code (markdown)."""
    return reference(build_parser())


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code instead of exiting (tests call it in-process)."""
    try:
        parser = build_parser()
    except ConfigError as exc:  # an AURA_* variable an option cannot take
        print(f"aura-db: error: {exc}", file=sys.stderr)
        return 2
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or bad usage (2)
        return int(exc.code or 0)
    if args.verbose and args.quiet:
        print("aura-db: error: -v/--verbose and -q/--quiet exclude each other", file=sys.stderr)
        return 2
    if args.verbose:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    package_logger = logging.getLogger("aura_db")
    level = package_logger.level
    if args.quiet and not args.verbose:
        package_logger.setLevel(logging.ERROR)  # for this command only (main runs in-process too)
    try:
        return int(args.func(args, Out(quiet=args.quiet)))
    except AuraError as exc:
        print(f"aura-db: error: {_redacted(args, str(exc))}", file=sys.stderr)
        return 1
    except Exception as exc:  # last resort: one line, password masked, no traceback
        text = _redacted(args, " ".join(str(exc).split()))
        print(f"aura-db: error: {type(exc).__name__}: {text}", file=sys.stderr)
        return 1
    finally:
        package_logger.setLevel(level)


def _redacted(args: argparse.Namespace, text: str) -> str:
    """``text`` without the configured URL's password or sslpassword (errors may echo it)."""
    with contextlib.suppress(AuraError):
        text = config_of(args, warn=False).redact(text)
    return mask_dsn(text)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
