"""``python -m benchmarks [--size tiny|small|medium|full] [--only a,b] [--out DIR] [--url URL]``."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from .report import load, write
from .run import run
from .sizes import SIZES
from .workloads import WORKLOADS

HERE = Path(__file__).parent


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--size", choices=list(SIZES), default="small")
    parser.add_argument("--only", default="", help=f"comma-separated workloads of: {', '.join(WORKLOADS)}")
    parser.add_argument("--out", type=Path, default=HERE / "results", help="where the report goes")
    parser.add_argument("--url", help="a superuser URL of a server to create the bench database on "
                                      "(default: a throwaway embedded server)")
    parser.add_argument("--no-latest", action="store_true", help="do not update benchmarks/RESULTS.md")
    parser.add_argument("--render", type=Path, metavar="JSON",
                        help="measure nothing: write the report of a saved <date>.json again")
    args = parser.parse_args(argv)
    only = [w.strip() for w in args.only.split(",") if w.strip()]
    unknown = sorted(set(only) - set(WORKLOADS))
    if unknown:
        parser.error(f"unknown workload(s) {', '.join(unknown)} (known: {', '.join(WORKLOADS)})")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    report = load(args.render) if args.render else run(args.url, SIZES[args.size], only)
    latest = None if args.no_latest or only else HERE / "RESULTS.md"
    md = write(report, args.out, latest)
    print(f"report: {md}" + (f" (and {latest})" if latest else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
