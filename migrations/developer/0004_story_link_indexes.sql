-- transactional: false
-- depends: 0003_story_links
--
-- Developer 0004: the indexes behind the foreign keys of 0003_story_links, built CONCURRENTLY
-- so conversations and agent_executions keep taking writes meanwhile (hence no transaction).
-- Without them, deleting a story or a step would scan those tables for referencing rows.
--
-- Retry after a half-failure: as in foundation 0005, aura-db's runner drops INVALID leftovers of
-- an interrupted build before running this file again, and the last statement guards runs by
-- other means (plain yoyo) by refusing to finish while one of these indexes is invalid.

CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_conversations_story_id
    ON conversations (story_id);

CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_agent_executions_story_step_id
    ON agent_executions (story_step_id);

DO $$
DECLARE
    invalid text;
BEGIN
    SELECT string_agg(c.relname, ', ' ORDER BY c.relname) INTO invalid
    FROM pg_index i
    JOIN pg_class c ON c.oid = i.indexrelid
    WHERE NOT i.indisvalid
      AND c.relname IN ('ix_conversations_story_id', 'ix_agent_executions_story_step_id')
      AND pg_table_is_visible(c.oid);
    IF invalid IS NOT NULL THEN
        RAISE EXCEPTION 'invalid index(es): %', invalid
            USING HINT = 'an earlier build was interrupted; this run has dropped them, run migrate again';
    END IF;
END;
$$;
