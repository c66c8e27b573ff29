-- depends: 0017_sessions_created_at_index
-- Foundation 0018: what a search calibration records, now that it measures queries from other
-- workspaces too and keeps the widest ef_search only when it beats the exact path.
--
-- A calibration probes the workspace with its own (moved) chunks and with chunks of other
-- workspaces ("code like this" from another project, where HNSW recall is lowest); an
-- ef_search must meet recall_target on both. When only the widest ef_search of the ladder meets
-- it, the faster of that and the exact path is kept. Comments only: no lock beyond the
-- catalog's.

COMMENT ON COLUMN rag_search_calibrations.ef_search IS
    'hnsw.ef_search of the workspace''s searches: the smallest whose recall met recall_target on '
    'the workspace''s own and on other workspaces'' queries; NULL: searches go exact (none met '
    'it, or only the widest did and the exact path answered faster).';
COMMENT ON COLUMN rag_search_calibrations.recall IS
    'Mean top-10 recall of the HNSW path against the exact scan at ef_search (at the widest '
    'ef_search tried when ef_search is NULL): the lower of the workspace''s own and other '
    'workspaces'' queries.';
COMMENT ON COLUMN rag_search_calibrations.queries IS
    'Queries measured: moved copies of the workspace''s chunks and chunks of other workspaces, '
    'or the real queries given.';
COMMENT ON CONSTRAINT ck_rag_search_calibrations_ef_search_range ON rag_search_calibrations IS
    'ef_search, when set, is 1 to 1000. NULL: searches go exact.';
