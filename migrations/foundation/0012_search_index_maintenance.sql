-- depends: 0011_audit_from_the_actor_only
-- Foundation 0012: search-index maintenance for a role that does not own rag_chunks.
--
-- Creating, dropping or renaming an index needs ownership of its table, and the application
-- role owns nothing (see `aura-db roles`). Yet an application legitimately drops the HNSW index
-- of one embedding size before a bulk load, builds it after, and rebuilds it with other
-- parameters. These functions do exactly that and nothing else: they run as their owner
-- (SECURITY DEFINER), touch only the indexes ix_rag_chunks_embedding_<dims> of the four
-- supported sizes, take numbers only (no name or SQL text from the caller) and pin search_path.
-- EXECUTE is revoked from PUBLIC; `aura-db roles` grants it to the application role only.
--
-- A function runs inside a transaction, where CREATE/DROP INDEX CONCURRENTLY cannot: built
-- through them, an index holds a SHARE lock on rag_chunks for the build (reads go on, writes
-- wait). The owner's builds (aura-db run with AURA_MIGRATION_URL, or a Database on the owner's
-- URL) stay CONCURRENTLY. aura_search_index_statement is the one definition of these indexes
-- outside 0005; a test proves both give the same index.

CREATE FUNCTION aura_search_index_statement(dims integer, m integer, ef_construction integer,
                                            concurrent boolean, staging boolean)
RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    kind text := CASE WHEN dims > 2000 THEN 'halfvec' ELSE 'vector' END;
BEGIN
    IF dims IS NULL OR dims NOT IN (384, 768, 1536, 3072) THEN
        RAISE EXCEPTION 'rag_chunks: no search index for embedding_dims %', dims
            USING ERRCODE = 'invalid_parameter_value', HINT = 'the sizes are 384, 768, 1536 and 3072';
    END IF;
    IF m IS NULL OR m NOT BETWEEN 2 AND 100 THEN
        RAISE EXCEPTION 'rag_chunks: HNSW m must be 2-100, got %', m USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF ef_construction IS NULL OR ef_construction NOT BETWEEN 4 AND 1000 OR ef_construction < 2 * m THEN
        RAISE EXCEPTION 'rag_chunks: HNSW ef_construction must be 4-1000 and at least 2 * m (%), got %',
            2 * m, ef_construction USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN format(
        'CREATE INDEX %s IF NOT EXISTS %I ON public.rag_chunks USING hnsw '
        '((embedding::public.%s(%s)) public.%s_cosine_ops) WITH (m = %s, ef_construction = %s) '
        'WHERE embedding_dims = %s',
        CASE WHEN coalesce(concurrent, false) THEN 'CONCURRENTLY' ELSE '' END,
        'ix_rag_chunks_embedding_' || dims || CASE WHEN coalesce(staging, false) THEN '_new' ELSE '' END,
        kind, dims, kind, m, ef_construction, dims);
END;
$$;
COMMENT ON FUNCTION aura_search_index_statement(integer, integer, integer, boolean, boolean) IS
    'The CREATE INDEX statement of the HNSW index of one embedding size (staging: under the '
    'temporary name *_new); checks its numbers. Builds nothing itself.';

CREATE FUNCTION aura_drop_search_index(dims integer) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    PERFORM aura_search_index_statement(dims, 16, 64, false, false);  -- checks dims
    EXECUTE format('DROP INDEX IF EXISTS public.%I', 'ix_rag_chunks_embedding_' || dims);
END;
$$;
COMMENT ON FUNCTION aura_drop_search_index(integer) IS
    'Drops the HNSW index of one embedding size (searches of that size then go exact); for the '
    'application role, which does not own rag_chunks. SECURITY DEFINER.';

CREATE FUNCTION aura_build_search_index(dims integer, m integer, ef_construction integer)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    EXECUTE aura_search_index_statement(dims, m, ef_construction, false, false);
END;
$$;
COMMENT ON FUNCTION aura_build_search_index(integer, integer, integer) IS
    'Builds the HNSW index of one embedding size when it is missing (not CONCURRENTLY: writes '
    'to rag_chunks wait for the build); for the application role. SECURITY DEFINER.';

CREATE FUNCTION aura_reindex_search_index(dims integer, m integer, ef_construction integer)
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
END;
$$;
COMMENT ON FUNCTION aura_reindex_search_index(integer, integer, integer) IS
    'Rebuilds the HNSW index of one embedding size with new m / ef_construction in one '
    'transaction (searches keep the old index until the new one replaces it); for the '
    'application role. SECURITY DEFINER.';

REVOKE EXECUTE ON FUNCTION aura_drop_search_index(integer) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION aura_build_search_index(integer, integer, integer) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION aura_reindex_search_index(integer, integer, integer) FROM PUBLIC;
