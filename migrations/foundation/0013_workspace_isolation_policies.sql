-- depends: 0012_search_index_maintenance
-- Foundation 0013: row-level security per workspace (opt-in).
--
-- One policy, workspace_isolation, on every table whose rows belong to a workspace: a row is
-- visible and writable only in a transaction scoped to its workspace, i.e. with the
-- transaction-local setting aura.workspace_id (db.transaction(workspace=...) sets it, a
-- Database(Config(workspace_id=...)) gives every connection a default). Without a scope nothing
-- matches: forgetting it returns no rows, and writes fail, rather than everything.
--
-- The policies take effect only where row-level security is enabled, and `aura-db isolation on`
-- (run by the owner) enables it on exactly the tables that have this policy; it is off until
-- then. The tables' owner is exempt (PostgreSQL's rule: no FORCE ROW LEVEL SECURITY), so
-- migrations and owner tools see every row; the application and read-only roles are subject.
--
-- How a table reaches its workspace:
--   workspaces                               id
--   rag_chunks, rag_search_calibrations      workspace_id
--   index_metadata                           workspace_path = the scoped workspace's path
--   code_nodes, conversations                repository_path = the scoped workspace's path
--   code_edges                               both nodes visible
--   messages / message_rag_contexts          their conversation / message visible
--   agent_executions                         its conversation visible (developer 0005 adds: or
--                                            its story step); a run tied to neither is hidden
--   tool_executions                          its agent execution visible
-- The path is read once per statement (an InitPlan), through workspaces' own policy. FK
-- checks and ON DELETE CASCADE are not subject to policies (PostgreSQL runs them as the owner).

CREATE POLICY workspace_isolation ON workspaces
    USING (id = current_setting('aura.workspace_id', true));

CREATE POLICY workspace_isolation ON rag_chunks
    USING (workspace_id = current_setting('aura.workspace_id', true));

CREATE POLICY workspace_isolation ON rag_search_calibrations
    USING (workspace_id = current_setting('aura.workspace_id', true));

CREATE POLICY workspace_isolation ON index_metadata
    USING (workspace_path = (SELECT w.path FROM workspaces w
                             WHERE w.id = current_setting('aura.workspace_id', true)));

CREATE POLICY workspace_isolation ON code_nodes
    USING (repository_path = (SELECT w.path FROM workspaces w
                              WHERE w.id = current_setting('aura.workspace_id', true)));

CREATE POLICY workspace_isolation ON code_edges
    USING (EXISTS (SELECT FROM code_nodes n WHERE n.id = source_node_id)
           AND EXISTS (SELECT FROM code_nodes n WHERE n.id = target_node_id));

CREATE POLICY workspace_isolation ON conversations
    USING (repository_path = (SELECT w.path FROM workspaces w
                              WHERE w.id = current_setting('aura.workspace_id', true)));

CREATE POLICY workspace_isolation ON messages
    USING (EXISTS (SELECT FROM conversations c WHERE c.id = conversation_id));

CREATE POLICY workspace_isolation ON message_rag_contexts
    USING (EXISTS (SELECT FROM messages m WHERE m.id = message_id));

CREATE POLICY workspace_isolation ON agent_executions
    USING (EXISTS (SELECT FROM conversations c WHERE c.id = conversation_id));

CREATE POLICY workspace_isolation ON tool_executions
    USING (EXISTS (SELECT FROM agent_executions a WHERE a.id = agent_execution_id));
