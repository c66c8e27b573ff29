"""The package's folders are its layers, and dependencies point down: cli -> ops | database ->
migrations | repositories -> core. An upward import, an import between two sibling layers, an
import of the public ``aura_db`` facade from inside the package, or a cycle fails here."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "aura_db"

# top to bottom; the groups of one row are siblings and must not import each other
LAYERS: list[dict[str, tuple[str, ...]]] = [
    {"cli": ("aura_db.cli", "aura_db.__main__")},
    {"ops": ("aura_db.ops",), "database": ("aura_db.database", "aura_db.database_async",
                                             "aura_db.database_sync", "aura_db.health")},
    {"migrations": ("aura_db.migrations",), "repositories": ("aura_db.repositories",)},
    {"core": ("aura_db.config", "aura_db.errors", "aura_db.resources", "aura_db._sqlscan",
              "aura_db.queries", "aura_db.embedded", "aura_db._pgerrors", "aura_db.connection",
              "aura_db.pool", "aura_db.retry", "aura_db.progress", "aura_db.pooler",
              "aura_db.replicas", "aura_db._compat_async", "aura_db._compat_sync",
              "aura_db._retry_async", "aura_db._retry_sync", "aura_db._query_base",
              "aura_db._query_run_async", "aura_db._query_run_sync", "aura_db.connection_async",
              "aura_db.connection_sync", "aura_db.pool_async", "aura_db.pool_sync",
              "aura_db.replicas_async", "aura_db.replicas_sync")},
]
FACADE = "aura_db"  # aura_db/__init__.py: the public names, for users; nothing inside imports it


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def _imports(name: str) -> set[str]:
    """The aura_db modules ``name`` imports, at any depth of its code (function-level and
    TYPE_CHECKING imports count: they are dependencies too)."""
    tree = ast.parse(MODULES[name].read_text())
    package = name if _is_package(name) else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.split(".")[0] == "aura_db")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "aura_db":
                continue
            # "from pkg import sub" imports the module pkg.sub; "from mod import name" imports mod
            subs = {f"{target}.{a.name}" for a in node.names} & MODULES.keys()
            out.update(subs or {target})
    return {m for m in out if m in MODULES} - {name}


def _layer(name: str) -> tuple[int, str]:
    for depth, row in enumerate(LAYERS):
        for group, prefixes in row.items():
            if any(name == p or name.startswith(p + ".") for p in prefixes):
                return depth, group
    raise AssertionError(f"module {name} belongs to no layer: add it to LAYERS in {__file__}")


@pytest.mark.parametrize("name", sorted(m for m in MODULES if m != FACADE))
def test_imports_point_down(name: str) -> None:
    depth, group = _layer(name)
    wrong = []
    for target in sorted(_imports(name)):
        if target == FACADE:
            wrong.append(f"{target} (the public facade)")
            continue
        t_depth, t_group = _layer(target)
        if t_depth < depth or (t_depth == depth and t_group != group):
            wrong.append(f"{target} ({t_group})")
    assert not wrong, f"{name} ({group}) imports upward or sideways: {', '.join(wrong)}"


def test_no_import_cycle() -> None:
    graph = {m: _imports(m) for m in MODULES}
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                cycle = [*stack[stack.index(n):], n]
                raise AssertionError(f"import cycle: {' -> '.join(cycle)}")
            if n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)


def test_the_check_sees_imports() -> None:
    """The graph is read correctly: a few edges known to exist are found (so an empty graph
    cannot make the tests above pass)."""
    assert "aura_db.repositories.base_async" in _imports("aura_db.repositories.stories_async")
    assert "aura_db.repositories.base_sync" in _imports("aura_db.repositories.stories_sync")
    assert "aura_db.migrations" in _imports("aura_db.database_async")
    assert "aura_db.migrations.lock" in _imports("aura_db.cli.migrations")
    assert "aura_db._sqlscan" in _imports("aura_db.queries")
    assert _layer("aura_db.cli.ops") == (0, "cli") and _layer("aura_db.queries") == (3, "core")


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_is_too_long(name: str) -> None:
    lines = MODULES[name].read_text().count("\n")
    assert lines <= 420, f"{name} has {lines} lines: split it by concern"
