-- Undo foundation 0003: children first. Indexes, triggers and comments go with their tables.
DROP TABLE tool_executions;
DROP TABLE agent_executions;
