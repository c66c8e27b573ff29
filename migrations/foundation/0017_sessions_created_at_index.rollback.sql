-- Undo foundation 0017. Runs outside a transaction like the migration itself, so
-- CONCURRENTLY is allowed.

DROP INDEX CONCURRENTLY IF EXISTS ix_sessions_created_at;
