-- depends: 0004_story_link_indexes 0013_workspace_isolation_policies
-- Developer 0005: the developer module's tables under foundation 0013's row-level security.
--   stories        repository_path = the scoped workspace's path
--   story_steps    their story visible;  story_tasks  their step visible
--   agent_executions (foundation's policy, widened): its conversation or its story step visible
-- Like foundation 0013's, these act only where `aura-db isolation on` enabled row-level security.

CREATE POLICY workspace_isolation ON stories
    USING (repository_path = (SELECT w.path FROM workspaces w
                              WHERE w.id = current_setting('aura.workspace_id', true)));

CREATE POLICY workspace_isolation ON story_steps
    USING (EXISTS (SELECT FROM stories s WHERE s.id = story_id));

CREATE POLICY workspace_isolation ON story_tasks
    USING (EXISTS (SELECT FROM story_steps s WHERE s.id = step_id));

ALTER POLICY workspace_isolation ON agent_executions
    USING (EXISTS (SELECT FROM conversations c WHERE c.id = conversation_id)
           OR EXISTS (SELECT FROM story_steps s WHERE s.id = story_step_id));
