"""The ``aura-db`` command: ``main(argv) -> exit code``; 0 ok, 1 error (one line), 2 bad usage."""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Callable, Sequence

from . import cli_migrations, cli_ops
from .check import check_queries
from .config import Config
from .database import Database
from .errors import AuraError
from .queries import load_queries

__all__ = ["main"]

logger = logging.getLogger("aura_db")


def _config(args: argparse.Namespace) -> Config:
    return Config.from_env(**({"url": args.url} if args.url else {}))


def cmd_health(args: argparse.Namespace, out: Callable[[str], None]) -> int:
    with Database(_config(args)) as db:
        for line in db.health().lines():
            out(line)
    return 0


def cmd_check(args: argparse.Namespace, out: Callable[[str], None]) -> int:
    catalog = load_queries()
    with Database(_config(args)) as db, db.connection() as conn:
        conn.autocommit = True
        problems = check_queries(conn, catalog)
    for p in problems:
        out(str(p))
    out(f"{len(catalog)} named queries checked, {len(problems)} problem(s)")
    return 1 if problems else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aura-db",
        description="aura-db: Aura's PostgreSQL data layer. Without --url or AURA_DATABASE_URL "
        "it uses the embedded PostgreSQL server.",
    )
    parser.add_argument("--url", help="database URL (default: $AURA_DATABASE_URL, "
                        "$DATABASE_URL, else the embedded server)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    parser.add_argument("--migrations-dir", metavar="DIR",
                        help="root of the migration modules (default: the shipped migrations/)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("health", help="server, pgvector and pool status")
    p.set_defaults(func=cmd_health)

    cli_migrations.register(sub)
    cli_ops.register(sub)

    p = sub.add_parser("check", help="prepare every named query against the database")
    p.set_defaults(func=cmd_check)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code instead of exiting (tests call it in-process)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or bad usage (2)
        return int(exc.code or 0)
    if args.verbose:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args, print))
    except AuraError as exc:
        print(f"aura-db: error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # last resort: one line, password masked, no traceback
        text = " ".join(str(exc).split())
        with contextlib.suppress(AuraError):
            text = _config(args).redact(text)
        print(f"aura-db: error: {type(exc).__name__}: {text}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
