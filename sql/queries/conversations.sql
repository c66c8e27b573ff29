-- Conversations, their messages and the RAG contexts each message was answered with.
-- Column lists are explicit so the row types in aura_db.repositories.conversations stay stable
-- when a migration adds a column. Messages are ordered by seq (identity), never by created_at.

-- name: create_conversation^
-- Start a conversation, optionally for a story.
INSERT INTO conversations (title, agent_id, repository_path, story_id)
VALUES (%(title)s, %(agent_id)s, %(repository_path)s, %(story_id)s)
RETURNING id, title, agent_id, repository_path, story_id, created_at, updated_at,
          created_by, updated_by, deleted_at, version;

-- name: get_conversation?
-- The live (not soft-deleted) conversation with this id, or none.
SELECT id, title, agent_id, repository_path, story_id, created_at, updated_at,
       created_by, updated_by, deleted_at, version
FROM conversations
WHERE id = %(id)s AND deleted_at IS NULL;

-- name: list_conversations
-- Live conversations, newest first, optionally of one agent or story or with a title matching
-- an escaped ILIKE pattern; keyset-paged on (created_at, id) strictly below the cursor.
SELECT id, title, agent_id, repository_path, story_id, created_at, updated_at,
       created_by, updated_by, deleted_at, version
FROM conversations
WHERE deleted_at IS NULL
  AND (%(agent_id)s::text IS NULL OR agent_id = %(agent_id)s::text)
  AND (%(story_id)s::uuid IS NULL OR story_id = %(story_id)s::uuid)
  AND (%(title_like)s::text IS NULL OR title ILIKE %(title_like)s::text ESCAPE '\')
  AND (%(before_created_at)s::timestamptz IS NULL
       OR (created_at, id) < (%(before_created_at)s::timestamptz, %(before_id)s::uuid))
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s;

-- name: rename_conversation?
-- Change the title when the caller's version is current; none when stale, deleted or missing.
UPDATE conversations SET title = %(title)s
WHERE id = %(id)s AND version = %(expected_version)s AND deleted_at IS NULL
RETURNING id, title, agent_id, repository_path, story_id, created_at, updated_at,
          created_by, updated_by, deleted_at, version;

-- name: soft_delete_conversation!
-- Hide a conversation (its messages stay until it is purged).
UPDATE conversations SET deleted_at = now() WHERE id = %(id)s AND deleted_at IS NULL;

-- name: restore_conversation!
-- Bring back a soft-deleted conversation.
UPDATE conversations SET deleted_at = NULL WHERE id = %(id)s AND deleted_at IS NOT NULL;

-- name: get_conversation_with_latest_messages
-- One live conversation joined with its latest messages (one row per message, oldest first;
-- one row with NULL message columns when it has none). Nothing when it does not exist.
SELECT c.id, c.title, c.agent_id, c.repository_path, c.story_id, c.created_at, c.updated_at,
       c.created_by, c.updated_by, c.deleted_at, c.version,
       m.id AS m_id, m.seq AS m_seq, m.role AS m_role, m.content AS m_content,
       m.model AS m_model, m.tokens_used AS m_tokens_used, m.created_at AS m_created_at
FROM conversations c
LEFT JOIN LATERAL (
    SELECT id, seq, role, content, model, tokens_used, created_at
    FROM messages
    WHERE conversation_id = c.id
    ORDER BY seq DESC
    LIMIT %(latest)s
) m ON true
WHERE c.id = %(id)s AND c.deleted_at IS NULL
ORDER BY m.seq;

-- name: append_message?
-- Append a message to a live conversation; none when the conversation is missing or deleted.
INSERT INTO messages (conversation_id, role, content, model, tokens_used)
SELECT c.id, %(role)s, %(content)s, %(model)s, %(tokens_used)s
FROM conversations c
WHERE c.id = %(conversation_id)s AND c.deleted_at IS NULL
RETURNING id, seq, conversation_id, role, content, model, tokens_used, created_at;

-- name: page_messages
-- Messages of a live conversation in order, keyset-paged on seq strictly after the cursor.
SELECT m.id, m.seq, m.conversation_id, m.role, m.content, m.model, m.tokens_used, m.created_at
FROM messages m JOIN conversations c ON c.id = m.conversation_id AND c.deleted_at IS NULL
WHERE m.conversation_id = %(conversation_id)s AND m.seq > %(after_seq)s
ORDER BY m.seq
LIMIT %(limit)s;

-- name: attach_rag_contexts
-- Record the RAG chunks a message was answered with, all in one statement (arrays in step).
INSERT INTO message_rag_contexts
    (message_id, query, content_id, chunk_index, chunk_content, score, source_path, content_type)
SELECT %(message_id)s, r.query, r.content_id, r.chunk_index, r.chunk_content, r.score,
       r.source_path, r.content_type
FROM unnest(%(queries)s::text[], %(content_ids)s::text[], %(chunk_indexes)s::int[],
            %(chunk_contents)s::text[], %(scores)s::float8[], %(source_paths)s::text[],
            %(content_types)s::text[])
     AS r(query, content_id, chunk_index, chunk_content, score, source_path, content_type)
WHERE EXISTS (SELECT 1 FROM messages m JOIN conversations c ON c.id = m.conversation_id
              WHERE m.id = %(message_id)s AND c.deleted_at IS NULL)
RETURNING id, message_id, query, content_id, chunk_index, chunk_content, score, source_path,
          content_type, retrieved_at;

-- name: list_rag_contexts
-- The RAG contexts recorded for a message of a live conversation, best score first.
SELECT r.id, r.message_id, r.query, r.content_id, r.chunk_index, r.chunk_content, r.score,
       r.source_path, r.content_type, r.retrieved_at
FROM message_rag_contexts r
JOIN messages m ON m.id = r.message_id
JOIN conversations c ON c.id = m.conversation_id AND c.deleted_at IS NULL
WHERE r.message_id = %(message_id)s
ORDER BY r.score DESC, r.id;

-- name: find_live_message?
-- A message of a live conversation (to tell "no contexts" from "no such message").
SELECT m.id FROM messages m JOIN conversations c ON c.id = m.conversation_id
WHERE m.id = %(message_id)s AND c.deleted_at IS NULL;
