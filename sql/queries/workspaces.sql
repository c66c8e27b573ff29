-- Workspaces: registered source trees, keyed by the hash of their normalized path.

-- name: get_workspace?
-- The live (not soft-deleted) workspace with this id, or none.
SELECT id, name, path, is_git_repository, current_commit_sha,
       rag_indexed_at, rag_indexed_commit_sha, graph_indexed_at, graph_indexed_commit_sha,
       created_at, updated_at, created_by, updated_by, deleted_at, version
FROM workspaces
WHERE id = %(id)s AND deleted_at IS NULL;

-- name: count_workspaces$
-- How many live workspaces there are.
SELECT count(*) FROM workspaces WHERE deleted_at IS NULL;
