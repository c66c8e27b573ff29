-- depends: 0002_conversations 0003_agent_executions 0002_story_steps
--
-- Developer 0003: the links the developer module adds to foundation tables.
--   conversations.story_id          a story's chat; deleting the story deletes its conversations;
--   agent_executions.story_step_id  the step an agent run worked on; the audit row outlives the
--                                   step (SET NULL).
-- Both columns are nullable without a default, so adding them rewrites nothing; each foreign key
-- check scans its table once (all NULL) under the ALTER's lock. Their indexes are built
-- CONCURRENTLY in 0004_story_link_indexes, as both tables are busy.
-- lint: allow adding-foreign-key-constraint -- the columns are new, so validation meets only NULLs; the SHARE ROW EXCLUSIVE lock lasts one pass over each table and waits at most the runner's lock_timeout (5 s) for it

ALTER TABLE conversations
    ADD COLUMN story_id uuid
        CONSTRAINT fk_conversations_story_id REFERENCES stories (id) ON DELETE CASCADE;
COMMENT ON COLUMN conversations.story_id IS
    'Story the conversation belongs to, if any (developer module). Deleting the story deletes it.';

ALTER TABLE agent_executions
    ADD COLUMN story_step_id uuid
        CONSTRAINT fk_agent_executions_story_step_id REFERENCES story_steps (id) ON DELETE SET NULL;
COMMENT ON COLUMN agent_executions.story_step_id IS
    'Story step the run worked on, if any (developer module). Set to NULL when the step is deleted.';
