-- Undo foundation 0013: without its policies, row-level security left on would hide every row
-- from the application, so it is switched off too (what `aura-db isolation off` does).
ALTER TABLE tool_executions DISABLE ROW LEVEL SECURITY;
ALTER TABLE agent_executions DISABLE ROW LEVEL SECURITY;
ALTER TABLE message_rag_contexts DISABLE ROW LEVEL SECURITY;
ALTER TABLE messages DISABLE ROW LEVEL SECURITY;
ALTER TABLE conversations DISABLE ROW LEVEL SECURITY;
ALTER TABLE code_edges DISABLE ROW LEVEL SECURITY;
ALTER TABLE code_nodes DISABLE ROW LEVEL SECURITY;
ALTER TABLE index_metadata DISABLE ROW LEVEL SECURITY;
ALTER TABLE rag_search_calibrations DISABLE ROW LEVEL SECURITY;
ALTER TABLE rag_chunks DISABLE ROW LEVEL SECURITY;
ALTER TABLE workspaces DISABLE ROW LEVEL SECURITY;
DROP POLICY workspace_isolation ON tool_executions;
DROP POLICY workspace_isolation ON agent_executions;
DROP POLICY workspace_isolation ON message_rag_contexts;
DROP POLICY workspace_isolation ON messages;
DROP POLICY workspace_isolation ON conversations;
DROP POLICY workspace_isolation ON code_edges;
DROP POLICY workspace_isolation ON code_nodes;
DROP POLICY workspace_isolation ON index_metadata;
DROP POLICY workspace_isolation ON rag_search_calibrations;
DROP POLICY workspace_isolation ON rag_chunks;
DROP POLICY workspace_isolation ON workspaces;
