-- Undo developer 0004, newest index first. Runs outside a transaction like the migration itself
-- (yoyo applies the migration's own transactional: false), so CONCURRENTLY is allowed.
DROP INDEX CONCURRENTLY IF EXISTS ix_agent_executions_story_step_id;
DROP INDEX CONCURRENTLY IF EXISTS ix_conversations_story_id;
