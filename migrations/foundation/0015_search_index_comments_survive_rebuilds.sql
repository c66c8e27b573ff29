-- depends: 0014_comment_indexes_constraints_triggers
-- Foundation 0015: a rebuilt search index gets its COMMENT back.
--
-- 0014 comments every index, but the HNSW indexes of rag_chunks are dropped and built again at
-- run time (bulk loads, new parameters: foundation 0012's functions, or CONCURRENTLY by the
-- owner), and a new index has no comment. aura_comment_search_index writes the same text 0014
-- does (a test compares them); 0012's build and reindex functions now call it, and so does the
-- owner's CONCURRENTLY path in db.rag_chunks. COMMENT needs ownership of the index, hence
-- SECURITY DEFINER; numbers only from the caller, search_path pinned, EXECUTE revoked from
-- PUBLIC like 0012's functions. CREATE OR REPLACE keeps the functions' owner and grants.

CREATE FUNCTION aura_comment_search_index(dims integer) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    name text := 'ix_rag_chunks_embedding_' || dims;
BEGIN
    PERFORM aura_search_index_statement(dims, 16, 64, false, false);  -- checks dims
    IF to_regclass('public.' || quote_ident(name)) IS NULL THEN
        RETURN;
    END IF;
    EXECUTE format('COMMENT ON INDEX public.%I IS %L', name, CASE WHEN dims > 2000 THEN format(
        'HNSW cosine index of the %s-dimension embeddings as halfvec (partial: embedding_dims = '
        '%s): rag_chunks.search_hnsw_%s and rag_chunks.hybrid_hnsw_%s. Dropped and rebuilt at '
        'run time by db.rag_chunks (bulk loads, new parameters).', dims, dims, dims, dims)
    ELSE format(
        'HNSW cosine index of the %s-dimension embeddings (partial: embedding_dims = %s): '
        'rag_chunks.search_hnsw_%s and rag_chunks.hybrid_hnsw_%s. Dropped and rebuilt at run time '
        'by db.rag_chunks (bulk loads, new parameters).', dims, dims, dims, dims) END);
END;
$$;
COMMENT ON FUNCTION aura_comment_search_index(integer) IS
    'Writes the COMMENT of the HNSW index of one embedding size (the text foundation 0014 gives '
    'it), after a build; no-op when the index is missing. SECURITY DEFINER.';
REVOKE EXECUTE ON FUNCTION aura_comment_search_index(integer) FROM PUBLIC;

CREATE OR REPLACE FUNCTION aura_build_search_index(dims integer, m integer, ef_construction integer)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    EXECUTE aura_search_index_statement(dims, m, ef_construction, false, false);
    PERFORM aura_comment_search_index(dims);
END;
$$;

CREATE OR REPLACE FUNCTION aura_reindex_search_index(dims integer, m integer, ef_construction integer)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    name text := 'ix_rag_chunks_embedding_' || dims;
BEGIN
    EXECUTE format('DROP INDEX IF EXISTS public.%I', name || '_new');
    EXECUTE aura_search_index_statement(dims, m, ef_construction, false, true);
    EXECUTE format('DROP INDEX IF EXISTS public.%I', name);
    EXECUTE format('ALTER INDEX public.%I RENAME TO %I', name || '_new', name);
    PERFORM aura_comment_search_index(dims);
END;
$$;
