-- Undo foundation 0005, newest index first. Runs outside a transaction like the migration
-- itself (yoyo applies the migration's own transactional: false), so CONCURRENTLY is allowed.
DROP INDEX CONCURRENTLY IF EXISTS ix_rag_chunks_content_tsv;
DROP INDEX CONCURRENTLY IF EXISTS ix_rag_chunks_embedding_3072;
DROP INDEX CONCURRENTLY IF EXISTS ix_rag_chunks_embedding_1536;
DROP INDEX CONCURRENTLY IF EXISTS ix_rag_chunks_embedding_768;
DROP INDEX CONCURRENTLY IF EXISTS ix_rag_chunks_embedding_384;
