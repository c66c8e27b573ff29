-- depends: 0018_calibration_queries_from_other_workspaces
-- Foundation 0019: each calibrated workspace's own threshold between the exact and the HNSW
-- path, from the latencies its calibration measured.
--
-- A search counts the chunks its filters keep and scans them exactly up to exact_threshold
-- (10,000 by default), which made a 9,000-chunk workspace pay 30-40 ms for an exact scan where
-- its HNSW index answered in ~3 ms at recall 0.98. The exact scan's cost grows with the
-- candidates, the HNSW path's barely: a calibration measures both on the same queries and
-- records the candidate count at which they cost the same, exact_below. A filter keeping n of
-- the workspace's N chunks makes the exact scan cheaper and the HNSW path dearer (it visits
-- N/n rows per row it keeps), so that workspace's searches scan exactly up to
-- sqrt(exact_below * N) candidates (exact_below itself unfiltered), and never above
-- exact_threshold. A new column, NULL in every existing row
-- (the configured threshold) until the next calibration: no rewrite, no lock beyond a brief
-- ACCESS EXCLUSIVE on this small table.

ALTER TABLE rag_search_calibrations
    ADD COLUMN exact_below integer
        CONSTRAINT ck_rag_search_calibrations_exact_below_non_negative CHECK (exact_below >= 0);

COMMENT ON COLUMN rag_search_calibrations.exact_below IS
    'Chunks at which an unfiltered exact scan costs what the HNSW path at ef_search does, from '
    'the latencies the calibration measured. This workspace''s searches scan exactly up to '
    'sqrt(exact_below * chunks) candidates (exact_below unfiltered), never above the configured '
    'exact_threshold. NULL: the configured threshold alone (no ef_search, or measured before '
    'foundation 0019).';
COMMENT ON CONSTRAINT ck_rag_search_calibrations_exact_below_non_negative ON rag_search_calibrations IS
    'exact_below, when set, is 0 or more.';
