"""The search and query subcommands of ``aura-db``: check (every named query against the
database) and calibrate-search (the measured HNSW recall behind each workspace's route)."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from ..database import Database
from ..ops.check import check_queries
from ..queries import load_queries
from ..repositories.rag_search import SUPPORTED_DIMS, index_name
from .common import Out, adder, config_of, progress_arg, progress_of

__all__ = ["register"]


def cmd_check(args: argparse.Namespace, out: Out) -> int:
    catalog = load_queries()
    with Database(config_of(args)) as db, db.connection() as conn:
        conn.autocommit = True
        problems = check_queries(conn, catalog)
    for p in problems:
        out(str(p))
    out(f"{len(catalog)} named queries checked, {len(problems)} problem(s)")
    return 1 if problems else 0


def cmd_calibrate_search(args: argparse.Namespace, out: Out) -> int:
    with Database(config_of(args)) as db:
        repo = db.rag_chunks
        if args.recall_target is not None:
            repo.tuning = dataclasses.replace(repo.tuning, recall_target=args.recall_target)
        if args.show:
            done = repo.search_calibrations(args.workspace)
        elif args.workspace:
            done = [repo.calibrate_search(args.workspace, progress=progress_of(args))]
        else:
            valid = {i.name for i in repo.search_indexes() if i.valid}
            done = [c for dims in SUPPORTED_DIMS if index_name(dims) in valid
                    for c in repo.calibrate_workspaces(dims, progress=progress_of(args))]
    for c in done:
        measured = (f"recall@10 {c.recall:.3f} on {c.queries} queries, target {c.recall_target:g}, "
                    f"{c.chunks:,} chunks, {c.changed_chunks:,} changed since "
                    f"{c.calibrated_at:%Y-%m-%d %H:%M}")
        route = (f"hnsw ef_search {c.ef_search}" if c.ef_search else
                 "exact (no faster ef_search met the target)")
        if c.exact_below is not None:
            route += f", exact below {c.exact_below:,} candidates"
        out(f"{c.workspace_id} {c.embedding_dims}-d: {route}; {measured}")
    out(f"{len(done)} calibration(s)" + ("" if args.show else " measured"))
    return 0


def register(sub: Any) -> None:
    """Add check and calibrate-search to the ``aura-db`` subparsers."""
    add = adder(sub)
    p = add("check", "prepare every named query against the database")
    p.set_defaults(func=cmd_check)

    p = add("calibrate-search", "measure the HNSW recall of large workspaces and record the "
            "ef_search (or exact path) their vector searches use")
    p.add_argument("--workspace", metavar="ID", help="only this workspace (default: every workspace "
                   "above calibrate_from, 1,000 chunks, for each embedding size with an index)")
    p.add_argument("--recall-target", metavar="X", type=float, help="recall@10 to meet (default 0.95)")
    p.add_argument("--show", action="store_true", help="print the recorded calibrations, measure nothing")
    progress_arg(p)
    p.set_defaults(func=cmd_calibrate_search)
