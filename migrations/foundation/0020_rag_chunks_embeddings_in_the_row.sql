-- depends: 0019_calibrated_exact_threshold
-- Foundation 0020: embeddings stay in their row (STORAGE MAIN) where the row fits a page.
--
-- pgvector gives its types STORAGE EXTERNAL: any embedding in a row over ~2 kB goes out of line
-- to TOAST, uncompressed. From 768 dimensions on (3 kB) every chunk's embedding was a TOAST
-- value, and every distance an exact scan computes fetched it back (an index probe and two
-- TOAST rows per chunk): an exact top-10 over 10,000 chunks of 768 dimensions took 41 ms with
-- the embeddings out of line and 12 ms in the row (same data, same plan; 2 cores, PG 18). MAIN
-- keeps them in the row while the row fits a page (768 and 1536 dimensions) and still moves them
-- out of line when it cannot (3072 dimensions, 12 kB), where PLAIN would refuse the row. The
-- price, measured on the same load: a binary COPY of 10,000 chunks takes ~20% longer (more WAL)
-- and an HNSW build ~10% longer (a 3.4x larger heap to read, its TOAST table near empty).
-- Catalog only: no rewrite, a brief ACCESS EXCLUSIVE lock. Rows written before it keep their
-- out-of-line embeddings until rewritten (VACUUM FULL rag_chunks, or pg_repack, off-hours).

ALTER TABLE rag_chunks ALTER COLUMN embedding SET STORAGE MAIN;

COMMENT ON COLUMN rag_chunks.embedding IS
    'Embedding of content. Any supported size (see embedding_dims). Cosine distance is the '
    'metric. STORAGE MAIN: kept in the row (no TOAST fetch per distance) unless the row '
    'cannot fit a page (3072 dimensions).';
