-- Index metadata: per file of a workspace and per index type ('rag' | 'graph'), the content hash
-- the file was last indexed from. Indexers diff the files on disk against it to re-index only
-- what changed. All queries take whole file sets as arrays: one round trip per call.

-- name: diff_index_metadata
-- Files that are new (on disk, not indexed), changed (hash differs) or deleted (indexed, no
-- longer on disk), comparing the arrays in step (path, hash) against the stored rows.
SELECT coalesce(f.file_path, m.file_path) AS file_path,
       CASE WHEN m.file_path IS NULL THEN 'new'
            WHEN f.file_path IS NULL THEN 'deleted'
            ELSE 'changed' END AS change
FROM unnest(%(paths)s::text[], %(hashes)s::text[]) AS f(file_path, content_hash)
FULL JOIN (
    SELECT file_path, content_hash
    FROM index_metadata
    WHERE workspace_path = %(workspace_path)s AND index_type = %(index_type)s
) m ON m.file_path = f.file_path
WHERE m.file_path IS NULL OR f.file_path IS NULL OR m.content_hash <> f.content_hash
ORDER BY 1;

-- name: record_index_metadata!
-- Upsert the indexed files (arrays in step: path, hash) with their hash and index time.
INSERT INTO index_metadata (file_path, workspace_path, index_type, content_hash, indexed_at)
SELECT f.file_path, %(workspace_path)s, %(index_type)s, f.content_hash,
       coalesce(%(indexed_at)s::timestamptz, now())
FROM unnest(%(paths)s::text[], %(hashes)s::text[]) AS f(file_path, content_hash)
ON CONFLICT (file_path, workspace_path, index_type) DO UPDATE
SET content_hash = EXCLUDED.content_hash, indexed_at = EXCLUDED.indexed_at;

-- name: forget_index_metadata!
-- Drop the records of these files (after they were deleted or removed from the index).
DELETE FROM index_metadata
WHERE workspace_path = %(workspace_path)s AND index_type = %(index_type)s
  AND file_path = ANY(%(paths)s::text[]);

-- name: clear_index_metadata!
-- Drop every record of a workspace for one index type (a full re-index follows).
DELETE FROM index_metadata
WHERE workspace_path = %(workspace_path)s AND index_type = %(index_type)s;

-- name: list_index_metadata
-- The recorded files of a workspace for one index type, by path.
SELECT id, file_path, workspace_path, content_hash, indexed_at, index_type
FROM index_metadata
WHERE workspace_path = %(workspace_path)s AND index_type = %(index_type)s
ORDER BY file_path;
