-- Foundation 0015 rollback: 0012's build and reindex functions as they were, without the comment.

CREATE OR REPLACE FUNCTION aura_build_search_index(dims integer, m integer, ef_construction integer)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    EXECUTE aura_search_index_statement(dims, m, ef_construction, false, false);
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
END;
$$;

DROP FUNCTION aura_comment_search_index(integer);
