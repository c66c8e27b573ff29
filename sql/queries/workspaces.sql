-- Workspaces: registered source trees, keyed by the hash of their normalized path.
-- The id is computed by the application (aura_db.repositories.workspaces.workspace_id).

-- name: upsert_workspace^
-- Register a workspace, or refresh (and un-delete) the one at the same path.
INSERT INTO workspaces AS w (id, name, path, is_git_repository, current_commit_sha)
VALUES (%(id)s, %(name)s, %(path)s, %(is_git_repository)s, %(current_commit_sha)s)
ON CONFLICT (id) DO UPDATE
SET name = EXCLUDED.name,
    is_git_repository = EXCLUDED.is_git_repository,
    current_commit_sha = coalesce(EXCLUDED.current_commit_sha, w.current_commit_sha),
    deleted_at = NULL
RETURNING *;

-- name: get_workspace?
-- The live (not soft-deleted) workspace with this id, or none.
SELECT * FROM workspaces WHERE id = %(id)s AND deleted_at IS NULL;

-- name: list_workspaces
-- Every live workspace, by name.
SELECT * FROM workspaces WHERE deleted_at IS NULL ORDER BY name, id;

-- name: count_workspaces$
-- How many live workspaces there are.
SELECT count(*) FROM workspaces WHERE deleted_at IS NULL;

-- name: mark_rag_indexed?
-- Record that the RAG index of a workspace was completed at a commit.
UPDATE workspaces
SET rag_indexed_at = coalesce(%(at)s, now()), rag_indexed_commit_sha = %(commit_sha)s,
    current_commit_sha = coalesce(%(commit_sha)s, current_commit_sha)
WHERE id = %(id)s AND deleted_at IS NULL
RETURNING *;

-- name: mark_graph_indexed?
-- Record that the code graph of a workspace was completed at a commit.
UPDATE workspaces
SET graph_indexed_at = coalesce(%(at)s, now()), graph_indexed_commit_sha = %(commit_sha)s,
    current_commit_sha = coalesce(%(commit_sha)s, current_commit_sha)
WHERE id = %(id)s AND deleted_at IS NULL
RETURNING *;

-- name: soft_delete_workspace!
-- Hide a workspace (its rows stay until purged).
UPDATE workspaces SET deleted_at = now() WHERE id = %(id)s AND deleted_at IS NULL;

-- name: restore_workspace!
-- Bring back a soft-deleted workspace.
UPDATE workspaces SET deleted_at = NULL WHERE id = %(id)s AND deleted_at IS NOT NULL;

-- name: purge_workspace!
-- Delete a workspace for good, with everything that belongs to it, in one statement: its
-- chunks and search calibrations (foreign keys, ON DELETE CASCADE), its index_metadata (keyed by
-- the workspace's path) and the code graph of the repository at its path (code_edges cascade).
-- Registering the path again starts from nothing.
WITH ws AS (
    SELECT path FROM workspaces WHERE id = %(id)s FOR UPDATE
), metadata AS (
    DELETE FROM index_metadata m USING ws WHERE m.workspace_path = ws.path
), graph AS (
    DELETE FROM code_nodes n USING ws WHERE n.repository_path = ws.path
)
DELETE FROM workspaces w USING ws WHERE w.id = %(id)s;
