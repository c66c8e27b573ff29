-- transactional: false
-- depends: 0004_rag_chunks
--
-- Foundation 0005: the search indexes of rag_chunks, built CONCURRENTLY so a live indexer keeps
-- writing while they build (CONCURRENTLY cannot run in a transaction, hence the directive above).
--
-- One HNSW cosine index per supported embedding size, each an expression index on the column
-- cast to its fixed size and partial on embedding_dims. A similarity query uses the index of
-- its size when it repeats both, e.g. for 768:
--     WHERE embedding_dims = 768
--     ORDER BY embedding::vector(768) <=> $1::vector(768) LIMIT 10
-- 3072 dimensions go through halfvec (half precision): vector HNSW indexes stop at 2000
-- dimensions, halfvec ones at 4000. m / ef_construction are pgvector's defaults, spelled out.
-- Plus the GIN index on content_tsv for full-text and hybrid search.
--
-- Retry after a half-failure: an interrupted CREATE INDEX CONCURRENTLY leaves an INVALID index
-- behind, which IF NOT EXISTS would then skip. aura-db's runner drops such leftovers of this file
-- before running it again. For runs by other means (plain yoyo), the last statement refuses to
-- finish while one of these indexes is invalid: yoyo then runs the rollback of the steps already
-- done (DROP INDEX CONCURRENTLY IF EXISTS, which removes invalid indexes too), and the next run
-- builds them all afresh.

CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_rag_chunks_embedding_384 ON rag_chunks
    USING hnsw ((embedding::vector(384)) vector_cosine_ops) WITH (m = 16, ef_construction = 64)
    WHERE embedding_dims = 384;

CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_rag_chunks_embedding_768 ON rag_chunks
    USING hnsw ((embedding::vector(768)) vector_cosine_ops) WITH (m = 16, ef_construction = 64)
    WHERE embedding_dims = 768;

CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_rag_chunks_embedding_1536 ON rag_chunks
    USING hnsw ((embedding::vector(1536)) vector_cosine_ops) WITH (m = 16, ef_construction = 64)
    WHERE embedding_dims = 1536;

CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_rag_chunks_embedding_3072 ON rag_chunks
    USING hnsw ((embedding::halfvec(3072)) halfvec_cosine_ops) WITH (m = 16, ef_construction = 64)
    WHERE embedding_dims = 3072;

CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_rag_chunks_content_tsv ON rag_chunks
    USING gin (content_tsv);

DO $$
DECLARE
    invalid text;
BEGIN
    SELECT string_agg(c.relname, ', ' ORDER BY c.relname) INTO invalid
    FROM pg_index i
    JOIN pg_class c ON c.oid = i.indexrelid
    WHERE i.indrelid = 'rag_chunks'::regclass AND NOT i.indisvalid
      AND c.relname IN ('ix_rag_chunks_embedding_384', 'ix_rag_chunks_embedding_768',
                        'ix_rag_chunks_embedding_1536', 'ix_rag_chunks_embedding_3072',
                        'ix_rag_chunks_content_tsv');
    IF invalid IS NOT NULL THEN
        RAISE EXCEPTION 'invalid index(es) on rag_chunks: %', invalid
            USING HINT = 'an earlier build was interrupted; this run has dropped them, run migrate again';
    END IF;
END;
$$;
