-- The aiosql contender: aura-db's queries in aiosql's own dialect (`:name` parameters,
-- operator suffixes), loaded with aiosql.from_path(..., "psycopg").

-- name: get_story(id)^
SELECT * FROM stories WHERE id = :id AND deleted_at IS NULL;

-- name: append_message(conversation_id, role, content, model, tokens_used)<!
INSERT INTO messages (conversation_id, role, content, model, tokens_used)
SELECT c.id, :role, :content, :model, :tokens_used
FROM conversations c
WHERE c.id = :conversation_id AND c.deleted_at IS NULL
RETURNING id, seq, conversation_id, role, content, model, tokens_used, created_at;

-- name: list_stories(statuses, repository_path, created_from, created_before, title_like, after_created_at, after_id, limit)
SELECT * FROM stories
WHERE deleted_at IS NULL
  AND (:statuses::text[] IS NULL OR status = ANY (:statuses::text[]))
  AND (:repository_path::text IS NULL OR repository_path = :repository_path::text)
  AND (:created_from::timestamptz IS NULL OR created_at >= :created_from::timestamptz)
  AND (:created_before::timestamptz IS NULL OR created_at < :created_before::timestamptz)
  AND (:title_like::text IS NULL OR title ILIKE :title_like::text ESCAPE '\')
  AND (:after_created_at::timestamptz IS NULL
       OR (created_at, id) < (:after_created_at::timestamptz, :after_id::uuid))
ORDER BY created_at DESC, id DESC
LIMIT :limit;

-- name: list_story_steps(story_id, wave)
SELECT st.* FROM story_steps st JOIN stories s ON s.id = st.story_id
WHERE st.story_id = :story_id AND st.deleted_at IS NULL AND s.deleted_at IS NULL
  AND (:wave::integer IS NULL OR st.wave = :wave::integer)
ORDER BY st."order", st.id;

-- name: list_story_tasks_of_story(story_id)
SELECT t.* FROM story_tasks t JOIN story_steps st ON st.id = t.step_id
WHERE st.story_id = :story_id AND st.deleted_at IS NULL
ORDER BY t.step_id, t."order", t.id;

-- name: insert_chunks(workspace_id, content_id, chunk_index, content, embedding, source_path, content_type, title, metadata)*!
INSERT INTO rag_chunks (workspace_id, content_id, chunk_index, content, embedding, source_path,
                        content_type, title, metadata)
VALUES (:workspace_id, :content_id, :chunk_index, :content, :embedding, :source_path,
        :content_type, :title, :metadata);

-- name: search_chunks(embedding, workspace_id, content_types, path_like, limit)
WITH nearest AS MATERIALIZED (
    SELECT id, content_id, chunk_index, content, source_path, content_type, title,
           embedding::vector(768) <=> :embedding::vector(768) AS distance
    FROM rag_chunks
    WHERE embedding_dims = 768 AND workspace_id = :workspace_id
      AND (:content_types::text[] IS NULL OR content_type = ANY (:content_types::text[]))
      AND (:path_like::text IS NULL OR source_path LIKE :path_like::text ESCAPE '\')
    ORDER BY embedding::vector(768) <=> :embedding::vector(768)
    LIMIT :limit
)
SELECT id, content_id, chunk_index, content, source_path, content_type, title, 1 - distance AS score
FROM nearest
ORDER BY distance, id;
