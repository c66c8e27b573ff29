"""The SQL the raw-psycopg contender sends: aura-db's queries, written out by hand with
psycopg's own placeholders, as a developer using psycopg directly would write them."""

from __future__ import annotations

__all__ = [
    "APPEND_MESSAGE",
    "COPY_CHUNKS",
    "COPY_CHUNK_TYPES",
    "GET_STORY",
    "INSERT_CHUNK",
    "LIST_STEPS",
    "LIST_STORIES",
    "LIST_TASKS",
    "NO_FILTERS",
    "SEARCH_CHUNKS",
]

GET_STORY = "SELECT * FROM stories WHERE id = %s AND deleted_at IS NULL"

APPEND_MESSAGE = """
INSERT INTO messages (conversation_id, role, content, model, tokens_used)
SELECT c.id, %(role)s, %(content)s, %(model)s, %(tokens_used)s
FROM conversations c
WHERE c.id = %(conversation_id)s AND c.deleted_at IS NULL
RETURNING id, seq, conversation_id, role, content, model, tokens_used, created_at
"""

LIST_STORIES = """
SELECT * FROM stories
WHERE deleted_at IS NULL
  AND (%(statuses)s::text[] IS NULL OR status = ANY (%(statuses)s::text[]))
  AND (%(repository_path)s::text IS NULL OR repository_path = %(repository_path)s::text)
  AND (%(created_from)s::timestamptz IS NULL OR created_at >= %(created_from)s::timestamptz)
  AND (%(created_before)s::timestamptz IS NULL OR created_at < %(created_before)s::timestamptz)
  AND (%(title_like)s::text IS NULL OR title ILIKE %(title_like)s::text ESCAPE '\\')
  AND (%(after_created_at)s::timestamptz IS NULL
       OR (created_at, id) < (%(after_created_at)s::timestamptz, %(after_id)s::uuid))
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s
"""

LIST_STEPS = """
SELECT st.* FROM story_steps st JOIN stories s ON s.id = st.story_id
WHERE st.story_id = %(story_id)s AND st.deleted_at IS NULL AND s.deleted_at IS NULL
  AND (%(wave)s::integer IS NULL OR st.wave = %(wave)s::integer)
ORDER BY st."order", st.id
"""

LIST_TASKS = """
SELECT t.* FROM story_tasks t JOIN story_steps st ON st.id = t.step_id
WHERE st.story_id = %(story_id)s AND st.deleted_at IS NULL
ORDER BY t.step_id, t."order", t.id
"""

COPY_CHUNK_TYPES = ["varchar", "varchar", "int4", "text", "vector", "varchar", "varchar", "varchar", "jsonb"]
COPY_CHUNKS = """
COPY rag_chunks (workspace_id, content_id, chunk_index, content, embedding, source_path,
                 content_type, title, metadata)
FROM STDIN WITH (FORMAT BINARY)
"""

INSERT_CHUNK = """
INSERT INTO rag_chunks (workspace_id, content_id, chunk_index, content, embedding, source_path,
                        content_type, title, metadata)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
"""

# aura-db's HNSW query (sql/queries/rag_chunks.sql, search_hnsw_768), written out: the index is
# partial on embedding_dims and built on the column cast to its size, so a query uses it when it
# repeats both; the nearest rows are then re-sorted by (distance, id).
SEARCH_CHUNKS = """
WITH nearest AS MATERIALIZED (
    SELECT id, content_id, chunk_index, content, source_path, content_type, title,
           embedding::vector(768) <=> %(embedding)s::vector(768) AS distance
    FROM rag_chunks
    WHERE embedding_dims = 768 AND workspace_id = %(workspace_id)s
      AND (%(content_types)s::text[] IS NULL OR content_type = ANY (%(content_types)s::text[]))
      AND (%(path_like)s::text IS NULL OR source_path LIKE %(path_like)s::text ESCAPE '\\')
    ORDER BY embedding::vector(768) <=> %(embedding)s::vector(768)
    LIMIT %(limit)s
)
SELECT id, content_id, chunk_index, content, source_path, content_type, title, 1 - distance AS score
FROM nearest
ORDER BY distance, id
"""
NO_FILTERS = {"content_types": None, "path_like": None}
