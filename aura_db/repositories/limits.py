"""The length limit of every ``varchar(n)`` column, as the migrations declare it.

:func:`~aura_db.repositories.checks.check_text` reads its limit here, so a value too long for its
column is refused before the round trip with a message naming table, field and limit. This table
is the one place Python states those limits; ``tests/test_limits.py`` compares it with the
catalog of the migrated database, so a migration that changes a length fails the suite until the
entry here changes with it.
"""

from __future__ import annotations

import re

__all__ = ["VARCHAR_LIMITS", "column_limit"]

VARCHAR_LIMITS: dict[str, dict[str, int]] = {
    "agent_executions": {"agent_id": 100, "provider": 100, "model": 100},
    "code_edges": {"edge_type": 50},
    "code_nodes": {"name": 500, "fully_qualified_name": 1000, "node_type": 50, "file_path": 1000,
        "repository_path": 1000},
    "configurations": {"key": 200},
    "conversations": {"title": 500, "agent_id": 100, "repository_path": 1000, "created_by": 200,
        "updated_by": 200},
    "index_metadata": {"file_path": 1000, "workspace_path": 1000, "content_hash": 64, "index_type": 50},
    "message_rag_contexts": {"content_id": 500, "source_path": 1000, "content_type": 50},
    "messages": {"role": 20, "model": 100},
    "rag_chunks": {"workspace_id": 16, "content_id": 500, "source_path": 1000, "content_type": 50,
        "title": 500},
    "rag_search_calibrations": {"workspace_id": 16},
    "sessions": {"client_id": 200},
    "stories": {"title": 500, "repository_path": 1000, "status": 50, "worktree_path": 1000,
        "git_branch": 500, "issue_url": 1000, "issue_provider": 50, "issue_owner": 100,
        "issue_repo": 100, "automation_mode": 50, "dispatch_target": 50, "source": 50,
        "source_guardian_id": 100, "pattern_name": 100, "pattern_language": 50, "priority": 50,
        "suggested_capability": 100, "gate_mode": 50, "pull_request_url": 1000, "created_by": 200,
        "updated_by": 200},
    "story_steps": {"name": 500, "capability": 100, "status": 50, "assigned_agent_id": 100,
        "approval": 50, "created_by": 200, "updated_by": 200},
    "story_tasks": {"status": 50},
    "tool_executions": {"tool_name": 200, "status": 50},
    "workspaces": {"id": 16, "name": 500, "path": 1000, "current_commit_sha": 40,
        "rag_indexed_commit_sha": 40, "graph_indexed_commit_sha": 40, "created_by": 200,
        "updated_by": 200},
}

_COLUMN = re.compile(r"[a-z_][a-z0-9_]*")


def column_limit(table: str, field: str) -> int | None:
    """The ``varchar`` length of ``table.field``, or None for a column without one. ``field`` may
    go on after the column name, as messages say where in a batch it is (``name[3]``,
    ``title: chunk 2``)."""
    column = _COLUMN.match(field)
    return VARCHAR_LIMITS.get(table, {}).get(column.group(0)) if column else None
