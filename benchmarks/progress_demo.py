"""The progress output the README shows: a 100,000-chunk ingest (768-d, embedding-like vectors,
~400 characters of code-like text each) into a fresh workspace with the HNSW index dropped for
the load and rebuilt after (``bulk_load``), then ``aura-db backup`` of the database.

    python -m benchmarks.progress_demo [--progress log|bar] [--chunks N]

Runs on a throwaway embedded server in a temporary directory (deleted at the end).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from aura_db import Config, Database, progress
from aura_db.repositories import Chunk

from .data import chunks as make_chunks
from .data import embeddings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--progress", choices=("log", "bar"), default="log")
    parser.add_argument("--chunks", type=int, default=100_000)
    args = parser.parse_args()
    show = progress.bar() if args.progress == "bar" else progress.log_lines(
        lambda line: print(line, file=sys.stderr, flush=True), every=5.0)
    with tempfile.TemporaryDirectory(prefix="aura-progress-") as tmp:
        env = {**os.environ, "AURA_DATA_DIR": tmp}
        env.pop("AURA_DATABASE_URL", None)
        config = Config.from_env(data_dir=Path(tmp))
        with Database(config) as db:
            db.migrate()
            ws = db.workspaces.upsert("/src/big-repo").id
            rows = make_chunks(ws, embeddings(args.chunks, seed=1, dims=768), seed=1)
            chunks = [Chunk(content=c.content, embedding=c.embedding, chunk_index=c.chunk_index,
                            content_id=c.content_id, source_path=c.source_path, content_type=c.content_type,
                            title=c.title, metadata=c.metadata) for c in rows]
            with db.rag_chunks.bulk_load(768, progress=show):
                db.rag_chunks.add_many(ws, chunks, progress=show)
        print(f"$ aura-db backup --progress {args.progress}", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, "-m", "aura_db", "backup", "--progress", args.progress],
                       env=env, check=True)
        from aura_db.embedded import start_server

        start_server(Path(tmp) / "pgdata", cleanup_mode="stop").cleanup()


if __name__ == "__main__":
    main()
