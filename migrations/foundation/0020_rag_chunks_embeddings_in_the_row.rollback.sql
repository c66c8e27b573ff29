-- Foundation 0020 rollback: embeddings over ~2 kB go out of line again (pgvector's EXTERNAL).
-- Rows written meanwhile keep their in-row embeddings until rewritten.

ALTER TABLE rag_chunks ALTER COLUMN embedding SET STORAGE EXTERNAL;

COMMENT ON COLUMN rag_chunks.embedding IS
    'Embedding of content. Any supported size (see embedding_dims). Cosine distance is the metric.';
