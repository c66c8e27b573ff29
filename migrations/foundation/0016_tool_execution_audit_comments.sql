-- depends: 0015_search_index_comments_survive_rebuilds
-- Foundation 0016: the tool-call indexes now serve the audit queries.
--
-- executions.list_tool_executions / count_tool_executions read tool calls by tool name, status
-- and time range (seeds 001 and 004 ask for it); the three indexes 0014 described as serving no
-- named query now do, and their comments say which (tests prove the plans with EXPLAIN).
-- Comments only: no lock beyond the catalog's.

COMMENT ON INDEX ix_tool_executions_tool_name_created_at IS
    'Calls of one tool by time: executions.list_tool_executions and '
    'executions.count_tool_executions with tool_name (and a [since, until) range).';
COMMENT ON INDEX ix_tool_executions_status IS
    'Tool calls by status: executions.list_tool_executions and executions.count_tool_executions '
    'with status (e.g. every Failed call).';
COMMENT ON INDEX ix_tool_executions_created_at IS
    'Tool calls by start time, across agent runs: the newest-first keyset order and the '
    '[since, until) range of executions.list_tool_executions and executions.count_tool_executions.';
