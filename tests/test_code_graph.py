"""db.code_graph on a real server: bulk upsert by natural keys, file replacement, lookups, and
traversals on a hand-built graph of 30 nodes with cycles, exact to the node, depth and path."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from aura_db import Database
from aura_db.errors import InvalidValue, NotFound
from aura_db.repositories import CodeEdge, CodeNode, GraphHit, NodeKey

REPO = "/src/app"


def M(fqn: str, kind: str = "Method", file: str = "src/app.cs") -> CodeNode:
    return CodeNode(name=fqn.rsplit(".", 1)[-1], fully_qualified_name=fqn, node_type=kind, file_path=file,
                    start_line=1, end_line=2, signature=f"void {fqn}()")


def K(fqn: str, kind: str = "Method") -> NodeKey:
    return NodeKey(fqn, kind)


CLASSES = {"App.IRepo": "Interface", "App.BaseRepo": "Class", "App.UserRepo": "Class",
           "App.AdminRepo": "Class", "App.OrderRepo": "Class", "App.Service": "Class", "App.Util": "Class"}
METHODS = ["App.Service.Main", "App.Service.Parse", "App.Service.Validate", "App.Service.Save",
           "App.Util.Log", "App.Util.Helper", "App.Util.Format", "App.Util.Flush",
           "App.UserRepo.Get", "App.UserRepo.Put", "App.OrderRepo.Get", "App.OrderRepo.Put",
           "App.BaseRepo.Open", "App.BaseRepo.Close", "App.AdminRepo.Grant", "App.IRepo.Get"]
FIELDS = ["App.Service.cache", "App.Util.level", "App.UserRepo.table", "App.OrderRepo.table",
          "App.BaseRepo.conn", "App.AdminRepo.roles"]
CALLS = [("Main", "Parse"), ("Parse", "Validate"), ("Validate", "Save"), ("Save", "Parse"),  # cycle
         ("Save", "App.Util.Log"), ("App.Util.Log", "App.Util.Log"),  # self loop
         ("App.Util.Helper", "App.Util.Log"), ("App.Util.Log", "App.Util.Format"), ("App.Util.Format", "App.Util.Flush"),
         ("Main", "App.Util.Helper")]


def fq(short: str) -> str:
    return short if short.startswith("App.") else f"App.Service.{short}"


def build(db: Database) -> dict[str, Any]:
    nodes = [M("App", "Namespace")] + [M(c, k) for c, k in CLASSES.items()] + [M(m) for m in METHODS] \
        + [M(f, "Field") for f in FIELDS]
    edges = [CodeEdge(K("App", "Namespace"), K(c, k), "Contains") for c, k in CLASSES.items()]
    edges += [CodeEdge(K(m.rsplit(".", 1)[0], CLASSES[m.rsplit(".", 1)[0]]), K(m, kind), "Contains")
              for m, kind in [(m, "Method") for m in METHODS] + [(f, "Field") for f in FIELDS]]
    edges += [CodeEdge(K(fq(a)), K(fq(b)), "Calls") for a, b in CALLS]
    edges += [CodeEdge(K("App.BaseRepo", "Class"), K("App.IRepo", "Interface"), "Implements"),
              CodeEdge(K("App.OrderRepo", "Class"), K("App.IRepo", "Interface"), "Implements"),
              CodeEdge(K("App.UserRepo", "Class"), K("App.BaseRepo", "Class"), "Inherits"),
              CodeEdge(K("App.AdminRepo", "Class"), K("App.UserRepo", "Class"), "Inherits"),
              CodeEdge(K("App.Service.Save"), K("App.UserRepo", "Class"), "References", {"line": 12}),
              CodeEdge(K("App.Util.Helper"), K("App.UserRepo", "Class"), "References")]
    assert len(nodes) == 30
    assert db.code_graph.upsert(REPO, nodes, edges) == (30, len(edges))
    return {n.fully_qualified_name: n.id for n in db.code_graph.find(REPO, limit=100)}


def shape(hits: list[GraphHit], ids: dict[str, Any]) -> list[tuple[str, int, list[str], list[str]]]:
    names = {v: k for k, v in ids.items()}
    return [(h.node.fully_qualified_name, h.depth, [names[p] for p in h.path], h.edges) for h in hits]


def test_upsert_is_idempotent_and_keyed_naturally(db: Database) -> None:
    ids = build(db)
    assert len(ids) == 30 and db.code_graph.counts(REPO) == (30, 29 + 10 + 6)
    again = build(db)
    assert again == ids and db.code_graph.counts(REPO) == (30, 45)
    node = db.code_graph.get(ids["App.Service.Main"])
    assert (node.name, node.node_type, node.file_path, node.repository_path) == ("Main", "Method", "src/app.cs", REPO)
    db.code_graph.upsert(REPO, [M("App.Service.Main")], [CodeEdge(ids["App.Service.Main"], ids["App.Util.Flush"], "Calls")])
    assert db.code_graph.counts(REPO) == (30, 46)
    assert db.code_graph.upsert("/other", [M("App.Service.Main")]) == (1, 0)
    assert db.code_graph.counts("/other") == (1, 0)


def test_callees_and_callers_with_cycles_depths_and_paths(db: Database) -> None:
    ids = build(db)
    main = ids["App.Service.Main"]
    assert shape(db.code_graph.callees(main), ids) == [
        ("App.Service.Parse", 1, ["App.Service.Main", "App.Service.Parse"], ["Calls"]),
        ("App.Util.Helper", 1, ["App.Service.Main", "App.Util.Helper"], ["Calls"])]
    deep = shape(db.code_graph.callees(main, depth=20), ids)
    assert deep == [
        ("App.Service.Parse", 1, ["App.Service.Main", "App.Service.Parse"], ["Calls"]),
        ("App.Util.Helper", 1, ["App.Service.Main", "App.Util.Helper"], ["Calls"]),
        ("App.Service.Validate", 2, ["App.Service.Main", "App.Service.Parse", "App.Service.Validate"], ["Calls"] * 2),
        ("App.Util.Log", 2, ["App.Service.Main", "App.Util.Helper", "App.Util.Log"], ["Calls"] * 2),
        ("App.Service.Save", 3, ["App.Service.Main", "App.Service.Parse", "App.Service.Validate", "App.Service.Save"], ["Calls"] * 3),
        ("App.Util.Format", 3, ["App.Service.Main", "App.Util.Helper", "App.Util.Log", "App.Util.Format"], ["Calls"] * 3),
        ("App.Util.Flush", 4, ["App.Service.Main", "App.Util.Helper", "App.Util.Log", "App.Util.Format", "App.Util.Flush"], ["Calls"] * 4),
    ]
    # depth cap
    assert [(n, d) for n, d, *_ in shape(db.code_graph.callees(main, depth=2), ids)] == [
        ("App.Service.Parse", 1), ("App.Util.Helper", 1), ("App.Service.Validate", 2), ("App.Util.Log", 2)]
    # inside the cycle Parse -> Validate -> Save -> Parse, the start is never reported
    cyc = shape(db.code_graph.callees(ids["App.Service.Parse"], depth=20), ids)
    assert [(n, d) for n, d, *_ in cyc] == [("App.Service.Validate", 1), ("App.Service.Save", 2), ("App.Util.Log", 3),
                                            ("App.Util.Format", 4), ("App.Util.Flush", 5)]
    callers = shape(db.code_graph.callers(ids["App.Util.Log"], depth=3), ids)
    assert [(n, d) for n, d, *_ in callers] == [("App.Service.Save", 1), ("App.Util.Helper", 1),
                                                ("App.Service.Main", 2), ("App.Service.Validate", 2), ("App.Service.Parse", 3)]
    assert callers[3][2] == ["App.Util.Log", "App.Service.Save", "App.Service.Validate"]


def test_implementations_inheritors_children_references(db: Database) -> None:
    ids = build(db)
    impl = shape(db.code_graph.implementations(ids["App.IRepo"]), ids)
    assert impl == [("App.BaseRepo", 1, ["App.IRepo", "App.BaseRepo"], ["Implements"]),
                    ("App.OrderRepo", 1, ["App.IRepo", "App.OrderRepo"], ["Implements"]),
                    ("App.UserRepo", 2, ["App.IRepo", "App.BaseRepo", "App.UserRepo"], ["Implements", "Inherits"]),
                    ("App.AdminRepo", 3, ["App.IRepo", "App.BaseRepo", "App.UserRepo", "App.AdminRepo"],
                     ["Implements", "Inherits", "Inherits"])]
    assert [(n, d) for n, d, *_ in shape(db.code_graph.inheritors(ids["App.BaseRepo"]), ids)] == [
        ("App.UserRepo", 1), ("App.AdminRepo", 2)]
    assert [(n, d) for n, d, *_ in shape(db.code_graph.inheritors(ids["App.BaseRepo"], depth=1), ids)] == [("App.UserRepo", 1)]
    assert [c.fully_qualified_name for c in db.code_graph.children(ids["App.UserRepo"])] == [
        "App.UserRepo.Get", "App.UserRepo.Put", "App.UserRepo.table"]
    assert [c.fully_qualified_name for c in db.code_graph.children(ids["App"])] == sorted(CLASSES)
    refs = db.code_graph.references(ids["App.UserRepo"])
    assert [(h.node.fully_qualified_name, h.depth) for h in refs] == [("App.Service.Save", 1), ("App.Util.Helper", 1)]
    assert db.code_graph.references(ids["App.Util.Flush"]) == []


def test_dense_cycles_terminate_with_each_node_once(db: Database) -> None:
    nodes = [M(f"K.n{i}", "Function") for i in range(8)]
    edges = [CodeEdge(K(f"K.n{i}", "Function"), K(f"K.n{j}", "Function"), "Calls")
             for i in range(8) for j in range(8) if i != j]
    db.code_graph.upsert(REPO, nodes, edges)
    start = db.code_graph.find(REPO, fully_qualified_name="K.n0")[0].id
    hits = db.code_graph.callees(start, depth=4)
    assert [(h.node.fully_qualified_name, h.depth) for h in hits] == [(f"K.n{i}", 1) for i in range(1, 8)]


def test_find_by_name_fqn_prefix_and_pattern(db: Database) -> None:
    ids = build(db)
    db.code_graph.upsert(REPO, [M("App.Util.get_user", "Function"), M("App.Util.getXuser", "Function"),
                                M("App%.Odd", "Function")])
    assert [n.fully_qualified_name for n in db.code_graph.find(REPO, name="Get")] == [
        "App.IRepo.Get", "App.OrderRepo.Get", "App.UserRepo.Get"]
    assert [n.id for n in db.code_graph.find(REPO, fully_qualified_name="App.Service.Main")] == [ids["App.Service.Main"]]
    assert [n.fully_qualified_name for n in db.code_graph.find(REPO, fqn_prefix="App.Util.")] == [
        "App.Util.Flush", "App.Util.Format", "App.Util.Helper", "App.Util.Log", "App.Util.getXuser",
        "App.Util.get_user", "App.Util.level"]
    assert [n.fully_qualified_name for n in db.code_graph.find(REPO, fqn_prefix="App%")] == ["App%.Odd"]
    assert [n.name for n in db.code_graph.find(REPO, name_contains="T_U")] == ["get_user"]
    assert [n.name for n in db.code_graph.find(REPO, name_contains="repo", node_types=["Class"])] == [
        "AdminRepo", "BaseRepo", "OrderRepo", "UserRepo"]
    assert db.code_graph.find("/elsewhere", name="Get") == []
    assert len(db.code_graph.find(name="Get", any_repository=True)) == 3


def test_replace_file_keeps_surviving_ids_and_drops_the_rest(db: Database) -> None:
    ids = build(db)
    kept = [M(m) for m in METHODS if m.startswith("App.Util.") and m != "App.Util.Flush"] + [M("App.Util.Trace")]
    util = [n for n in kept]
    moved = [CodeNode(name=n.name, fully_qualified_name=n.fully_qualified_name, node_type=n.node_type,
                      file_path="src/util.cs") for n in util]
    # everything in src/app.cs but the Util methods (and the new Trace) goes
    db.code_graph.replace_file(REPO, "src/app.cs", [M(n.fully_qualified_name) for n in util],
                               [CodeEdge(K("App.Util.Format"), K("App.Util.Trace"), "Calls")])
    after = {n.fully_qualified_name: n.id for n in db.code_graph.find(REPO, limit=100)}
    assert set(after) == {n.fully_qualified_name for n in util}
    assert all(after[k] == ids[k] for k in after if k in ids)
    assert [h.node.fully_qualified_name for h in db.code_graph.callees(after["App.Util.Log"], depth=5)] == [
        "App.Util.Format", "App.Util.Trace"]
    with pytest.raises(InvalidValue, match=r"code_nodes\.file_path: node 0 \('App\.Util\.Log'\) is in 'src/util\.cs', not 'src/app\.cs'"):
        db.code_graph.replace_file(REPO, "src/app.cs", moved)


def test_invalid_input_and_unknown_endpoints_write_nothing(db: Database) -> None:
    build(db)
    before = db.code_graph.counts(REPO)
    with pytest.raises(NotFound, match=r"code_edges: edge 1 \(Calls\): no Method node 'App\.Nope' in repository '/src/app' \(constraint fk_code_edges_target_node_id\)"):
        db.code_graph.upsert(REPO, [M("App.New")], [CodeEdge(K("App.New"), K("App.Service.Main"), "Calls"),
                                                    CodeEdge(K("App.New"), K("App.Nope"), "Calls")])
    assert db.code_graph.counts(REPO) == before
    cases = [
        ([M("App.X", "Widget")], [], r"code_nodes\.node_type: node 0 \('App\.X'\): 'Widget' is not one of"),
        ([M("App.X"), M("App.X")], [], r"code_nodes: node 1 \('App\.X', Method\) repeats node 0"),
        ([CodeNode("X", "App.X", "Method", start_line=5, end_line=3)], [], r"code_nodes\.end_line: node 0 \('App\.X'\): 3 is before start_line 5"),
        ([CodeNode("X", "App.X", "Method", signature="a\x00b")], [], r"code_nodes\.signature: node 0 \('App\.X'\): text must not contain NUL"),
        ([], [CodeEdge(K("App.X"), K("App.Y"), "Likes")], r"code_edges\.edge_type: edge 0: 'Likes' is not one of"),
        ([], [CodeEdge("App.X", K("App.Y"), "Calls")], r"code_edges\.source: edge 0: expected a node id or NodeKey"),  # type: ignore[arg-type]
    ]
    for nodes, edges, message in cases:
        with pytest.raises(InvalidValue, match=message):
            db.code_graph.upsert(REPO, nodes, edges)
    assert db.code_graph.counts(REPO) == before
    with pytest.raises(InvalidValue, match=r"code_edges\.max_depth: 21 is outside 1\.\.20"):
        db.code_graph.callees(db.code_graph.find(REPO, name="Main")[0].id, depth=21)


def test_delete_repository_cascades_edges(db: Database, conn: psycopg.Connection[Any]) -> None:
    build(db)
    db.code_graph.upsert("/other", [M("X.Y")])
    assert db.code_graph.delete_repository(REPO) == 30
    assert db.code_graph.counts(REPO) == (0, 0) and db.code_graph.counts("/other") == (1, 0)
    assert conn.execute("SELECT count(*) FROM code_edges").fetchone() == (0,)


def test_the_graph_without_a_repository_is_counted_found_and_deleted_apart(db: Database) -> None:
    db.code_graph.upsert(None, [M("Free.A"), M("Free.B")], [CodeEdge(K("Free.A"), K("Free.B"), "Calls")])
    db.code_graph.upsert(REPO, [M("App.A"), M("App.B"), M("App.C")],
                         [CodeEdge(K("App.A"), K("App.B"), "Calls"), CodeEdge(K("App.B"), K("App.C"), "Calls")])
    assert db.code_graph.counts(None) == (2, 1)
    assert db.code_graph.counts(REPO) == (3, 2)
    assert [n.fully_qualified_name for n in db.code_graph.find(None)] == ["Free.A", "Free.B"]
    db.code_graph.replace_file(None, "src/app.cs", [M("Free.A")])  # Free.B (and its edge) go
    assert [n.fully_qualified_name for n in db.code_graph.find(None)] == ["Free.A"]
    assert len(db.code_graph.find(REPO)) == 3
    assert db.code_graph.delete_repository(None) == 1
    assert db.code_graph.counts(None) == (0, 0) and db.code_graph.counts(REPO) == (3, 2)


def _bfs(adjacent: dict[Any, list[tuple[Any, str]]], start: Any, depth: int) -> dict[Any, tuple[int, list[Any], list[str]]]:
    """The reference: breadth-first, each node once at its minimal depth, with the lexically
    first shortest path (uuid order) and, for one hop, the first edge type."""
    best: dict[Any, tuple[int, list[Any], list[str]]] = {start: (0, [start], [])}
    frontier = [start]
    for d in range(1, depth + 1):
        reached: dict[Any, tuple[list[Any], list[str]]] = {}
        for u in frontier:
            for v, kind in adjacent.get(u, []):
                if v in best:
                    continue
                candidate = (best[u][1] + [v], best[u][2] + [kind])
                if v not in reached or candidate < reached[v]:
                    reached[v] = candidate
        for v, (path, kinds) in reached.items():
            best[v] = (d, path, kinds)
        frontier = sorted(reached, key=lambda v: best[v][1])
    del best[start]
    return best


def test_a_dense_layered_graph_is_walked_once_per_node_at_every_depth(app_url: str) -> None:
    # 8 layers x 8 nodes, every node calling every node of the next layer: 8^7 = 2M paths from
    # the first layer to the last. A walk enumerating paths took 30 s and more; one visiting
    # each node once answers in milliseconds, well inside a 3 s statement timeout.
    with Database.connect(app_url, statement_timeout=3) as db:
        _walk_dense_graph(db)


def _walk_dense_graph(db: Database) -> None:
    layers = [[M(f"L{i}.N{j}") for j in range(8)] for i in range(8)]
    edges = [CodeEdge(K(a.fully_qualified_name), K(b.fully_qualified_name), "Calls")
             for i in range(7) for a in layers[i] for b in layers[i + 1]]
    db.code_graph.upsert(REPO, [n for layer in layers for n in layer], edges)
    ids = {n.fully_qualified_name: n.id for n in db.code_graph.find(REPO, limit=100)}
    last, first = ids["L7.N0"], ids["L0.N0"]
    callers = db.code_graph.callers(last, depth=8)
    assert sorted((h.node.fully_qualified_name, h.depth) for h in callers) == sorted(
        (f"L{i}.N{j}", 7 - i) for i in range(7) for j in range(8))
    callees = db.code_graph.callees(first, depth=20)
    assert len(callees) == 56 and {h.depth for h in callees} == set(range(1, 8))
    incoming: dict[Any, list[tuple[Any, str]]] = {ids[n.fully_qualified_name]: [] for layer in layers for n in layer}
    for e in edges:
        incoming[ids[e.target.fully_qualified_name]].append((ids[e.source.fully_qualified_name], "Calls"))
    expected = _bfs(incoming, last, 8)
    assert {h.node.id: (h.depth, h.path, h.edges) for h in callers} == expected


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_walks_match_a_breadth_first_reference_on_random_graphs(db: Database, seed: int) -> None:
    import random

    rng = random.Random(seed)
    nodes = [M(f"R.N{i}") for i in range(40)]
    kinds = ["Calls", "References"]
    pairs = {(rng.randrange(40), rng.randrange(40), rng.choice(kinds)) for _ in range(160)}
    edges = [CodeEdge(K(f"R.N{a}"), K(f"R.N{b}"), kind) for a, b, kind in sorted(pairs)]
    db.code_graph.upsert(REPO, nodes, edges)
    ids = {n.fully_qualified_name: n.id for n in db.code_graph.find(REPO, limit=100)}
    outgoing: dict[Any, list[tuple[Any, str]]] = {}
    incoming: dict[Any, list[tuple[Any, str]]] = {}
    for a, b, kind in pairs:
        outgoing.setdefault(ids[f"R.N{a}"], []).append((ids[f"R.N{b}"], kind))
        incoming.setdefault(ids[f"R.N{b}"], []).append((ids[f"R.N{a}"], kind))
    for start in [ids[f"R.N{i}"] for i in rng.sample(range(40), 5)]:
        for depth in (1, 2, 4, 20):
            for direction, adjacent in (("out", outgoing), ("in", incoming)):
                hits = db.code_graph.traverse(start, direction, kinds, max_depth=depth)
                assert {h.node.id: (h.depth, h.path, h.edges) for h in hits} == _bfs(adjacent, start, depth)
                assert [h.depth for h in hits] == sorted(h.depth for h in hits)
