"""Synthetic data, loaded fast (binary COPY) and the same for every contender."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import psycopg
from psycopg.types.json import Jsonb

__all__ = [
    "DIMS",
    "STATUSES",
    "Chunk",
    "chunks",
    "embeddings",
    "load_stories",
    "sample_story_ids",
    "stories_with_steps",
]

DIMS = 768
STATUSES = ("Created", "Analyzing", "Analyzed", "Planning", "Planned", "Executing", "Completed",
            "Failed", "Cancelled")
_WORDS = ("def", "class", "return", "self", "request", "user", "token", "session", "story", "step",
          "await", "async", "import", "from", "config", "error", "raise", "value", "items", "index")
_EPOCH = datetime(2025, 1, 1, tzinfo=UTC)


def load_stories(conn: psycopg.Connection[Any], count: int, *, first: int = 0) -> None:
    """Add ``count`` live stories (numbered from ``first``), one second apart, spread over the
    statuses and ten repositories."""
    rng = random.Random(first)
    with conn.cursor() as cur, cur.copy(
            "COPY stories (title, description, repository_path, status, created_at) "
            "FROM STDIN WITH (FORMAT BINARY)") as copy:
        copy.set_types(["varchar", "text", "varchar", "varchar", "timestamptz"])
        for i in range(first, first + count):
            copy.write_row((f"Story {i}: {' '.join(rng.choices(_WORDS, k=6))}",
                            f"Description of story {i}.", f"/src/repo-{i % 10}",
                            STATUSES[i % len(STATUSES)], _EPOCH + timedelta(seconds=i)))


def sample_story_ids(conn: psycopg.Connection[Any], count: int, seed: int = 7) -> list[uuid.UUID]:
    """``count`` ids of live stories in a random order, repeating when there are fewer."""
    ids = [r[0] for r in conn.execute("SELECT id FROM stories WHERE deleted_at IS NULL ORDER BY id")]
    rng = random.Random(seed)
    out: list[uuid.UUID] = []
    while len(out) < count:
        rng.shuffle(ids)
        out.extend(ids[: count - len(out)])
    return out


def stories_with_steps(conn: psycopg.Connection[Any], count: int, steps: int) -> list[uuid.UUID]:
    """``count`` new stories with ``steps`` live steps each; their ids."""
    ids = [r[0] for r in conn.execute(
        "INSERT INTO stories (title, repository_path, status) "
        "SELECT 'Aggregate ' || g || ' of ' || %s::int, '/src/aggregates', 'Executing' "
        "FROM generate_series(1, %s::int) g RETURNING id", (steps, count))]
    conn.execute(
        """INSERT INTO story_steps (story_id, "order", name, capability, description, input)
           SELECT s, o - 1, 'Step ' || o, 'python-coding', 'Do part ' || o || ' of the work.',
                  jsonb_build_object('files', jsonb_build_array('src/a.py', 'src/b.py'))
           FROM unnest(%s::uuid[]) s, generate_series(1, %s::int) o""", (ids, steps))
    return ids


def embeddings(count: int, *, seed: int, dims: int = DIMS) -> np.ndarray:
    """Unit vectors shaped like text embeddings: clustered, of low intrinsic dimension (64)
    plus a little noise in every dimension, float32. Uniform random vectors would be far
    harder for any approximate index than real embeddings are."""
    rng = np.random.default_rng(seed)
    basis = np.random.default_rng(12345).standard_normal((64, dims)).astype(np.float32)
    centers = np.random.default_rng(54321).standard_normal((256, 64)).astype(np.float32)
    latent = centers[rng.integers(0, len(centers), count)] + 0.6 * rng.standard_normal((count, 64))
    vectors = latent.astype(np.float32) @ basis + 0.5 * rng.standard_normal((count, dims)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


@dataclass(frozen=True)
class Chunk:
    workspace_id: str
    content_id: str
    chunk_index: int
    content: str
    embedding: np.ndarray
    source_path: str
    content_type: str
    title: str
    metadata: dict[str, Any]

    def values(self) -> tuple[Any, ...]:
        """The row as raw psycopg sends it (COPY or INSERT column order)."""
        return (self.workspace_id, self.content_id, self.chunk_index, self.content, self.embedding,
                self.source_path, self.content_type, self.title, Jsonb(self.metadata))


def chunks(workspace_id: str, vectors: np.ndarray, *, seed: int) -> list[Chunk]:
    """One chunk per vector, ~400 characters of code-like text, 8 chunks per document."""
    rng = random.Random(seed)
    out = []
    for i, vector in enumerate(vectors):
        doc = f"src/module_{i // 8}.py"
        text = " ".join(rng.choices(_WORDS, k=70))
        out.append(Chunk(workspace_id, doc, i % 8, text, vector, doc, "Code", f"module_{i // 8}",
                         {"language": "python", "lines": [1 + 40 * (i % 8), 40 + 40 * (i % 8)]}))
    return out
