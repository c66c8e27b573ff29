"""Workload 8: what row-level security per workspace costs (``aura-db isolation on``).

Both contenders are aura-db on the same database with isolation on, interleaved: the owner,
whom PostgreSQL exempts from the policies (the reference: no RLS work at all), and the
application role in a Database scoped to workspace A (``Config(workspace_id=...)``), whose every
query carries the policy. The data has other workspaces beside A, so the policy has rows to
keep out: the stories of ten repositories (A is one of them) and the chunks of two workspaces.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from psycopg.conninfo import make_conninfo

from aura_db import Config, Database
from aura_db.ops.isolation import set_isolation
from aura_db.ops.roles import ensure_roles

from ..data import chunks, embeddings
from ..env import Bench
from ..harness import Case, each, split
from ..rag import aura_rag
from .common import check_same, ensure_stories, measure

__all__ = ["RLS_OFF", "RLS_ON", "isolation"]

RLS_OFF = "aura-db: the owner (exempt from the policies)"
RLS_ON = "aura-db rls: application role scoped to its workspace"
_APP, _READONLY = "aura_bench_app", "aura_bench_readonly"
_BATCH = 2_000  # chunks per add_many: the table's HNSW index is maintained row by row
_PATH = "/src/repo-0"  # the stories' first repository (ensure_stories spreads them over ten)


@contextmanager
def _scoped(bench: Bench, workspace: str) -> Iterator[tuple[Database, Database]]:
    password = secrets.token_hex(12)
    ensure_roles(bench.url, app=_APP, readonly=_READONLY, app_password=password)
    config = bench.db.config
    owner = Database(Config(url=bench.url, min_size=1, max_size=1), name="owner")
    app = Database(Config(url=make_conninfo(bench.url, user=_APP, password=password), min_size=1,
                          max_size=1, workspace_id=workspace,
                          statement_timeout=config.statement_timeout), name="rls")
    set_isolation(bench.url, True)
    try:
        yield owner, app
    finally:
        set_isolation(bench.url, False)
        owner.close()
        app.close()


def isolation(bench: Bench) -> list[Case]:
    size = bench.size
    ensure_stories(bench, size.stories[-1])
    workspace = bench.db.workspaces.upsert(_PATH).id
    other = bench.db.workspaces.upsert("/src/repo-1").id
    half = max(size.search_rows // 4, 100)
    rag = aura_rag(bench.db)
    for ws, seed in ((workspace, 81), (other, 82)):
        rows = chunks(ws, embeddings(half, seed=seed), seed=seed)
        for start in range(0, len(rows), _BATCH):  # each COPY well inside the statement timeout
            rag.add_many(rows[start:start + _BATCH])
    with bench.pool.connection() as conn:
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE rag_chunks")
        mine = [r[0] for r in conn.execute(
            "SELECT id FROM stories WHERE repository_path = %s ORDER BY id", (_PATH,))]
    ids = _sample(mine, size.point_calls)
    queries = list(embeddings(size.search_queries, seed=8484))
    cases = []
    with _scoped(bench, workspace) as (owner, app):
        check_same("a point read, RLS on and off",
                   {"off": owner.stories.get(ids[0]), "on": app.stories.get(ids[0])})
        check_same("a search, RLS on and off", {
            "off": [h.id for h in owner.rag_chunks.search(workspace, queries[0], 10)],
            "on": [h.id for h in app.rag_chunks.search(workspace, queries[0], 10)]})
        assert app.stories.get(ids[0]).repository_path == _PATH  # the policy lets A's rows through
        assert not app.rag_chunks.search(other, queries[0], 10)  # ... and keeps B's out
        point = Case("isolation", f"point read by primary key under row-level security, {len(ids):,} calls",
                     "call", notes=[
                         "stories.get; the policy: repository_path = the scoped workspace's path "
                         "(an InitPlan on workspaces, itself under its own policy)"])
        measure(point, {RLS_OFF: each(owner.stories.get), RLS_ON: each(app.stories.get)},
                split(ids, size.rounds), ids[:20])
        cases.append(point)
        search = Case("isolation", f"top-10 vector search under row-level security, {half:,} chunks "
                      f"of 768 dimensions in the workspace (as many in another)", "query", notes=[
                          "rag_chunks.search with aura-db's routing; the policy: workspace_id = "
                          "current_setting('aura.workspace_id')"])
        measure(search, {RLS_OFF: each(lambda q: owner.rag_chunks.search(workspace, q, 10)),
                         RLS_ON: each(lambda q: app.rag_chunks.search(workspace, q, 10))},
                split(queries, size.rounds), queries[:3])
        cases.append(search)
    return cases


def _sample(ids: list[Any], count: int) -> list[Any]:
    """``count`` of ``ids``, shuffled, repeating when there are fewer."""
    rng, out = random.Random(5), list[Any]()
    while ids and len(out) < count:
        batch = ids[:]
        rng.shuffle(batch)
        out.extend(batch[: count - len(out)])
    return out
