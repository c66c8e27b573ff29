"""Bad input never gets past the checks: every public repository method, driven with generated
bad values (hypothesis), raises InvalidValue — an AuraError and a ValueError — and leaves the
database exactly as it was.

The methods are found by introspection (every public method of every repository on
``Database``), so a method added later is covered without touching this file; each parameter's
kind (text, uuid, int, JSON, embedding, ...) comes from its annotation. One parameter at a time
gets a bad value while the others keep valid ones (``VALID``); a separate test proves the valid
ones are accepted, so an InvalidValue is about the bad one.
"""

from __future__ import annotations

import inspect
import typing
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import sql

from aura_db import Config, Database
from aura_db.errors import AuraError, InvalidValue
from aura_db.repositories import RepositoryAccess
from aura_db.repositories.checks import JSON_MAX_DEPTH
from aura_db.repositories.code_graph import CodeNode
from aura_db.repositories.conversations import RagContext
from aura_db.repositories.executions import AgentExecution
from aura_db.repositories.rag_chunks import Chunk
from tests.fix_db import PgServer, _create_database, _drop_database

DIMS = 384
REPOSITORIES = sorted(name for name, _ in inspect.getmembers(RepositoryAccess)
                      if not name.startswith("_"))
# keyword-only **fields of these methods, driven like named parameters: (name, kind)
EXTRA_FIELDS: dict[str, list[tuple[str, str]]] = {
    "stories.create": [("description", "text"), ("git_branch", "text"), ("issue_number", "int"),
                       ("priority", "text")],
    "stories.update": [("description", "text"), ("analyzed_context", "json"), ("max_parallelism", "int"),
                       ("verification_passed", "bool")],
    "agent_executions.record": [("model", "text"), ("duration_ms", "int"), ("conversation_id", "uuid")],
    "rag_chunks.bulk_load": [("m", "int")],
}
NOT_DRIVEN = {"configurations.get.default"}  # any value is a valid default


def _unit(seed: int) -> np.ndarray[Any, Any]:
    vector = np.random.default_rng(seed).normal(size=DIMS).astype(np.float32)
    return vector / np.linalg.norm(vector)


# -- the world the calls run against ----------------------------------------------------------

@dataclass
class World:
    db: Database
    ids: dict[str, Any]
    url: str


def _build_world(db: Database) -> dict[str, Any]:
    story = db.stories.create("a story", description="d")
    step = db.story_steps.add(story.id, name="step", capability="code")
    task = db.story_steps.add_task(step.id, "a task")
    conversation = db.conversations.create(title="chat", story_id=story.id)
    message = db.messages.append(conversation.id, "user", "hello")
    workspace = db.workspaces.upsert("/tmp/ws")
    db.rag_chunks.add_many(workspace.id, [
        Chunk(content=f"chunk {i}", embedding=_unit(i), chunk_index=i, content_id="doc",
              source_path="src/a.py") for i in range(3)])
    hits = db.rag_chunks.search(workspace.id, _unit(0), 2)
    agent = db.agent_executions.record("agent", "a prompt", success=True)
    tool = db.tool_executions.start("grep", agent_execution_id=agent.id)
    session = db.sessions.heartbeat("client")
    db.code_graph.upsert("/repo", [CodeNode("A", "App.A", "Class", file_path="src/a.py")])
    node = db.code_graph.find("/repo", name="A")[0]
    db.configurations.set("k", 1)
    db.index_metadata.record("/tmp/ws", "rag", {"a.py": "a" * 64})
    return {"story": story, "step": step, "task": task, "conversation": conversation,
            "message": message, "workspace": workspace, "hits": hits, "agent": agent, "tool": tool,
            "session": session, "node": node}


ID_OF = {"stories": "story", "story_steps": "step", "conversations": "conversation",
         "agent_executions": "agent", "tool_executions": "tool", "sessions": "session",
         "code_graph": "node", "workspaces": "workspace"}
AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _valid(world: dict[str, Any], repo: str, method: str, name: str) -> Any:
    """A valid value for parameter ``name`` of ``repo.method``."""
    w = world
    by_method: dict[str, Any] = {
        "stories.transition.status": "Analyzing", "story_steps.set_task_status.status": "Running",
        "stories.update.version": w["story"].version, "configurations.list.prefix": "k",
        "rag_chunks.delete_path_prefix.prefix": "src/", "code_graph.find.repository_path": "/repo",
        "story_steps.reorder.step_ids": [w["step"].id],
        "code_graph.replace_file.nodes": [CodeNode("B", "App.B", "Class", file_path="src/a.py")],
        "rag_chunks.replace_content.chunks": [Chunk(content="new", embedding=_unit(9), chunk_index=0)],
    }
    key = f"{repo}.{method}.{name}"
    if key in by_method:
        return by_method[key]
    if name == "id":
        return w[ID_OF[repo]].id
    common: dict[str, Any] = {
        "story_id": w["story"].id, "step_id": w["step"].id, "task_id": w["task"].id,
        "conversation_id": w["conversation"].id, "message_id": w["message"].id,
        "agent_execution_id": w["agent"].id, "session_id": w["session"].id, "start": w["node"].id,
        "workspace_id": w["workspace"].id, "content_id": "doc", "path": "/tmp/ws",
        "workspace_path": "/tmp/ws", "repository_path": "/repo", "file_path": "src/a.py",
        "title": "t", "name": "n", "capability": "c", "description": "d", "error": "e",
        "feedback": "f", "content": "hello", "query_text": "chunk", "agent_id": "agent",
        "prompt": "p", "client_id": "client", "tool_name": "tool", "key": "k", "model": "m",
        "fully_qualified_name": "App.A", "fqn_prefix": "App", "name_contains": "A",
        "title_contains": "t", "commit_sha": "abc", "content_hash": "c" * 64, "git_branch": "main", "prefix": "k",
        "progress": None, "active": True, "maintenance_work_mem": "64MB", "version": 1, "status": "Running", "decision": "Approved",
        "kind": "rag", "direction": "out", "role": "user", "index_type": "rag", "priority": "High",
        "edge_types": ["Calls"], "node_types": ["Class"], "content_types": ["Code"],
        "statuses": ["Created"], "order": "newest", "limit": 5, "depth": 2, "max_depth": 2,
        "latest": 5, "wave": 0, "tokens_used": 3, "duration_ms": 5, "issue_number": 7,
        "max_parallelism": 2, "dims": DIMS, "m": 16, "ef_construction": 64, "parallel_workers": 1,
        "ef_search": 40, "rrf_k": 60, "candidates": 20, "sample_size": 3, "min_score": 0.0,
        "vector_weight": 1.0, "text_weight": 1.0, "recall_target": 0.9, "success": True,
        "exact": True, "any_repository": False, "is_git_repository": False,
        "verification_passed": True, "since": AT, "until": AT + timedelta(days=1),
        "created_from": AT, "created_before": AT + timedelta(days=1), "at": AT, "indexed_at": AT,
        "timeout": timedelta(hours=1), "older_than": timedelta(days=30), "embedding": _unit(1),
        "queries": [_unit(2), _unit(5)], "output": {"a": 1}, "input": {"a": 1}, "metadata": {"a": 1},
        "value": {"a": 1}, "analyzed_context": {"a": 1}, "files": {"a.py": "b" * 64},
        "paths": ["a.py"], "cursor": None, "story_step_id": w["step"].id, "path_prefix": "src/",
        "current_commit_sha": "abc",
        "chunks": [Chunk(content="x", embedding=_unit(3), chunk_index=0, content_id="doc2")],
        "nodes": [CodeNode("B", "App.B", "Class")], "edges": [],
        "contexts": [RagContext(query="q", content_id="doc", chunk_index=0, chunk_content="c", score=0.5)],
        "runs": [AgentExecution("agent", "p", True)], "hits": w["hits"],
    }
    return common[name]


# -- parameter kinds and their bad values ------------------------------------------------------

def _kind(name: str, annotation: str) -> str:
    a = annotation.replace(" ", "")
    if a == "Progress|None":
        return "progress"
    for marker, kind in (("Sequence[Chunk]", "chunks"), ("Sequence[CodeNode]", "nodes"),
                         ("Sequence[CodeEdge]", "edges"), ("Sequence[RagContext]", "contexts"),
                         ("Sequence[AgentExecution]", "runs"), ("Sequence[SearchHit", "hits"),
                         ("Sequence[uuid", "uuids"), ("Sequence[object]", "embeddings"),
                         ("Mapping[str,str]", "files"), ("Iterable[str]", "texts"),
                         ("Type|str]", "enums"), ("Status|str]", "enums"), ("timedelta", "timedelta"),
                         ("datetime", "datetime"), ("uuid.UUID|str", "uuid"), ("Literal[", "enum"),
                         ("Type|str", "enum"), ("Role|str", "enum"), ("Status|str", "enum")):
        if marker in a:
            return kind
    if a in ("object",):
        return "embedding"
    if a in ("Any",):
        return "json"
    base = a.removesuffix("|None")
    if base in ("bool", "int", "float", "str"):
        return {"str": "text"}.get(base, base)
    raise AssertionError(f"no kind for parameter {name}: {annotation}")


def _nest(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


class _Opaque:
    pass


surrogates = st.builds(lambda a, s, b: a + s + b, st.text(max_size=5),
                       st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), st.text(max_size=5))
with_nul = st.builds(lambda a, b: a + "\x00" + b, st.text(max_size=5), st.text(max_size=5))
not_text = st.one_of(st.integers(), st.floats(), st.binary(max_size=4), st.just(_Opaque()),
                     st.lists(st.integers(), max_size=2))
bad_text = st.one_of(surrogates, with_nul, not_text)
bad_key = st.one_of(surrogates, with_nul, st.integers(), st.floats(allow_nan=False), st.binary(max_size=4))
not_uuid_text = st.text(max_size=40).filter(lambda s: not _is_uuid(s))
deep_json = st.integers(JSON_MAX_DEPTH + 1, 100_000).map(_nest)
non_json = st.one_of(st.just(_Opaque()), st.sets(st.integers(), min_size=1, max_size=2),
                     st.binary(min_size=1, max_size=3), st.complex_numbers(allow_nan=False),
                     st.datetimes(), st.just(float("nan")), st.just(float("inf")))
bad_json = st.one_of(
    deep_json, non_json, st.builds(lambda v: {"k": v}, non_json), st.builds(lambda s: {"k": [s]}, surrogates),
    st.builds(lambda s: {s: 1}, st.one_of(surrogates, with_nul)),
    st.builds(lambda k: {k: 1}, st.one_of(st.integers(), st.tuples(st.integers()))),
)
bad_int = st.one_of(st.text(max_size=5), st.floats(), st.integers(min_value=2**63), st.integers(max_value=-(2**63)),
                    st.just(_Opaque()), st.booleans())
bad_float = st.one_of(st.text(max_size=5), st.just(float("nan")), st.just(float("inf")),
                      st.just(float("-inf")), st.just(_Opaque()))
bad_bool = st.one_of(st.text(min_size=1, max_size=5), st.integers(2, 5), st.just(_Opaque()))
bad_datetime = st.one_of(st.datetimes(), st.dates().filter(lambda d: not isinstance(d, datetime)),
                         st.text(max_size=25), st.integers(), st.floats())
bad_timedelta = st.one_of(st.timedeltas(max_value=timedelta(microseconds=-1)), st.integers(), st.floats(),
                          st.text(max_size=5))
bad_uuid = st.one_of(not_uuid_text, surrogates, st.integers(), st.binary(max_size=16), st.just(_Opaque()))
bad_enum = st.one_of(st.text(max_size=12).filter(lambda s: s not in _ENUM_WORDS), surrogates, st.integers(),
                     st.just(_Opaque()))
denormal = st.floats(min_value=float(np.float32(1e-45)), max_value=float(np.float32(1e-40)), width=32).map(lambda x: [x] * DIMS)
bad_embedding = st.one_of(
    denormal, st.just([0.0] * DIMS), st.just([float("nan")] * DIMS), st.just([1e39] * DIMS),
    st.integers(1, 2000).filter(lambda n: n not in (384, 768, 1536, 3072)).map(lambda n: [1.0] * n),
    st.text(max_size=5), st.just(["a"] * DIMS), st.just([]), st.just(_Opaque()), st.just([[1.0] * DIMS]))
def _enum_values() -> set[str]:
    """Every value of every enum the repositories take (Hypothesis draws the string constants of
    the code under test, so a valid value, e.g. 'Pending', does come up as 'bad' text)."""
    import enum

    import aura_db.repositories as repos

    values: set[str] = set()
    for module in vars(repos).values():
        for obj in vars(module).values() if hasattr(module, "__dict__") else ():
            if isinstance(obj, type) and issubclass(obj, enum.Enum) and obj.__module__.startswith("aura_db"):
                values |= {str(m.value) for m in obj}
    return values


_ENUM_WORDS = {"Draft", "Created", "Running", "rag", "graph", "out", "in", "user", "assistant", "system",
               "tool", "Approved", "Rejected", "newest", "oldest", "Code", "Class", "Calls", "High",
               "Medium", "Low", "Critical", "Analyzing"} | _enum_values()


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def _records(valid: Callable[..., Any], bad_fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """Sequences of records with one bad field, plus things that are no sequence of records."""
    with_bad = st.sampled_from(sorted(bad_fields)).flatmap(
        lambda field: bad_fields[field].map(lambda v: [valid(**{field: v})]))
    return st.one_of(with_bad, st.just("a string"), st.just([_Opaque()]), st.just([5]), st.just(_Opaque()))


BAD: dict[str, st.SearchStrategy[Any]] = {
    "text": bad_text, "uuid": bad_uuid, "int": bad_int, "float": bad_float, "bool": bad_bool,
    "datetime": bad_datetime, "timedelta": bad_timedelta, "json": bad_json, "enum": bad_enum,
    "progress": st.one_of(st.integers(), st.text(min_size=1, max_size=5), st.just(_Opaque())),
    "embedding": bad_embedding,
    "embeddings": st.one_of(bad_embedding.map(lambda v: [v]), st.just("a string"), st.just(_Opaque())),
    "uuids": st.one_of(bad_uuid.map(lambda v: [v]), st.just("a string"), st.just(_Opaque())),
    "enums": st.one_of(bad_enum.map(lambda v: [v]), st.just(_Opaque())),
    "texts": st.one_of(bad_text.map(lambda v: [v]), st.just("a.py"), st.just(_Opaque())),
    "files": st.one_of(bad_text.map(lambda v: {"a.py": v}), bad_key.map(lambda k: {k: "h"}),
                       st.just("a.py"), st.just([("a.py", "h")])),
    "chunks": _records(lambda **kw: Chunk(**{"content": "x", "embedding": _unit(4), "chunk_index": 0,
                                             "content_id": "doc3", **kw}),
                       {"content": bad_text, "embedding": bad_embedding, "chunk_index": bad_int,
                        "metadata": bad_json, "source_path": bad_text, "content_type": bad_enum}),
    "nodes": _records(lambda **kw: CodeNode(**{"name": "C", "fully_qualified_name": "App.C",
                                               "node_type": "Class", **kw}),
                      {"name": bad_text, "fully_qualified_name": bad_text, "node_type": bad_enum,
                       "metadata": bad_json, "start_line": bad_int, "file_path": bad_text}),
    "edges": st.one_of(st.just("a string"), st.just([_Opaque()]), st.just([5])),
    "contexts": _records(lambda **kw: RagContext(**{"query": "q", "content_id": "doc", "chunk_index": 0,
                                                    "chunk_content": "c", "score": 0.5, **kw}),
                         {"query": bad_text, "chunk_index": bad_int, "score": bad_float,
                          "content_type": bad_enum}),
    "runs": _records(lambda **kw: AgentExecution(**{"agent_id": "a", "prompt": "p", "success": True, **kw}),
                     {"agent_id": bad_text, "prompt": bad_text, "success": bad_bool, "duration_ms": bad_int,
                      "conversation_id": bad_uuid}),
    "hits": st.one_of(st.just("a string"), st.just([_Opaque()]), st.just([5])),
}


@dataclass(frozen=True)
class Method:
    repo: str
    name: str
    params: tuple[tuple[str, str, bool], ...]  # (name, kind, required)

    def __str__(self) -> str:
        return f"{self.repo}.{self.name}"


def _methods() -> list[Method]:
    found = []
    for repo in REPOSITORIES:
        cls = typing.get_type_hints(getattr(RepositoryAccess, repo).func)["return"]
        for name, fn in inspect.getmembers(cls, inspect.isfunction):
            if name.startswith("_"):
                continue
            params = []
            for p in list(inspect.signature(fn).parameters.values())[1:]:
                if p.kind is p.VAR_KEYWORD or f"{repo}.{name}.{p.name}" in NOT_DRIVEN:
                    continue
                params.append((p.name, _kind(p.name, str(p.annotation)), p.default is p.empty))
            params += [(field, kind, False) for field, kind in EXTRA_FIELDS.get(f"{repo}.{name}", [])]
            found.append(Method(repo, name, tuple(params)))
    return found


METHODS = _methods()


def _call(world: World, method: Method, args: dict[str, Any]) -> Any:
    fn = getattr(getattr(world.db, method.repo), method.name)
    result = fn(**args)
    if isinstance(result, AbstractContextManager):  # bulk_load
        with result:
            pass
    return result


def _args(world: World, method: Method, *, everything: bool) -> dict[str, Any]:
    return {name: _valid(world.ids, method.repo, method.name, name)
            for name, _kind_, required in method.params if required or everything}


# -- the database, compared before and after ---------------------------------------------------

def _snapshot(url: str) -> dict[str, tuple[int, str]]:
    """Row count and a digest of every row of every aura-db table."""
    with psycopg.connect(url) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r' "
            "AND relname NOT LIKE '\\_yoyo%' AND relname NOT LIKE 'yoyo%' ORDER BY relname")]
        parts = [sql.SQL("SELECT {name}, count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) "
                         "FROM {table} t").format(name=sql.Literal(t), table=sql.Identifier(t)) for t in tables]
        rows = conn.execute(sql.SQL(" UNION ALL ").join(parts)).fetchall()
    return {name: (count, digest) for name, count, digest in rows}


@pytest.fixture(scope="module")
def world(pg_server: PgServer, template_url: str) -> Iterator[World]:
    """One database for the module: bad input must never change it, so it can be shared."""
    from psycopg.conninfo import conninfo_to_dict

    name = _create_database(pg_server, str(conninfo_to_dict(template_url)["dbname"]))
    url = pg_server.url_for(name)
    db = Database(Config(url=url, min_size=1, max_size=2, connect_timeout=10))
    try:
        yield World(db, _build_world(db), url)
    finally:
        db.close()
        _drop_database(pg_server, name)


def test_every_public_repository_method_is_driven() -> None:
    assert len(METHODS) >= 100, len(METHODS)
    assert {m.repo for m in METHODS} == set(REPOSITORIES)
    undriven = [str(m) for m in METHODS if not m.params and m.name not in ("count", "list", "search_indexes")]
    assert not undriven, undriven


@pytest.mark.parametrize("method", METHODS, ids=str)
def test_the_valid_arguments_are_accepted(method: Method, make_db_url: Callable[..., str]) -> None:
    """The baseline: with only valid values, no InvalidValue (so the property test's
    InvalidValue is about the one bad value). Domain errors (a state machine refusing a move,
    a version conflict) are fine: the arguments were still well-formed."""
    url = make_db_url()
    with Database(Config(url=url, min_size=1, max_size=2)) as db:
        world = World(db, _build_world(db), url)
        try:
            _call(world, method, _args(world, method, everything=True))
        except InvalidValue as exc:
            pytest.fail(f"{method} refused the valid arguments: {exc}")
        except AuraError:
            pass


@pytest.mark.parametrize("method", [m for m in METHODS if m.params], ids=str)
def test_bad_input_is_invalid_value_and_changes_nothing(method: Method, world: World) -> None:
    before = _snapshot(world.url)

    @settings(max_examples=15, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(data=st.data())
    def bad_call(data: st.DataObject) -> None:
        name, kind, _ = data.draw(st.sampled_from(method.params), label="parameter")
        value = data.draw(BAD[kind], label=f"bad {kind}")
        args = _args(world, method, everything=False)
        args[name] = value
        try:
            _call(world, method, args)
        except InvalidValue as exc:
            assert isinstance(exc, ValueError)
            assert "." in str(exc) or ":" in str(exc), f"the message names no table or field: {exc}"
        except AuraError as exc:
            pytest.fail(f"{method}({name}={value!r:.80}) raised {type(exc).__name__}, not InvalidValue: {exc}")
        except Exception as exc:
            pytest.fail(f"{method}({name}={value!r:.80}) raised untyped {type(exc).__name__}: {exc}")
        else:
            pytest.fail(f"{method}({name}={value!r:.80}) accepted a bad {kind}")

    bad_call()
    assert _snapshot(world.url) == before


# -- the cases the issue measured, spelled out ---------------------------------------------------

@pytest.mark.parametrize("call", [
    lambda db, w: db.stories.create("\ud800"),
    lambda db, w: db.stories.create("ok", description="a\udfffb"),
    lambda db, w: db.configurations.set("k\ud800", 1),
    lambda db, w: db.configurations.set("k", _nest(100_000)),
    lambda db, w: db.stories.update(w["story"].id, version=w["story"].version, analyzed_context={1, 2}),
    lambda db, w: db.story_steps.add(w["story"].id, name="n", capability="c", input=object()),
    lambda db, w: db.story_steps.complete(w["step"].id, output=date(2026, 1, 1)),
    lambda db, w: db.workspaces.get(5),
    lambda db, w: db.workspaces.mark_indexed(w["workspace"].id, "rag", at=datetime(2026, 1, 1)),
    lambda db, w: db.workspaces.mark_indexed(w["workspace"].id, "rag", at="2026-01-01T00:00:00Z"),
    lambda db, w: db.rag_chunks.search(w["workspace"].id, [1e-45] * DIMS, 5),
    lambda db, w: db.rag_chunks.add_many(w["workspace"].id, [
        Chunk(content="x", embedding=[1e-45] * DIMS, chunk_index=0, content_id="d")]),
], ids=["title-surrogate", "field-surrogate", "key-surrogate", "json-100k-deep", "json-set",
        "json-object", "json-date", "workspace-id-int", "naive-datetime", "datetime-string",
        "denormal-query", "denormal-chunk"])
def test_the_measured_cases_are_invalid_value(call: Callable[[Database, dict[str, Any]], Any],
                                              world: World) -> None:
    before = _snapshot(world.url)
    with pytest.raises(InvalidValue) as caught:
        call(world.db, world.ids)
    assert isinstance(caught.value, ValueError)
    assert _snapshot(world.url) == before


def test_json_at_the_depth_limit_is_stored(world: World) -> None:
    deep = _nest(JSON_MAX_DEPTH - 1)
    row = world.db.configurations.set("deep", deep)
    assert row.value == deep
    assert world.db.configurations.get("deep") == deep
    world.db.configurations.delete("deep")
