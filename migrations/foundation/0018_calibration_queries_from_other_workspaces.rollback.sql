-- Foundation 0018 rollback: the comments foundations 0009 and 0014 gave these.

COMMENT ON COLUMN rag_search_calibrations.ef_search IS
    'Smallest hnsw.ef_search whose recall met recall_target; NULL: none did, searches go exact.';
COMMENT ON COLUMN rag_search_calibrations.recall IS
    'Mean top-10 recall of the HNSW path against the exact scan at ef_search (at the widest '
    'ef_search tried when ef_search is NULL).';
COMMENT ON CONSTRAINT ck_rag_search_calibrations_ef_search_range ON rag_search_calibrations IS
    'ef_search, when set, is 1 to 1000. NULL means no ef_search met the target: searches go '
    'exact.';
COMMENT ON COLUMN rag_search_calibrations.queries IS 'Sample queries measured (pairs of the workspace''s chunks).';
