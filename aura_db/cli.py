"""The ``aura-db`` command: ``main(argv) -> exit code``; 0 ok, 1 error (one line), 2 bad usage."""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Callable, Sequence

from . import migrations
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


def cmd_migrate(args: argparse.Namespace, out: Callable[[str], None]) -> int:
    config = _config(args)
    settings = migrations.MigrationSettings(lock_wait=args.lock_wait)
    with Database(config) as db:
        applied = db.migrate(settings)
        for mid in applied:
            out(f"applied {mid}")
        out(f"{len(applied)} migration(s) applied on {config.masked_url()}")
        if args.status:
            _print_status(db.url, out)
    return 0


def cmd_status(args: argparse.Namespace, out: Callable[[str], None]) -> int:
    with Database(_config(args)) as db:
        out(f"database: {db.config.masked_url()}")
        pending = _print_status(db.url, out)
    return 3 if (args.exit_code and pending) else 0


def _print_status(url: str, out: Callable[[str], None]) -> int:
    rows = migrations.status(url)
    for s in rows:
        when = f"applied {s.applied_at:%Y-%m-%d %H:%M:%S}Z" if s.applied_at else "pending"
        out(f"  {s.module:<10} {s.id:<40} {when}")
    pending = sum(1 for s in rows if s.pending)
    out(f"{len(rows) - pending} applied, {pending} pending")
    return pending


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
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("health", help="server, pgvector and pool status")
    p.set_defaults(func=cmd_health)

    p = sub.add_parser("migrate", help="apply every pending migration under a lock")
    p.add_argument("--lock-wait", type=float, default=60.0, metavar="SECONDS",
                   help="how long to wait for another run's lock (default 60)")
    p.add_argument("--status", action="store_true", help="print the status afterwards")
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("status", help="applied and pending migrations (takes no lock)")
    p.add_argument("--exit-code", action="store_true",
                   help="exit 3 when any migration is pending (deploy gates)")
    p.set_defaults(func=cmd_status)

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
