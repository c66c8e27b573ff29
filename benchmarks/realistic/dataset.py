"""The realistic dataset: the running interpreter's standard library as code chunks.

Why: random vectors are the adversarial case of vector search (no structure, every neighbour
list nearly tied); an embedding of real code has clusters, near-duplicates (the ``encodings``
codecs) and workspaces of very different sizes, which is what aura-db's routing (exact scan up
to a threshold, HNSW above it, calibrated per workspace) must get right.

What is built, deterministically from ``seed`` and the interpreter's ``Lib/``:

* chunks (:class:`ChunkRecord`): one per top-level function, class and method (its source
  segment, decorators included, content type ``Code``), one per module and class docstring and
  per ``.txt``/``.rst`` file (``Documentation``). ``test/``, ``tests/``, ``idlelib/`` and
  ``site-packages/`` are skipped.
* workspaces: one per top-level package (``email``, ``asyncio``, ...); the top-level modules
  and the packages with fewer than :data:`MIN_WORKSPACE` chunks form one "everything else"
  workspace, ``modules``. With ``superset`` (size ``full``) a ``stdlib`` workspace holds a copy
  of every chunk as well: the one workspace past aura-db's exact threshold of 10,000.
* embeddings: TF-IDF over identifiers (split at ``_`` and camelCase, kept whole too) and words,
  reduced by a truncated SVD to 768 dimensions (the first 384 components are the 384-d
  embedding), L2-normalised float32. A stand-in for an embedding model, made offline.
* queries: per workspace, held-out chunks of its own (not inserted anywhere) and chunks of the
  other workspaces (the cross-workspace case: "code like this" from another project).
* identifier queries (:meth:`Dataset.identifier_queries`, for hybrid search): the bare name of a
  function, class or method defined once in the workspace (``raw_decode``), its defining chunk
  the one expected first, embedded by the same TF-IDF + SVD (:class:`QueryModel`, kept with the
  cache) as the chunks;
* a code graph (:class:`Graph`): module, class and function nodes; ``Contains``, ``Calls``
  (resolved by simple name within the module, ``self.x()`` within the class, only when
  unambiguous) and ``Inherits`` edges.

The build is cached under ``~/.cache/aura-db-bench/`` (an ``.npz`` of the embeddings and a JSON
of the chunks and the graph) keyed by the Python version, the stdlib path and the parameters.
"""

from __future__ import annotations

import ast
import builtins
import hashlib
import json
import logging
import re
import sys
import sysconfig
import time
import zlib
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "DIMS",
    "SIZES",
    "ChunkRecord",
    "Dataset",
    "Graph",
    "QueryModel",
    "build",
    "random_like",
    "random_vectors",
]

logger = logging.getLogger(__name__)

DIMS = (384, 768)
VERSION = 1  # bump when the chunking or the embedding changes: the cache key includes it
MIN_WORKSPACE = 20  # packages with fewer chunks go to the "everything else" workspace
MAX_CHARS = 16_000  # a chunk's text is cut here (a few huge classes; tsvector and TOAST stay sane)
OTHER = "modules"  # the "everything else" workspace
SUPERSET = "stdlib"  # the copy of everything (size full)
SKIP_PARTS = frozenset({"test", "tests", "idlelib", "site-packages", "__pycache__"})
# size -> (packages read, or None for all of Lib/; whether the superset workspace exists)
SIZES: dict[str, tuple[tuple[str, ...] | None, bool]] = {
    "tiny": (("json", "email", "html", "urllib"), False),
    "small": (None, False),
    "full": (None, True),
}
CACHE = Path.home() / ".cache" / "aura-db-bench"


@dataclass(frozen=True, slots=True)
class ChunkRecord:
    """One chunk: where it comes from and its text. ``content_id`` is the file's path relative
    to ``Lib/`` (``file_path``); ``chunk_index`` counts the file's chunks in order."""

    workspace: str
    content_id: str
    chunk_index: int
    name: str  # dotted: json.decoder.JSONDecodeError.__init__
    file_path: str
    start_line: int
    end_line: int
    content_type: str  # "Code" or "Documentation"
    kind: str  # function, class, method, module-doc, class-doc, text
    content: str


@dataclass(frozen=True)
class QueryModel:
    """The fitted embedding, to embed a query text as the chunks were: the TF-IDF vocabulary
    (term -> column) and idf, and the SVD components (768 x terms)."""

    terms: dict[str, int]
    idf: np.ndarray
    components: np.ndarray

    def embed(self, text: str, dims: int) -> np.ndarray:
        """``text``'s unit embedding of ``dims`` (zeros when none of its terms is known)."""
        counts = Counter(t for t in _tokens(text) if t in self.terms)
        out = np.zeros(dims, np.float32)
        if not counts:
            return out
        cols = np.array([self.terms[t] for t in counts])
        weights = (1.0 + np.log(np.array(list(counts.values()), np.float32))) * self.idf[cols]
        weights /= np.linalg.norm(weights)  # TfidfVectorizer's l2 norm
        reduced = self.components[:dims, cols] @ weights
        norm = float(np.linalg.norm(reduced))
        return (reduced / norm).astype(np.float32) if norm > 0 else out


@dataclass
class Graph:
    """The code graph: ``nodes`` maps a dotted name to its kind (module, class, function; a
    base class outside the module is a class node with ``external`` kind ``external-class``),
    ``edges`` are (source, target, kind) with kind Contains, Calls or Inherits."""

    nodes: dict[str, str] = field(default_factory=dict)
    edges: list[tuple[str, str, str]] = field(default_factory=list)

    def has(self, source: str, target: str, kind: str) -> bool:
        return (source, target, kind) in set(self.edges)

    def counts(self) -> dict[str, int]:
        return dict(Counter(kind for _, _, kind in self.edges))


@dataclass
class Dataset:
    """The built dataset: chunks, their embeddings by size, the graph, and the queries."""

    key: str
    params: dict[str, Any]
    chunks: list[ChunkRecord]
    vectors: dict[int, np.ndarray]  # dims -> (len(chunks), dims) float32, unit rows
    graph: Graph
    seed: int = 0
    max_queries: int = 40
    superset: bool = False
    from_cache: bool = False
    build_seconds: float = 0.0
    model: QueryModel | None = field(default=None, repr=False)
    _held: set[int] = field(default_factory=set, repr=False)

    def __post_init__(self) -> None:
        self._held = set(self._held_out())

    # -- workspaces and queries -----------------------------------------------------------------

    def groups(self) -> dict[str, list[int]]:
        """Every chunk's index by its own workspace (held-out ones included), largest first."""
        out: dict[str, list[int]] = defaultdict(list)
        for i, c in enumerate(self.chunks):
            out[c.workspace].append(i)
        return dict(sorted(out.items(), key=lambda kv: (-len(kv[1]), kv[0])))

    def _held_out(self) -> Iterator[int]:
        """Per workspace, ``min(max_queries, max(2, n // 10))`` chunks drawn with the seed: the
        same-workspace queries, inserted nowhere."""
        for name, members in self.groups().items():
            rng = np.random.default_rng([self.seed, zlib.crc32(name.encode())])
            count = min(self.max_queries, max(2, len(members) // 10))
            yield from (members[int(i)] for i in rng.choice(len(members), count, replace=False))

    def workspaces(self) -> dict[str, list[int]]:
        """The chunks inserted into each workspace (held-out ones left out), largest first;
        with ``superset`` also the ``stdlib`` workspace holding every inserted chunk."""
        out = {name: [i for i in members if i not in self._held] for name, members in self.groups().items()}
        if self.superset:
            out[SUPERSET] = sorted(i for members in out.values() for i in members)
        return dict(sorted(out.items(), key=lambda kv: (-len(kv[1]), kv[0])))

    def same_queries(self, workspace: str) -> list[int]:
        """Held-out chunks of ``workspace`` (of every workspace for the superset), at most
        ``max_queries``."""
        if workspace == SUPERSET:
            rng = np.random.default_rng([self.seed, 1])
            held = sorted(self._held)
            return sorted(held[int(i)] for i in rng.choice(len(held), min(self.max_queries, len(held)),
                                                           replace=False))
        return sorted(i for i in self.groups()[workspace] if i in self._held)

    def cross_queries(self, workspace: str) -> list[int]:
        """``max_queries`` chunks of the other workspaces (none for the superset: it holds them
        all), drawn with the seed."""
        if workspace == SUPERSET:
            return []
        others = [i for i, c in enumerate(self.chunks) if c.workspace != workspace]
        rng = np.random.default_rng([self.seed, zlib.crc32(workspace.encode()), 2])
        return sorted(others[int(i)] for i in rng.choice(len(others), min(self.max_queries, len(others)),
                                                         replace=False))

    def identifier_queries(self, workspace: str, limit: int | None = None) -> list[tuple[str, int]]:
        """``(identifier, defining chunk)`` for hybrid search, at most ``limit`` (default
        ``max_queries``) drawn with the seed: the last part of the name of a function, class or
        method inserted in ``workspace``, at least 4 characters, not a dunder, and the last part
        of no other chunk's name there (its defining chunk is the one right answer)."""
        members = self.workspaces()[workspace]
        by_name: dict[str, list[int]] = defaultdict(list)
        for i in members:
            c = self.chunks[i]
            if c.kind in ("function", "class", "method"):
                by_name[c.name.rpartition(".")[2]].append(i)
        names = sorted(n for n, found in by_name.items()
                       if len(found) == 1 and len(n) >= 4 and not n.startswith("__"))
        rng = np.random.default_rng([self.seed, zlib.crc32(workspace.encode()), 3])
        count = min(self.max_queries if limit is None else limit, len(names))
        return [(names[int(j)], by_name[names[int(j)]][0])
                for j in sorted(rng.choice(len(names), count, replace=False))]

    def sizes(self) -> dict[str, dict[str, int]]:
        """Per workspace: chunks inserted, of which Documentation, and held-out queries."""
        out = {}
        for name, members in self.workspaces().items():
            docs = sum(self.chunks[i].content_type == "Documentation" for i in members)
            out[name] = {"chunks": len(members), "documentation": docs,
                         "held_out": len(self.same_queries(name)) if name != SUPERSET else 0}
        return out


# -- public entry points ---------------------------------------------------------------------------


def build(size: str = "small", *, seed: int = 0, max_queries: int = 40, cache: Path | None = CACHE,
          stdlib: Path | None = None) -> Dataset:
    """The dataset of ``size`` (``tiny``: json, email, html, urllib, a few seconds to build;
    ``small``: all of Lib/; ``full``: all of Lib/ plus the superset workspace), from the cache
    when it holds it (``cache=None``: no cache)."""
    packages, superset = SIZES[size]
    root = Path(stdlib or sysconfig.get_paths()["stdlib"])
    params = {"version": VERSION, "python": sys.version.split()[0], "stdlib": str(root),
              "packages": list(packages) if packages else None, "seed": seed,
              "min_workspace": MIN_WORKSPACE, "max_chars": MAX_CHARS, "dims": list(DIMS)}
    key = hashlib.sha1(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]
    stem = f"stdlib-py{params['python']}-{size if size != 'full' else 'small'}-{key}"
    loaded = _load(cache, stem) if cache is not None else None
    if loaded is not None:
        chunks, vectors, graph, model = loaded
        return Dataset(key, params, chunks, vectors, graph, seed, max_queries, superset, from_cache=True,
                       model=model)
    began = time.perf_counter()
    chunks, graph = _parse(root, packages)
    vectors, chunks, model = _embed(chunks, seed)
    took = time.perf_counter() - began
    if cache is not None:
        _save(cache, stem, params, chunks, vectors, graph, model)
    logger.info("dataset %s: %d chunks embedded in %.1f s", stem, len(chunks), took)
    return Dataset(key, params, chunks, vectors, graph, seed, max_queries, superset, build_seconds=took,
                   model=model)


def random_vectors(n: int, dims: int, seed: int = 0) -> np.ndarray:
    """``n`` random unit vectors of ``dims`` float32: the adversarial case (no structure)."""
    x = np.random.default_rng(seed).standard_normal((n, dims), dtype=np.float32)
    out: np.ndarray = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    return out


def random_like(dataset: Dataset, dims: int, seed: int = 0) -> np.ndarray:
    """Random unit vectors shaped like ``dataset``'s embeddings of ``dims``: same chunks, same
    workspaces and queries, no structure."""
    return random_vectors(len(dataset.chunks), dims, seed)


# -- parsing ---------------------------------------------------------------------------------------


def _files(root: Path, packages: Sequence[str] | None) -> list[Path]:
    out = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if SKIP_PARTS & set(rel.parts) or path.suffix not in (".py", ".txt", ".rst") or not path.is_file():
            continue
        top = rel.parts[0] if len(rel.parts) > 1 else None
        if packages is not None and top not in packages:
            continue
        out.append(path)
    return out


def _parse(root: Path, packages: Sequence[str] | None) -> tuple[list[ChunkRecord], Graph]:
    """Chunks (workspace still the top-level package, merged below) and the graph of Lib/."""
    chunks: list[ChunkRecord] = []
    graph = Graph()
    for path in _files(root, packages):
        rel = path.relative_to(root).as_posix()
        group = rel.split("/", 1)[0] if "/" in rel else OTHER
        try:
            source = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        if path.suffix != ".py":
            lines = source.count("\n") + 1
            chunks.append(ChunkRecord(group, rel, 0, rel, rel, 1, lines, "Documentation", "text",
                                      source[:MAX_CHARS]))
            continue
        try:
            tree = ast.parse(source, filename=rel)
        except SyntaxError:
            continue  # lib2to3's Python 2 fixtures and the like
        chunks.extend(_module_chunks(group, rel, source, tree, graph))
    counts = Counter(c.workspace for c in chunks)
    small = {g for g, n in counts.items() if n < MIN_WORKSPACE}
    if small and packages is None:
        chunks = [_moved(c, OTHER) if c.workspace in small else c for c in chunks]
    return chunks, graph


def _moved(c: ChunkRecord, workspace: str) -> ChunkRecord:
    return ChunkRecord(workspace, c.content_id, c.chunk_index, c.name, c.file_path, c.start_line,
                       c.end_line, c.content_type, c.kind, c.content)


def module_name(rel: str) -> str:
    """``json/decoder.py`` -> ``json.decoder``, ``json/__init__.py`` -> ``json``."""
    parts = rel.removesuffix(".py").split("/")
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


_Def = ast.FunctionDef | ast.AsyncFunctionDef
_FUNCS = (ast.FunctionDef, ast.AsyncFunctionDef)


def _module_chunks(group: str, rel: str, source: str, tree: ast.Module, graph: Graph) -> list[ChunkRecord]:
    lines = source.splitlines()
    module = module_name(rel)
    out: list[ChunkRecord] = []

    def add(name: str, node: ast.AST, kind: str, content_type: str, text: str | None = None) -> None:
        start = min([d.lineno for d in getattr(node, "decorator_list", [])] + [node.lineno])  # type: ignore[attr-defined]
        end = node.end_lineno or start  # type: ignore[attr-defined]
        body = text if text is not None else "\n".join(lines[start - 1:end])
        if body.strip():
            out.append(ChunkRecord(group, rel, len(out), name, rel, start, end, content_type, kind,
                                   body[:MAX_CHARS]))

    graph.nodes[module] = "module"
    doc = _docstring(tree)
    if doc is not None:
        add(f"{module}.__doc__", doc[0], "module-doc", "Documentation", doc[1])
    top: Counter[str] = Counter(n.name for n in tree.body if isinstance(n, (*_FUNCS, ast.ClassDef)))
    for node in tree.body:
        if isinstance(node, _FUNCS):
            add(f"{module}.{node.name}", node, "function", "Code")
        elif isinstance(node, ast.ClassDef):
            add(f"{module}.{node.name}", node, "class", "Code")
            cdoc = _docstring(node)
            if cdoc is not None:
                add(f"{module}.{node.name}.__doc__", cdoc[0], "class-doc", "Documentation", cdoc[1])
            for item in node.body:
                if isinstance(item, _FUNCS):
                    add(f"{module}.{node.name}.{item.name}", item, "method", "Code")
    package = module if rel.endswith("__init__.py") else module.rpartition(".")[0]
    _graph(graph, module, package, tree, top)
    return out


def _docstring(node: ast.Module | ast.ClassDef) -> tuple[ast.AST, str] | None:
    if node.body and isinstance(first := node.body[0], ast.Expr) and isinstance(first.value, ast.Constant) \
            and isinstance(first.value.value, str) and first.value.value.strip():
        return first, ast.get_docstring(node) or first.value.value
    return None


# -- the code graph --------------------------------------------------------------------------------


def _imports(tree: ast.Module, package: str) -> dict[str, str]:
    """Top-level import aliases: local name -> dotted target (relative imports resolved
    against ``package``, the module's own package)."""
    out: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Import):
            for a in node.names:
                out[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)] if node.level > 1 else anchor
                base = ".".join([*anchor, base] if base else anchor)
            for a in node.names:
                if a.name != "*":
                    out[a.asname or a.name] = f"{base}.{a.name}"
    return out


def _graph(graph: Graph, module: str, package: str, tree: ast.Module, top: Counter[str]) -> None:
    """Add the module's classes and functions, and their Contains, Calls and Inherits edges."""
    unique = {n for n, c in top.items() if c == 1}
    imports = _imports(tree, package)
    builtin = set(dir(builtins))

    def base_target(expr: ast.expr) -> str | None:
        text = ast.unparse(expr)
        if not re.fullmatch(r"[A-Za-z_][\w.]*", text):
            return None  # Generic[T], a call, ...
        head, _, rest = text.partition(".")
        if not rest and head in unique:
            return f"{module}.{head}"
        if head in imports:
            return imports[head] + (f".{rest}" if rest else "")
        if not rest and head in builtin:
            return f"builtins.{head}"
        return None

    for node in tree.body:
        if isinstance(node, _FUNCS):
            fid = f"{module}.{node.name}"
            graph.nodes[fid] = "function"
            graph.edges.append((module, fid, "Contains"))
            _calls(graph, fid, node, module, unique, None, set())
        elif isinstance(node, ast.ClassDef):
            cid = f"{module}.{node.name}"
            graph.nodes[cid] = "class"
            graph.edges.append((module, cid, "Contains"))
            for base in node.bases:
                target = base_target(base)
                if target is not None:
                    local = target.startswith(module + ".")
                    graph.nodes.setdefault(target, "class" if local else "external-class")
                    graph.edges.append((cid, target, "Inherits"))
            methods = Counter(i.name for i in node.body if isinstance(i, _FUNCS))
            own = {n for n, c in methods.items() if c == 1}
            for item in node.body:
                if isinstance(item, _FUNCS):
                    mid = f"{cid}.{item.name}"
                    graph.nodes[mid] = "function"
                    graph.edges.append((cid, mid, "Contains"))
                    _calls(graph, mid, item, module, unique, cid, own)


def _calls(graph: Graph, caller: str, node: _Def, module: str, unique: set[str], cls: str | None,
           methods: set[str]) -> None:
    """Calls edges out of ``caller``: ``f()`` to the module's one top-level ``f`` (not shadowed
    by a parameter), ``self.m()`` / ``cls.m()`` to the class's one method ``m``."""
    params = {a.arg for a in (*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs)}
    seen: set[str] = set()
    for sub in ast.walk(node):
        if not isinstance(sub, ast.Call):
            continue
        f, target = sub.func, None
        if isinstance(f, ast.Name) and f.id in unique and f.id not in params:
            target = f"{module}.{f.id}"
        elif (cls is not None and isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name)
              and f.value.id in ("self", "cls") and f.attr in methods):
            target = f"{cls}.{f.attr}"
        if target is not None and target != caller and target not in seen:
            seen.add(target)
            graph.edges.append((caller, target, "Calls"))


# -- embedding -------------------------------------------------------------------------------------

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CAMEL = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")


def _tokens(text: str) -> list[str]:
    """Identifiers and words, lower-cased; a compound identifier also yields its parts
    (``JSONDecodeError`` -> jsondecodeerror, json, decode, error; ``raw_decode`` -> raw, decode)."""
    out: list[str] = []
    for ident in _IDENT.findall(text):
        low = ident.lower().strip("_")
        if len(low) < 2:
            continue
        out.append(low)
        parts = [p.lower() for piece in ident.split("_") for p in _CAMEL.findall(piece)]
        if len(parts) > 1:
            out.extend(p for p in parts if len(p) > 1)
    return out


def _embed(chunks: list[ChunkRecord], seed: int,
           ) -> tuple[dict[int, np.ndarray], list[ChunkRecord], QueryModel]:
    """TF-IDF (sublinear tf, identifiers split, terms in 2+ chunks and at most half of them)
    then a randomized truncated SVD to 768 components; the 384-d embedding is the first 384.
    Rows are L2-normalised float32; chunks whose vector is (nearly) zero are dropped. Also the
    fitted model, to embed queries the same way."""
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = [f"{c.name.replace('.', ' ')} {c.content}" for c in chunks]
    tfidf = TfidfVectorizer(analyzer=_tokens, min_df=2, max_df=0.5, sublinear_tf=True,
                            max_features=1 << 16, dtype=np.float32)
    matrix = tfidf.fit_transform(texts)
    top = max(DIMS)
    components = min(top, matrix.shape[1] - 1, matrix.shape[0] - 1)
    svd = TruncatedSVD(n_components=components, algorithm="randomized", n_iter=4, random_state=seed)
    reduced = svd.fit_transform(matrix).astype(np.float32)
    basis = svd.components_.astype(np.float32)
    if components < top:  # a tiny corpus: fewer components than dimensions, the rest are zero
        reduced = np.hstack([reduced, np.zeros((reduced.shape[0], top - components), np.float32)])
        basis = np.vstack([basis, np.zeros((top - components, basis.shape[1]), np.float32)])
    model = QueryModel({str(t): int(i) for t, i in tfidf.vocabulary_.items()},
                       tfidf.idf_.astype(np.float32), basis)
    vectors: dict[int, np.ndarray] = {}
    keep = np.ones(len(chunks), bool)
    for dims in DIMS:
        part = reduced[:, :dims]
        norms = np.linalg.norm(part, axis=1)
        keep &= norms > 1e-3
        vectors[dims] = part
    for dims in DIMS:
        part = vectors[dims][keep]
        vectors[dims] = np.ascontiguousarray(part / np.linalg.norm(part, axis=1, keepdims=True), np.float32)
    return vectors, [c for c, k in zip(chunks, keep, strict=True) if k], model


# -- the cache -------------------------------------------------------------------------------------


def _save(cache: Path, stem: str, params: dict[str, Any], chunks: list[ChunkRecord],
          vectors: dict[int, np.ndarray], graph: Graph, model: QueryModel) -> None:
    cache.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, Any] = {f"v{d}": v for d, v in vectors.items()}
    terms = sorted(model.terms, key=model.terms.__getitem__)
    arrays |= {"terms": np.array(terms), "idf": model.idf, "components": model.components}
    np.savez(cache / f"{stem}.npz", **arrays)
    doc = {"params": params, "chunks": [asdict(c) for c in chunks],
           "graph": {"nodes": graph.nodes, "edges": graph.edges}}
    tmp = cache / f"{stem}.json.tmp"
    tmp.write_text(json.dumps(doc), encoding="utf-8")
    tmp.replace(cache / f"{stem}.json")  # written last: its presence means the .npz is complete


def _load(cache: Path, stem: str,
          ) -> tuple[list[ChunkRecord], dict[int, np.ndarray], Graph, QueryModel] | None:
    meta, arrays = cache / f"{stem}.json", cache / f"{stem}.npz"
    if not (meta.exists() and arrays.exists()):
        return None
    try:
        doc = json.loads(meta.read_text(encoding="utf-8"))
        with np.load(arrays) as npz:
            vectors = {d: np.asarray(npz[f"v{d}"], np.float32) for d in DIMS}
            # a cache written before the query model was kept lacks these: built again
            model = QueryModel({str(t): i for i, t in enumerate(npz["terms"])},
                               np.asarray(npz["idf"], np.float32), np.asarray(npz["components"], np.float32))
    except (OSError, ValueError, KeyError) as exc:
        logger.warning("dataset cache %s unreadable (%s): building again", stem, exc)
        return None
    chunks = [ChunkRecord(**c) for c in doc["chunks"]]
    edges = [(str(s), str(t), str(k)) for s, t, k in doc["graph"]["edges"]]
    graph = Graph(dict(doc["graph"]["nodes"]), edges)
    if any(len(v) != len(chunks) for v in vectors.values()):
        return None
    return chunks, vectors, graph, model
