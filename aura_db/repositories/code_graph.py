"""The code graph (002 §1.6-1.7): bulk upsert of a repository's symbols and relationships,
file replacement, symbol lookup and traversals (children, callers, callees, implementations,
inheritors, references) with cycle protection and a depth cap."""

from __future__ import annotations

import enum
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.rows import class_row

from ..errors import InvalidValue
from .checks import (
    check_enum,
    check_int,
    check_json,
    check_text,
    show,
)

__all__ = [
    "CodeEdge",
    "CodeEdgeType",
    "CodeNode",
    "CodeNodeRow",
    "CodeNodeType",
    "GraphHit",
    "NodeKey",
]

_T = "code_nodes"
_E = "code_edges"
MAX_DEPTH = 20


class CodeNodeType(enum.StrEnum):
    PROJECT = "Project"
    NAMESPACE = "Namespace"
    CLASS = "Class"
    INTERFACE = "Interface"
    STRUCT = "Struct"
    RECORD = "Record"
    ENUM = "Enum"
    METHOD = "Method"
    PROPERTY = "Property"
    FIELD = "Field"
    EVENT = "Event"
    DELEGATE = "Delegate"
    CONSTRUCTOR = "Constructor"
    FUNCTION = "Function"
    MODULE = "Module"


class CodeEdgeType(enum.StrEnum):
    CONTAINS = "Contains"
    IMPLEMENTS = "Implements"
    INHERITS = "Inherits"
    CALLS = "Calls"
    REFERENCES = "References"
    RETURNS = "Returns"
    OVERRIDES = "Overrides"


@dataclass(frozen=True, slots=True)
class NodeKey:
    """A node's natural key within its repository."""

    fully_qualified_name: str
    node_type: CodeNodeType | str


@dataclass(frozen=True, slots=True)
class CodeNode:
    """A symbol to upsert (its repository is the call's)."""

    name: str
    fully_qualified_name: str
    node_type: CodeNodeType | str
    file_path: str | None = None
    start_line: int | None = None
    end_line: int | None = None
    signature: str | None = None
    documentation: str | None = None
    metadata: Any = None

    @property
    def key(self) -> NodeKey:
        return NodeKey(self.fully_qualified_name, self.node_type)


@dataclass(frozen=True, slots=True)
class CodeEdge:
    """A relationship to upsert; endpoints by id or by natural key in the call's repository."""

    source: NodeKey | uuid.UUID
    target: NodeKey | uuid.UUID
    edge_type: CodeEdgeType | str
    metadata: Any = None


@dataclass(frozen=True, slots=True)
class CodeNodeRow:
    id: uuid.UUID
    name: str
    fully_qualified_name: str
    node_type: str
    file_path: str | None
    start_line: int | None
    end_line: int | None
    signature: str | None
    documentation: str | None
    repository_path: str | None
    metadata: Any
    created_at: datetime


@dataclass(frozen=True, slots=True)
class GraphHit:
    """A node reached by a traversal: its minimal ``depth`` (hops), the node ``path`` from the
    start (start first, this node last) and the edge types along it."""

    node: CodeNodeRow
    depth: int
    path: list[uuid.UUID]
    edges: list[str]


_node_row = class_row(CodeNodeRow)
_NODE_COPY = ["text", "text", "text", "text", "text", "int4", "int4", "text", "text", "jsonb"]
_EDGE_COPY = ["int4", "text", "uuid", "text", "text", "uuid", "text", "text", "text", "jsonb"]


def _hit(cursor: Any) -> Any:
    def make(values: Sequence[Any]) -> GraphHit:
        return GraphHit(CodeNodeRow(*values[:12]), values[12], list(values[13]), list(values[14]))

    return make




# -- validation, before the round trip -------------------------------------------------------------


def _node_tuple(repo: str | None, i: int, node: CodeNode) -> tuple[Any, ...]:
    if not isinstance(node, CodeNode):
        raise InvalidValue(f"{_T}: node {i}: expected a CodeNode, got {type(node).__name__}")
    where = f"node {i} ({node.fully_qualified_name!r})"
    start = check_int(_T, f"start_line: {where}", node.start_line, minimum=1)
    end = check_int(_T, f"end_line: {where}", node.end_line, minimum=1)
    if start is not None and end is not None and end < start:
        raise InvalidValue(f"{_T}.end_line: {where}: {end} is before start_line {start}")
    return (
        repo,
        check_text(_T, f"name: {where}", node.name),
        check_text(_T, f"fully_qualified_name: {where}", node.fully_qualified_name),
        check_enum(_T, f"node_type: {where}", node.node_type, CodeNodeType).value,
        check_text(_T, f"file_path: {where}", node.file_path, required=False),
        start, end,
        check_text(_T, f"signature: {where}", node.signature, required=False, allow_blank=True),
        check_text(_T, f"documentation: {where}", node.documentation, required=False, allow_blank=True),
        check_json(_T, f"metadata: {where}", node.metadata),
    )


def _endpoint(end: object, field: str, where: str) -> tuple[uuid.UUID | None, str | None, str | None]:
    if isinstance(end, uuid.UUID):
        return end, None, None
    if not isinstance(end, NodeKey):
        raise InvalidValue(f"{_E}.{field}: {where}: expected a node id or NodeKey, got {show(end)}")
    fqn = check_text(_T, f"fully_qualified_name: {where} {field}", end.fully_qualified_name)
    return None, fqn, check_enum(_T, f"node_type: {where} {field}", end.node_type, CodeNodeType).value


def _edge_tuple(repo: str | None, i: int, edge: CodeEdge) -> tuple[Any, ...]:
    if not isinstance(edge, CodeEdge):
        raise InvalidValue(f"{_E}: edge {i}: expected a CodeEdge, got {type(edge).__name__}")
    where = f"edge {i}"
    kind = check_enum(_E, f"edge_type: {where}", edge.edge_type, CodeEdgeType).value
    return (i, repo, *_endpoint(edge.source, "source", where), *_endpoint(edge.target, "target", where),
            kind, check_json(_E, f"metadata: {where}", edge.metadata))


def _unique(rows: list[tuple[Any, ...]]) -> None:
    seen: dict[tuple[str, str], int] = {}
    for i, row in enumerate(rows):
        first = seen.setdefault((row[2], row[3]), i)
        if first != i:
            raise InvalidValue(f"{_T}: node {i} ({row[2]!r}, {row[3]}) repeats node {first}")
