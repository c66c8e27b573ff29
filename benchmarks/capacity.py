"""Capacity figures of rag_chunks, per chunk: storage, index sizes and HNSW build time.

    python -m benchmarks.capacity [--chunks 20000,100000] [--dims 384,768] [--url ADMIN_URL]
                                  [--out FILE.json]

For every (chunks, dims) pair, on a fresh migrated database (``benchmarks.env.database``) of a
throwaway embedded server (``benchmarks.env.server``; or the superuser ``--url``):

1. 40 workspaces of very different sizes (Zipf-like: the largest holds ~40% of the chunks,
   the smallest ~0.15%) are registered through ``db.workspaces.upsert``.
2. The HNSW index of that dimension is dropped (``db.rag_chunks.drop_search_index``) and the
   chunks are loaded with binary COPY, one COPY and one transaction per workspace, in
   workspace order (as an indexer would ingest them): the load rate is rows/s of the COPYs,
   the client's serialisation included, the generated columns (embedding_dims, content_tsv)
   and the b-tree/GIN index upkeep included.
3. The HNSW index is built by ``db.rag_chunks.build_search_index(dims)`` with its defaults
   (m=16, ef_construction=64, maintenance_work_mem=1GB, parallel_workers=1, CONCURRENTLY as
   the owner) and timed; auto-calibration is switched off so that only the build is timed.
   ``os.getloadavg()`` is recorded before and after, and the CPU seconds the server spent
   (all its processes, read from /proc when the server is local), so that a build slowed
   down by other work on the machine can be told from a slow build.
4. ``VACUUM ANALYZE``, then: pg_relation_size of the heap, the TOAST table (with its index),
   pg_table_size, pg_indexes_size, pg_total_relation_size, pg_relation_size of every index
   of rag_chunks (pg_index), and the average pg_column_size of content, embedding,
   content_tsv and metadata.

Content is real text: the Python standard library of the running interpreter
(``Path(os.__file__).parent``, without site-packages), one chunk per top-level function or
class (decorators included, ``ast.get_source_segment``), truncated to 4,000 characters;
title = the qualified name (``json.decoder.JSONDecoder``), source_path = the file's relative
path, content_type 'Code', metadata {"language": "python", "lines": [start, end]}. The files
are taken in a fixed shuffled order and cycled through when more chunks are needed than the
library has (the copies get a ``copy<N>/`` prefix in content_id). Embeddings come from
``benchmarks.data.embeddings`` (clustered unit float32 vectors shaped like text embeddings).

The figures are per chunk, to multiply out: storage grows linearly with the chunk count
(the empty partial HNSW indexes of the other sizes are a fixed few pages, not a per-chunk
cost). HNSW build time grows faster than linearly, and much faster once the graph no longer
fits in maintenance_work_mem (pgvector then says so in a NOTICE and builds on disk).

Results: a markdown table on stdout and JSON in ``--out`` (default /tmp/capacity.json).
"""

from __future__ import annotations

import argparse
import ast
import io
import json
import math
import os
import platform
import random
import sys
import time
import tokenize
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from pgvector.psycopg import register_vector
from psycopg import sql
from psycopg.types.json import Jsonb

from aura_db import Config, Database

from .data import embeddings
from .env import database, server

__all__ = ["Doc", "corpus", "main", "measure"]

MAX_CHARS = 4000
WORKSPACES = 40
ZIPF = 1.5  # workspace k (0-based) gets a share proportional to 1 / (k + 1) ** ZIPF
BATCH = 20_000  # embeddings generated per call (bounds the client's memory)
_COPY = ("COPY rag_chunks (workspace_id, content_id, chunk_index, content, embedding, source_path, "
         "content_type, title, metadata) FROM STDIN (FORMAT BINARY)")
_COPY_TYPES = ["varchar", "varchar", "int4", "text", "vector", "varchar", "varchar", "varchar", "jsonb"]
_COLUMNS = ("content", "embedding", "content_tsv", "metadata")


def log(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


# --- content: the standard library, one chunk per top-level definition ----------------------

@dataclass(frozen=True, slots=True)
class Piece:
    title: str
    content: str
    lines: tuple[int, int]


@dataclass(frozen=True, slots=True)
class Doc:
    """One source file and its chunks (top-level functions and classes, in file order)."""

    path: str
    pieces: tuple[Piece, ...]


def _module_name(rel: Path) -> str:
    parts = list(rel.with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _pieces(source: str, module: str) -> Iterator[Piece]:
    tree = ast.parse(source)
    # ast.get_source_segment splits the whole source into lines on every call, which makes a
    # file of many definitions quadratic (minutes for the stdlib): split once, in its way (on
    # \r\n, \r and \n only), and hand it the lines of one definition with the node moved to them.
    lines = io.StringIO(source, newline="").readlines()
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue
        first = min([d.lineno for d in node.decorator_list] + [node.lineno])
        last = node.end_lineno or node.lineno
        span = ast.Pass(lineno=1, col_offset=0, end_lineno=last - first + 1,
                        end_col_offset=node.end_col_offset)
        text = ast.get_source_segment("".join(lines[first - 1:last]), span)
        if text:
            yield Piece(f"{module}.{node.name}" if module else node.name, text[:MAX_CHARS], (first, last))


def corpus(root: Path | None = None, *, seed: int = 1) -> list[Doc]:
    """The .py files under ``root`` (default: the standard library of this interpreter,
    site-packages left out) that parse and hold a top-level definition, in a shuffled order
    fixed by ``seed``."""
    root = Path(os.__file__).parent if root is None else root
    docs = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if rel.parts[0] in ("site-packages", "dist-packages"):
            continue
        try:
            with tokenize.open(path) as f:  # honours the file's encoding declaration
                source = f.read()
            pieces = tuple(_pieces(source, _module_name(rel)))
        except (SyntaxError, ValueError, UnicodeDecodeError, OSError):
            continue  # the test suite's deliberately broken files
        if pieces:
            docs.append(Doc(rel.as_posix(), pieces))
    random.Random(seed).shuffle(docs)
    return docs


def shares(total: int, count: int = WORKSPACES) -> list[int]:
    """``total`` chunks split over ``count`` workspaces, Zipf-like, each with at least one."""
    weights = [1 / (k + 1) ** ZIPF for k in range(count)]
    sizes = [max(1, math.floor(total * w / sum(weights))) for w in weights]
    sizes[0] += total - sum(sizes)
    return sizes


def _stream(docs: Sequence[Doc]) -> Iterator[tuple[str, int, Doc, Piece]]:
    """(content_id, chunk_index, doc, piece) of every chunk, the corpus cycled through forever."""
    for cycle in range(sys.maxsize):
        prefix = f"copy{cycle}/" if cycle else ""
        for doc in docs:
            for index, piece in enumerate(doc.pieces):
                yield prefix + doc.path, index, doc, piece


# --- the measurements ----------------------------------------------------------------------

def _server_cpu(pid: int | None) -> float | None:
    """CPU seconds of the postmaster ``pid`` and all its processes so far (its children that
    are gone are in its cutime/cstime), or None when /proc cannot tell."""
    if pid is None:
        return None
    tick = os.sysconf("SC_CLK_TCK")

    def fields(p: str) -> list[str]:
        with open(f"/proc/{p}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()  # after "pid (comm)": state is [0]

    try:
        own = fields(str(pid))
        total = sum(int(x) for x in own[11:15])  # utime stime cutime cstime
    except OSError:
        return None
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                f = fields(entry)
            except OSError:
                continue
            if int(f[1]) == pid:
                total += int(f[11]) + int(f[12])
    return total / tick


def _postmaster(conn: psycopg.Connection[Any]) -> int | None:
    """The pid of the server's postmaster when the server runs on this machine, else None."""
    row = conn.execute("SELECT pg_backend_pid()").fetchone()
    assert row is not None
    try:
        with open(f"/proc/{int(row[0])}/stat") as f:
            ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        with open(f"/proc/{ppid}/cmdline", "rb") as f:
            return ppid if b"postgres" in f.read() else None
    except OSError:
        return None


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _show(conn: psycopg.Connection[Any], *names: str) -> dict[str, str]:
    out = {}
    for name in names:
        row = conn.execute("SELECT current_setting(%s)", (name,)).fetchone()
        assert row is not None
        out[name] = str(row[0])
    return out


def _sizes(conn: psycopg.Connection[Any]) -> dict[str, Any]:
    row = conn.execute("""
        SELECT pg_relation_size(c.oid), coalesce(pg_total_relation_size(nullif(c.reltoastrelid, 0)), 0),
               pg_table_size(c.oid), pg_indexes_size(c.oid), pg_total_relation_size(c.oid),
               pg_relation_size(c.oid, 'fsm') + pg_relation_size(c.oid, 'vm'), c.relpages
        FROM pg_class c WHERE c.oid = 'public.rag_chunks'::regclass""").fetchone()
    assert row is not None
    indexes = {name: {"bytes": int(size), "method": method, "definition": definition}
               for name, size, method, definition in conn.execute("""
        SELECT ic.relname, pg_relation_size(ic.oid), am.amname, pg_get_indexdef(ic.oid)
        FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_am am ON am.oid = ic.relam
        WHERE i.indrelid = 'public.rag_chunks'::regclass ORDER BY ic.relname""")}
    # per column: average stored size, share stored out of line (TOAST), share compressed
    avg = conn.execute("""
        SELECT count(*), avg(octet_length(content)), avg(pg_column_size(r.*)),
               avg(pg_column_size(content)), avg((pg_column_toast_chunk_id(content) IS NOT NULL)::int),
               avg((pg_column_compression(content) IS NOT NULL)::int),
               avg(pg_column_size(embedding)), avg((pg_column_toast_chunk_id(embedding) IS NOT NULL)::int),
               avg((pg_column_compression(embedding) IS NOT NULL)::int),
               avg(pg_column_size(content_tsv)),
               avg((pg_column_toast_chunk_id(content_tsv) IS NOT NULL)::int),
               avg((pg_column_compression(content_tsv) IS NOT NULL)::int),
               avg(pg_column_size(metadata)), avg((pg_column_toast_chunk_id(metadata) IS NOT NULL)::int),
               avg((pg_column_compression(metadata) IS NOT NULL)::int)
        FROM rag_chunks r""").fetchone()
    assert avg is not None
    rows = int(avg[0])
    columns = {c: {"avg_bytes": round(float(avg[3 + 3 * k]), 1),
                   "out_of_line": round(float(avg[4 + 3 * k]), 4),
                   "compressed": round(float(avg[5 + 3 * k]), 4)} for k, c in enumerate(_COLUMNS)}
    return {
        "rows": rows,
        "heap_bytes": int(row[0]), "toast_bytes": int(row[1]), "table_bytes": int(row[2]),
        "indexes_bytes": int(row[3]), "total_bytes": int(row[4]), "fsm_vm_bytes": int(row[5]),
        "heap_pages": int(row[6]),
        "indexes": indexes,
        "rows_per_heap_page": round(rows / max(1, int(row[6])), 2),
        "columns": columns,
        "avg_content_octets": round(float(avg[1]), 1),
        # the row as one value, out-of-line values fetched back (not the heap tuple's size)
        "avg_row_value_bytes": round(float(avg[2]), 1),
    }


def measure(url: str, docs: Sequence[Doc], chunks: int, dims: int, *, seed: int = 7) -> dict[str, Any]:
    """Load ``chunks`` chunks of ``dims`` dimensions into the fresh database at ``url``, build
    the HNSW index, and measure (see the module's docstring)."""
    # autocommit: no transaction of ours may stay open while an index builds CONCURRENTLY
    with Database(Config(url=url, min_size=1, max_size=2)) as db, \
            psycopg.connect(url, autocommit=True) as conn:
        register_vector(conn)
        repo = db.rag_chunks
        repo.tuning = replace(repo.tuning, auto_calibrate=False)  # time the build alone
        sizes = shares(chunks)
        workspaces = [db.workspaces.upsert(f"/src/workspace-{k:02d}").id for k in range(len(sizes))]
        repo.drop_search_index(dims)
        postmaster = _postmaster(conn)

        stream = _stream(docs)
        vectors = np.empty((0, dims), np.float32)
        batch = 0
        copy_seconds, client_cpu = 0.0, 0.0
        load_before, cpu0 = _load(), _server_cpu(postmaster)
        for ws, size in zip(workspaces, sizes, strict=True):
            rows = []
            for _ in range(size):
                if not len(vectors):
                    vectors = embeddings(BATCH, seed=seed * 1000 + batch, dims=dims)
                    batch += 1
                content_id, index, doc, piece = next(stream)
                rows.append((ws, content_id, index, piece.content, vectors[0], doc.path, "Code", piece.title,
                             Jsonb({"language": "python", "lines": list(piece.lines)})))
                vectors = vectors[1:]
            t0, c0 = time.perf_counter(), time.process_time()
            with conn.transaction(), conn.cursor() as cur, cur.copy(_COPY) as copy:
                copy.set_types(_COPY_TYPES)
                for r in rows:
                    copy.write_row(r)
            copy_seconds += time.perf_counter() - t0
            client_cpu += time.process_time() - c0
        cpu1, load_after_copy = _server_cpu(postmaster), _load()
        log(f"  COPY {chunks} rows in {copy_seconds:.1f} s ({chunks / copy_seconds:,.0f} rows/s)")

        settings = _show(conn, "server_version", "maintenance_work_mem", "max_parallel_maintenance_workers",
                         "shared_buffers", "max_worker_processes", "default_toast_compression")
        build_before = _load()
        t0 = time.perf_counter()
        repo.build_search_index(dims)  # the repository's defaults
        build_seconds = time.perf_counter() - t0
        cpu2, build_after = _server_cpu(postmaster), _load()
        log(f"  HNSW build of {chunks} x {dims} in {build_seconds:.1f} s, "
            f"load {build_before} -> {build_after}")

        conn.execute("VACUUM ANALYZE rag_chunks")
        stats = _sizes(conn)
        # The b-tree and GIN indexes were kept up during the load, as in service; their size
        # when built in one go tells what of that is slack (the GIN's flushed pending list).
        for name, index in stats["indexes"].items():
            if index["method"] != "hnsw":
                conn.execute(sql.SQL("REINDEX INDEX {}").format(sql.Identifier(name)))
                row = conn.execute("SELECT pg_relation_size(%s::regclass)", (name,)).fetchone()
                assert row is not None
                index["rebuilt_bytes"] = int(row[0])
    assert stats["rows"] == chunks, stats["rows"]
    hnsw = f"ix_rag_chunks_embedding_{dims}"
    per: dict[str, Any] = {k: round(stats[f"{k}_bytes"] / chunks, 1)
                           for k in ("heap", "toast", "table", "indexes", "total")}
    per["hnsw"] = round(stats["indexes"][hnsw]["bytes"] / chunks, 1)
    per["index"] = {name: round(i["bytes"] / chunks, 1) for name, i in stats["indexes"].items()}
    return {
        "chunks": chunks, "dims": dims, "hnsw_index": hnsw,
        "workspace_sizes": sizes,
        "copy": {"seconds": round(copy_seconds, 3), "rows_per_s": round(chunks / copy_seconds, 1),
                 "client_cpu_s": round(client_cpu, 2),
                 "server_cpu_s": None if cpu0 is None or cpu1 is None else round(cpu1 - cpu0, 2),
                 "loadavg_before": load_before, "loadavg_after": load_after_copy},
        "build": {"seconds": round(build_seconds, 3),
                  "seconds_per_1000_rows": round(build_seconds / chunks * 1000, 4),
                  "server_cpu_s": None if cpu1 is None or cpu2 is None else round(cpu2 - cpu1, 2),
                  "loadavg_before": build_before, "loadavg_after": build_after,
                  "params": {"m": 16, "ef_construction": 64, "maintenance_work_mem": "1GB",
                             "parallel_workers": 1, "concurrently": True}},
        "server": settings,
        "sizes": stats,
        "per_chunk_bytes": per,
    }


# --- the report ----------------------------------------------------------------------------

def _human(n: float) -> str:
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if n >= size:
            return f"{n / size:,.1f} {unit}"
    return f"{n / 1e3:,.1f} kB"


def markdown(report: dict[str, Any]) -> str:
    runs = report["runs"]
    out = [f"rag_chunks capacity, {report['machine']['cpu_count']} CPUs, PostgreSQL "
           f"{runs[0]['server']['server_version'] if runs else '?'}, "
           f"maintenance_work_mem {runs[0]['server']['maintenance_work_mem'] if runs else '?'}, "
           f"max_parallel_maintenance_workers (server) "
           f"{runs[0]['server']['max_parallel_maintenance_workers'] if runs else '?'} "
           f"(the build sets parallel_workers=1)", "",
           "| chunks | dims | heap B/chunk | TOAST B/chunk | HNSW B/chunk | other idx B/chunk | "
           "total B/chunk | COPY rows/s | HNSW build s | s / 1000 rows | build server CPU s | "
           "loadavg before → after build |",
           "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in runs:
        p, b = r["per_chunk_bytes"], r["build"]
        out.append(f"| {r['chunks']:,} | {r['dims']} | {p['heap']:,.0f} | {p['toast']:,.0f} | "
                   f"{p['hnsw']:,.0f} | {p['indexes'] - p['hnsw']:,.0f} | {p['total']:,.0f} | "
                   f"{r['copy']['rows_per_s']:,.0f} | "
                   f"{b['seconds']:.1f} | {b['seconds_per_1000_rows']:.3f} | {b['server_cpu_s']} | "
                   f"{b['loadavg_before'][0]} → {b['loadavg_after'][0]} |")
    names = sorted({n for r in runs for n in r["per_chunk_bytes"]["index"]})
    out += ["", "Bytes per chunk of every index as loaded (in brackets: after REINDEX, built in one go; "
            "the empty partial HNSW indexes of other sizes are a fixed few pages, not a per-chunk cost):", "",
            "| index | " + " | ".join(f"{r['chunks']:,} x {r['dims']}" for r in runs) + " |",
            "|---|" + "---:|" * len(runs)]
    for n in names:
        cells = []
        for r in runs:
            v = r["per_chunk_bytes"]["index"].get(n)
            fixed = n.startswith("ix_rag_chunks_embedding_") and n != r["hnsw_index"]
            rebuilt = r["sizes"]["indexes"].get(n, {}).get("rebuilt_bytes")
            note = " (empty)" if fixed else "" if rebuilt is None else f" ({rebuilt / r['chunks']:,.1f})"
            cells.append("-" if v is None else f"{v:,.1f}{note}")
        out.append(f"| {n} | " + " | ".join(cells) + " |")
    out += ["", "Average stored size of each column (pg_column_size, bytes; in brackets: the share of "
            "values stored out of line in TOAST / compressed), rows per heap page:", "",
            "| chunks | dims | content (raw octets) | embedding | content_tsv | metadata | rows/heap page |",
            "|---:|---:|---|---|---|---|---:|"]
    for r in runs:
        s, c = r["sizes"], r["sizes"]["columns"]

        def cell(name: str, c: dict[str, Any] = c) -> str:
            v = c[name]
            return f"{v['avg_bytes']:,.0f} ({v['out_of_line']:.0%} / {v['compressed']:.0%})"

        out.append(f"| {r['chunks']:,} | {r['dims']} | {cell('content')} ({s['avg_content_octets']:,.0f}) | "
                   f"{cell('embedding')} | {cell('content_tsv')} | {cell('metadata')} | "
                   f"{s['rows_per_heap_page']} |")
    out += ["", "Load and CPU (loadavg = 1-minute load average; the machine may run other work):", "",
            "| chunks | dims | COPY s | COPY client CPU s | COPY server CPU s | "
            "loadavg before → after COPY | build s | build server CPU s | "
            "loadavg (1/5/15) before build | after build |",
            "|---:|---:|---:|---:|---:|---|---:|---:|---|---|"]
    for r in runs:
        c, b = r["copy"], r["build"]
        out.append(f"| {r['chunks']:,} | {r['dims']} | {c['seconds']:.1f} | {c['client_cpu_s']:.1f} | "
                   f"{c['server_cpu_s']} | {c['loadavg_before'][0]} → {c['loadavg_after'][0]} | "
                   f"{b['seconds']:.1f} | {b['server_cpu_s']} | {'/'.join(map(str, b['loadavg_before']))} | "
                   f"{'/'.join(map(str, b['loadavg_after']))} |")
    if report.get("scaling"):
        out += ["", "HNSW build scaling between the smallest and largest run of each size:", ""]
        for s in report["scaling"]:
            out.append(f"- {s['dims']} dims: {s['from']:,} → {s['to']:,} chunks "
                       f"({s['to'] / s['from']:.0f}x): build {s['ratio']:.2f}x longer "
                       f"(exponent {s['exponent']:.2f}; 1.0 = linear), "
                       f"server CPU {s['cpu_ratio']}x")
    out += ["", "Linear storage projection from the largest run of each size (total = heap + TOAST + "
            "all indexes; HNSW alone in brackets):", "",
            "| dims | 1M chunks | 10M chunks | 100M chunks |", "|---:|---:|---:|---:|"]
    for dims in sorted({r["dims"] for r in runs}):
        r = max((r for r in runs if r["dims"] == dims), key=lambda r: r["chunks"])
        p = r["per_chunk_bytes"]
        out.append(f"| {dims} | " + " | ".join(f"{_human(p['total'] * n)} ({_human(p['hnsw'] * n)})"
                                               for n in (10**6, 10**7, 10**8)) + " |")
    return "\n".join(out) + "\n"


def _scaling(runs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for dims in sorted({r["dims"] for r in runs}):
        mine = sorted((r for r in runs if r["dims"] == dims), key=lambda r: r["chunks"])
        if len(mine) < 2:
            continue
        a, b = mine[0], mine[-1]
        ratio = b["build"]["seconds"] / a["build"]["seconds"]
        ca, cb = a["build"]["server_cpu_s"], b["build"]["server_cpu_s"]
        out.append({"dims": dims, "from": a["chunks"], "to": b["chunks"], "ratio": round(ratio, 3),
                    "exponent": round(math.log(ratio) / math.log(b["chunks"] / a["chunks"]), 3),
                    "cpu_ratio": round(cb / ca, 2) if ca and cb else None})
    return out


def _ints(text: str) -> list[int]:
    return [int(x.replace("_", "")) for x in text.split(",") if x.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.capacity",
                                     description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--chunks", type=_ints, default=[20_000, 100_000],
                        help="comma-separated chunk counts")
    parser.add_argument("--dims", type=_ints, default=[384, 768],
                        help="comma-separated sizes (384, 768, 1536)")
    parser.add_argument("--url", help="a superuser URL of a server to create the databases on "
                                      "(default: a throwaway embedded server)")
    parser.add_argument("--out", type=Path, default=Path("/tmp/capacity.json"))
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    docs = corpus()
    pieces = sum(len(d.pieces) for d in docs)
    log(f"corpus: {pieces:,} top-level definitions in {len(docs):,} files of {Path(os.__file__).parent} "
        f"({time.perf_counter() - t0:.1f} s)")
    started = datetime.now().astimezone()
    runs = []
    with server(args.url) as (admin, tuned):
        for dims in args.dims:
            for chunks in args.chunks:
                log(f"{chunks:,} chunks x {dims} dims")
                with database(admin) as url:
                    runs.append(measure(url, docs, chunks, dims))
    report = {
        "started": started.isoformat(timespec="seconds"),
        "seconds": round(time.perf_counter() - t0, 1),
        "command": "python -m benchmarks.capacity " + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version()},
        "server_settings_changed": tuned,
        "corpus": {"root": str(Path(os.__file__).parent), "files": len(docs), "definitions": pieces,
                   "max_chars": MAX_CHARS, "workspaces": WORKSPACES, "zipf": ZIPF},
        "runs": runs,
        "scaling": _scaling(runs),
    }
    text = markdown(report)
    report["markdown"] = text
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(text)
    log(f"JSON in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
