"""The ``aura-db`` command: ``main(argv) -> exit code``; 0 ok, 1 error (one line), 2 bad usage."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import sys
from collections.abc import Callable, Sequence

from . import cli_migrations, cli_ops
from .check import check_queries
from .config import Config
from .database import Database
from .errors import AuraError
from .queries import load_queries
from .repositories.rag_search import SUPPORTED_DIMS, index_name

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


def cmd_calibrate_search(args: argparse.Namespace, out: Callable[[str], None]) -> int:
    with Database(_config(args)) as db:
        repo = db.rag_chunks
        if args.recall_target is not None:
            repo.tuning = dataclasses.replace(repo.tuning, recall_target=args.recall_target)
        if args.show:
            done = repo.search_calibrations(args.workspace)
        elif args.workspace:
            done = [repo.calibrate_search(args.workspace)]
        else:
            valid = {i.name for i in repo.search_indexes() if i.valid}
            done = [c for dims in SUPPORTED_DIMS if index_name(dims) in valid
                    for c in repo.calibrate_workspaces(dims)]
    for c in done:
        measured = (f"recall@10 {c.recall:.3f} on {c.queries} queries, target {c.recall_target:g}, "
                    f"{c.chunks:,} chunks, {c.changed_chunks:,} changed since "
                    f"{c.calibrated_at:%Y-%m-%d %H:%M}")
        route = f"hnsw ef_search {c.ef_search}" if c.ef_search else "exact (no ef_search met the target)"
        out(f"{c.workspace_id} {c.embedding_dims}-d: {route}; {measured}")
    out(f"{len(done)} calibration(s)" + ("" if args.show else " measured"))
    return 0


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

    p = sub.add_parser("calibrate-search", help="measure the HNSW recall of large workspaces and "
                       "record the ef_search (or exact path) their vector searches use")
    p.add_argument("--workspace", metavar="ID", help="only this workspace (default: every workspace "
                   "above the exact-search threshold, for each embedding size with an index)")
    p.add_argument("--recall-target", metavar="X", type=float, help="recall@10 to meet (default 0.95)")
    p.add_argument("--show", action="store_true", help="print the recorded calibrations, measure nothing")
    p.set_defaults(func=cmd_calibrate_search)
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
