"""Development seed data: ``aura-db seed`` (``scripts/seed``, ``reset-db --seed``) or
:func:`seed` from Python.

A small, realistic, deterministic dataset written through the public API in ONE transaction:
three workspaces; a story in every status, the planned and running ones with steps (every step
status) and tasks; conversations with messages and the RAG contexts an answer used; agent runs
(successes and a failure, several models) and their tool calls; RAG chunks with small
deterministic 384-d embeddings; a code graph (module, classes, functions; contains, calls,
inherits). Every text and number is fixed; only ids and times are the database's.

Idempotent: the run records itself in ``configurations`` (key :data:`MARKER`) and a second run
changes nothing. A database holding other data (workspaces or stories without that record) is
refused unless ``force``: seed data mixed into real data is hard to take out again.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from ..errors import AuraError
from ..repositories import (
    AgentExecution,
    Chunk,
    CodeEdge,
    CodeNode,
    RagContext,
    RepositoryAccess,
)
from ..repositories.code_graph import NodeKey

__all__ = ["MARKER", "SEED_VERSION", "SeedReport", "seed"]

MARKER = "aura_db.seed"
SEED_VERSION = 1
ACTOR = "aura-db seed"
TABLES = ("workspaces", "stories", "story_steps", "story_tasks", "conversations", "messages",
          "message_rag_contexts", "agent_executions", "tool_executions", "rag_chunks", "code_nodes",
          "code_edges", "index_metadata")


class _Seedable(Protocol):  # a Database: transactions and raw connections
    def transaction(self, actor: str | None = None, *,
                    workspace: str | None = None) -> AbstractContextManager[RepositoryAccess]: ...

    def connection(self) -> AbstractContextManager[Any]: ...

    @property
    def configurations(self) -> Any: ...


@dataclass(frozen=True, slots=True)
class SeedReport:
    """What :func:`seed` found or wrote: rows per table afterwards, and whether it wrote."""

    written: bool
    rows: dict[str, int]

    def lines(self) -> list[str]:
        head = ("seeded the development dataset" if self.written
                else "the development dataset is already there")
        return [head + ":", *(f"  {table:<22} {count:>5}" for table, count in self.rows.items())]


def _counts(db: _Seedable) -> dict[str, int]:
    from psycopg import sql

    every = sql.SQL(" UNION ALL ").join(  # a fixed list: identifiers, never input; one round trip
        sql.SQL("SELECT {}, count(*) FROM {}").format(sql.Literal(t), sql.Identifier(t)) for t in TABLES)
    with db.connection() as conn:
        counts = {str(table): int(n) for table, n in conn.execute(every).fetchall()}
    return {table: counts[table] for table in TABLES}


def seed(db: _Seedable, *, force: bool = False) -> SeedReport:
    """Load the development dataset into ``db`` (a :class:`~aura_db.Database`) once; see the
    module docstring. Raises :class:`AuraError` for a database holding other data (unless
    ``force``); the transaction leaves nothing on any failure."""
    if db.configurations.get(MARKER) is not None:
        return SeedReport(False, _counts(db))
    if not force:
        found = {t: n for t, n in _counts(db).items()
                 if n and t in ("workspaces", "stories", "conversations")}
        if found:
            shown = ", ".join(f"{n} {t}" for t, n in found.items())
            raise AuraError(f"the database holds data that is not aura-db's seed ({shown}): seed an "
                            f"empty development database (aura-db reset-db --yes --seed), or pass --force")
    with db.transaction(actor=ACTOR) as tx:
        _write(tx)
        tx.configurations.set(MARKER, {"version": SEED_VERSION, "by": ACTOR})
    return SeedReport(True, _counts(db))


_REPOS = (("/src/aura-demo", "aura-demo"), ("/src/payments-api", "payments-api"),
          ("/src/docs-site", "docs-site"))
_STORIES = [  # (title, final status, path through the statuses)
    ("Add OAuth login", "Created", []),
    ("Explain the billing module", "Analyzing", ["Analyzing"]),
    ("Speed up the test suite", "Analyzed", ["Analyzing", "Analyzed"]),
    ("Split the settings page", "Planning", ["Analyzing", "Analyzed", "Planning"]),
    ("Rate-limit the public API", "Planned", ["Analyzing", "Analyzed", "Planning", "Planned"]),
    ("Migrate to the new logger", "Executing", ["Analyzing", "Analyzed", "Planning", "Planned", "Executing"]),
    ("Fix the flaky upload test", "Completed",
     ["Analyzing", "Analyzed", "Planning", "Planned", "Executing", "Completed"]),
    ("Rewrite the importer in Rust", "Failed", ["Analyzing", "Analyzed", "Planning", "Failed"]),
    ("Dark mode for the docs", "Cancelled", ["Analyzing", "Cancelled"]),
]
_STEPS = [("Read the code", "code-analysis"), ("Write the change", "python-coding"),
          ("Run the tests", "testing"), ("Update the docs", "documentation")]


def _vectors(n: int, seed_value: int) -> Iterator[np.ndarray[Any, Any]]:
    rng = np.random.default_rng(seed_value)
    for v in rng.normal(size=(n, 384)).astype(np.float32):
        yield v / np.linalg.norm(v)


def _write(tx: RepositoryAccess) -> None:
    workspaces = [tx.workspaces.upsert(path, name=name, is_git_repository=True) for path, name in _REPOS]
    demo = workspaces[0]
    stories = {}
    for title, final, path in _STORIES:
        story = tx.stories.create(title, repository_path=demo.path,
                                  description=f"Development seed: a story left {final}.")
        for status in path:
            story = tx.stories.transition(story.id, status)
        stories[final] = story
    for final in ("Planned", "Executing", "Completed", "Failed"):
        _steps(tx, stories[final].id, final)
    chunks = {}
    for w, ws in enumerate(workspaces):
        docs = [Chunk(content=f"{ws.name} {kind} {i}: " + text, embedding=v, chunk_index=i % 4,
                      content_id=_file(kind, i // 4), source_path=_file(kind, i // 4),
                      content_type="Code" if kind == "code" else "Markdown", title=f"{kind} {i // 4}")
                for i, (v, (kind, text)) in enumerate(zip(_vectors(24, 40 + w), _TEXTS * 3, strict=True))]
        tx.rag_chunks.add_many(ws.id, docs, commit_sha=f"{w + 1:07d}")
        chunks[ws.id] = docs
    conversation = tx.conversations.create(title="Why does the upload test flake?", agent_id="assistant",
                                           repository_path=demo.path, story_id=stories["Completed"].id)
    other = tx.conversations.create(title="How is billing structured?", agent_id="assistant",
                                    repository_path=demo.path, story_id=stories["Analyzing"].id)
    for conv, question in ((conversation, "Why does test_upload fail one run in ten?"),
                           (other, "Where are invoices computed?")):
        tx.messages.append(conv.id, "user", question)
        answer = tx.messages.append(conv.id, "assistant", "It races on the temporary directory; see "
                                    "src/code_0.py.", model="gpt-4o", tokens_used=412)
        hit = chunks[demo.id][0]
        tx.messages.attach_rag_contexts(answer.id, [RagContext(
            query=question, content_id=str(hit.content_id), chunk_index=hit.chunk_index,
            chunk_content=hit.content, score=0.83, source_path=hit.source_path, content_type="Code")])
    step = tx.story_steps.list(stories["Completed"].id)[0]
    runs = tx.agent_executions.record_many([
        AgentExecution("planner", "Plan: fix the flaky upload test", True, provider="openai", model="gpt-4o",
                       response="4 steps", prompt_tokens=900, response_tokens=300, tokens_used=1200,
                       duration_ms=5400, conversation_id=conversation.id),
        AgentExecution("coder", "Write the change", True, provider="anthropic", model="claude-sonnet",
                       response="patch", prompt_tokens=3000, response_tokens=1200, tokens_used=4200,
                       duration_ms=21000, story_step_id=step.id),
        AgentExecution("coder", "Rewrite the importer", False, provider="anthropic", model="claude-sonnet",
                       prompt_tokens=2500, tokens_used=2500, duration_ms=60000,
                       error="timed out waiting for the build"),
        AgentExecution("reviewer", "Review the patch", True, provider="openai", model="gpt-4o-mini",
                       response="approved", prompt_tokens=1500, response_tokens=100, tokens_used=1600,
                       duration_ms=3100),
    ])
    for run, (tool, ok) in zip(runs, (("read_file", True), ("run_tests", True), ("run_build", False),
                                      ("git_diff", True)), strict=True):
        call = tx.tool_executions.start(tool, input={"path": "src/code_0.py"}, agent_execution_id=run.id)
        if ok:
            tx.tool_executions.complete(call.id, output={"ok": True}, duration_ms=120)
        else:
            tx.tool_executions.fail(call.id, "exit status 2", duration_ms=60000)
    _graph(tx, demo.path)


def _file(kind: str, n: int) -> str:
    return f"src/{kind}_{n}.py" if kind == "code" else f"docs/{kind}_{n}.md"


def _steps(tx: RepositoryAccess, story_id: Any, final: str) -> None:
    steps = [tx.story_steps.add(story_id, name=name, capability=capability, description=f"{name}.",
                                input={"files": ["src/code_0.py"]}, wave=i // 2)
             for i, (name, capability) in enumerate(_STEPS)]
    for step in steps:
        for n in (1, 2):
            tx.story_steps.add_task(step.id, f"{step.name}: part {n}")
    plan = {"Planned": [], "Executing": ["Completed", "Running"],
            "Completed": ["Completed", "Completed", "Completed", "Skipped"],
            "Failed": ["Completed", "Failed"]}[final]
    for step, status in zip(steps, plan, strict=False):
        if status == "Skipped":
            tx.story_steps.skip(step.id)
            continue
        tx.story_steps.start(step.id, agent_id="coder")
        if status == "Completed":
            tx.story_steps.complete(step.id, {"summary": f"{step.name} done"})
        elif status == "Failed":
            tx.story_steps.fail(step.id, "the build broke")
        for task in tx.story_steps.tasks(step.id):
            tx.story_steps.set_task_status(task.id, status)


_TEXTS = [("code", "def upload(path): write the file to a temporary directory, then move it."),
          ("code", "class Invoice: holds the lines and computes totals with taxes."),
          ("docs", "# Uploads\nFiles go to a temporary directory first."),
          ("code", "def rate_limit(client): a token bucket per API key."),
          ("docs", "# Billing\nInvoices are computed nightly."),
          ("code", "class Settings: loads the configuration from the environment."),
          ("docs", "# Logging\nUse the structured logger."),
          ("code", "def import_rows(reader): parse and validate every row.")]


def _graph(tx: RepositoryAccess, repository: str) -> None:
    def node(name: str, kind: str, file: str, line: int) -> CodeNode:
        return CodeNode(name.rsplit(".", 1)[-1], name, kind, file_path=file, start_line=line,
                        end_line=line + 9, signature=f"{name.rsplit('.', 1)[-1]}(...)")

    nodes = [node("app.uploads", "Module", "src/uploads.py", 1),
             node("app.uploads.Uploader", "Class", "src/uploads.py", 10),
             node("app.uploads.Uploader.upload", "Method", "src/uploads.py", 12),
             node("app.uploads.S3Uploader", "Class", "src/uploads.py", 30),
             node("app.storage.write_temp", "Function", "src/storage.py", 5),
             node("app.storage.move", "Function", "src/storage.py", 20)]
    key = {n.fully_qualified_name: NodeKey(n.fully_qualified_name, n.node_type) for n in nodes}
    edges = [CodeEdge(key["app.uploads"], key["app.uploads.Uploader"], "Contains"),
             CodeEdge(key["app.uploads"], key["app.uploads.S3Uploader"], "Contains"),
             CodeEdge(key["app.uploads.Uploader"], key["app.uploads.Uploader.upload"], "Contains"),
             CodeEdge(key["app.uploads.S3Uploader"], key["app.uploads.Uploader"], "Inherits"),
             CodeEdge(key["app.uploads.Uploader.upload"], key["app.storage.write_temp"], "Calls"),
             CodeEdge(key["app.uploads.Uploader.upload"], key["app.storage.move"], "Calls")]
    tx.code_graph.upsert(repository, nodes, edges)
