-- Undo developer 0003, newest first. Dropping a column drops its foreign key, indexes and comment.
ALTER TABLE agent_executions DROP COLUMN story_step_id;
ALTER TABLE conversations DROP COLUMN story_id;
