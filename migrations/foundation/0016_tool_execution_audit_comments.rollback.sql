-- Foundation 0016 rollback: the comments foundation 0014 gave these indexes.

COMMENT ON INDEX ix_tool_executions_tool_name_created_at IS
    'Calls of one tool by time. No named query reads tool calls by tool_name.';
COMMENT ON INDEX ix_tool_executions_status IS
    'Tool calls by status. No named query reads tool calls by status alone '
    '(executions.finish_tool_execution finds its row by id).';
COMMENT ON INDEX ix_tool_executions_created_at IS
    'Tool calls by start time, across agent runs. No named query reads tool calls by created_at '
    'alone.';
