-- Undo developer 0005: foundation 0013's policy on agent_executions again, and the developer
-- tables without policy (and without row-level security, as a table with it and no policy
-- would hide every row from the application).
ALTER POLICY workspace_isolation ON agent_executions
    USING (EXISTS (SELECT FROM conversations c WHERE c.id = conversation_id));
ALTER TABLE story_tasks DISABLE ROW LEVEL SECURITY;
ALTER TABLE story_steps DISABLE ROW LEVEL SECURITY;
ALTER TABLE stories DISABLE ROW LEVEL SECURITY;
DROP POLICY workspace_isolation ON story_tasks;
DROP POLICY workspace_isolation ON story_steps;
DROP POLICY workspace_isolation ON stories;
