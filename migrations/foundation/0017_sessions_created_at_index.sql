-- transactional: false
-- depends: 0016_tool_execution_audit_comments
-- Foundation 0017: sessions by opening time, for the audit queries.
--
-- sessions.list_sessions / count_sessions page sessions newest first and by a [since, until)
-- range of created_at; without this index both scan the table. Built CONCURRENTLY (writers
-- keep heartbeating); a failed build leaves an INVALID index that the next migrate drops and
-- rebuilds.

CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_sessions_created_at ON sessions (created_at);
COMMENT ON INDEX ix_sessions_created_at IS
    'Sessions by opening time: the newest-first keyset order and the [since, until) range of '
    'sessions.list_sessions and sessions.count_sessions.';
