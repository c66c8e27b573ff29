"""``python -m benchmarks.realistic [--dims 768] [--size tiny|small|full] [--vectors tfidf|random]
[--queries 40] [--rounds 5] [--peers all] [--out DIR] [--url URL]``: aura-db's vector search on the standard
library, against its bare statement and exact numpy search (see :mod:`benchmarks.realistic.run`)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from .dataset import DIMS, SIZES
from .peers import PEERS
from .run import run, write

RESULTS = Path(__file__).resolve().parent.parent / "results"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.realistic", description=__doc__)
    parser.add_argument("--dims", type=int, choices=DIMS, default=768)
    parser.add_argument("--size", choices=list(SIZES), default="small",
                        help="tiny: json, email, html, urllib; small: all of Lib/; full: plus a copy of "
                             "everything in one workspace")
    parser.add_argument("--vectors", choices=("tfidf", "random"), default="tfidf",
                        help="the dataset's embeddings, or random unit vectors of the same shape")
    parser.add_argument("--queries", type=int, default=40,
                        help="queries per kind (same / cross) and workspace")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    parser.add_argument("--peers", default="",
                        help=f"comma-separated peers to measure too, or 'all' (of: {', '.join(PEERS)})")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where the report goes")
    parser.add_argument("--url", help="a superuser URL of a server to create the bench database on "
                                      "(default: a throwaway embedded server)")
    args = parser.parse_args(argv)
    peers = list(PEERS) if args.peers == "all" else [p.strip() for p in args.peers.split(",") if p.strip()]
    unknown = sorted(set(peers) - set(PEERS))
    if unknown:
        parser.error(f"unknown peer(s) {', '.join(unknown)} (known: {', '.join(PEERS)})")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    report = run(args.url, size=args.size, dims=args.dims, vectors=args.vectors, max_queries=args.queries,
                 rounds=args.rounds, peers=peers)
    md = write(report, args.out)
    print(f"report: {md}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
