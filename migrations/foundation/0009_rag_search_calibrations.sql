-- depends: 0005_rag_chunks_search_indexes
--
-- Foundation 0009: how vector search routes a large workspace, measured on its own chunks.
--
-- HNSW recall depends on the data: embedding-like vectors (low intrinsic dimension) reach
-- recall@10 >= 0.95 at ef_search 40-100, while uniformly random 768-d vectors need ef_search
-- 1000 for ~0.95 and, at the shipped m = 16 / ef_construction = 64, may not reach it at all.
-- aura-db therefore measures, per workspace and embedding size, the smallest ef_search whose
-- recall against the exact scan meets a target (db.rag_chunks.calibrate_search), and searches
-- read the result in the round trip that already counts the workspace. ef_search NULL means no
-- ef_search met the target: that workspace's searches take the exact path.
-- Rows are written after every HNSW index build of aura-db (bulk_load, build_search_index,
-- reindex_search_index) for workspaces above the exact-path threshold, when an ingest takes a
-- workspace past that threshold, and again by the ingest that finds more chunks written or
-- deleted since the last measurement (changed_chunks) than half the chunks measured then: a
-- workspace that grew or churned has a new graph neighbourhood. A workspace without a row uses
-- the configured ef_search; deleting all of a workspace's chunks deletes its rows.

CREATE TABLE rag_search_calibrations (
    workspace_id   varchar(16)  NOT NULL
        CONSTRAINT fk_rag_search_calibrations_workspace_id REFERENCES workspaces (id) ON DELETE CASCADE,
    embedding_dims integer      NOT NULL,
    ef_search      integer,
    recall         real         NOT NULL,
    recall_target  real         NOT NULL,
    queries        integer      NOT NULL,
    chunks         integer      NOT NULL,
    changed_chunks integer      NOT NULL DEFAULT 0,
    calibrated_at  timestamptz  NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, embedding_dims),
    CONSTRAINT ck_rag_search_calibrations_embedding_dims_supported
        CHECK (embedding_dims IN (384, 768, 1536, 3072)),
    CONSTRAINT ck_rag_search_calibrations_ef_search_range CHECK (ef_search BETWEEN 1 AND 1000),
    CONSTRAINT ck_rag_search_calibrations_recall_range CHECK (recall BETWEEN 0 AND 1),
    CONSTRAINT ck_rag_search_calibrations_recall_target_range
        CHECK (recall_target > 0 AND recall_target <= 1),
    CONSTRAINT ck_rag_search_calibrations_queries_positive CHECK (queries > 0),
    CONSTRAINT ck_rag_search_calibrations_chunks_non_negative CHECK (chunks >= 0),
    CONSTRAINT ck_rag_search_calibrations_changed_chunks_non_negative CHECK (changed_chunks >= 0)
);

COMMENT ON TABLE rag_search_calibrations IS
    'Measured HNSW recall per workspace and embedding size, and the ef_search (or the exact path) '
    'its vector searches use. Written by db.rag_chunks.calibrate_search; read by every search.';
COMMENT ON COLUMN rag_search_calibrations.workspace_id IS 'Workspace whose chunks were measured (FK, cascade).';
COMMENT ON COLUMN rag_search_calibrations.embedding_dims IS 'Embedding size measured, i.e. the HNSW index used.';
COMMENT ON COLUMN rag_search_calibrations.ef_search IS
    'Smallest hnsw.ef_search whose recall met recall_target; NULL: none did, searches go exact.';
COMMENT ON COLUMN rag_search_calibrations.recall IS
    'Mean top-10 recall of the HNSW path against the exact scan at ef_search (at the widest '
    'ef_search tried when ef_search is NULL).';
COMMENT ON COLUMN rag_search_calibrations.recall_target IS 'Recall the calibration had to meet (0-1].';
COMMENT ON COLUMN rag_search_calibrations.queries IS 'Sample queries measured (pairs of the workspace''s chunks).';
COMMENT ON COLUMN rag_search_calibrations.chunks IS 'Chunks of this size in the workspace when measured.';
COMMENT ON COLUMN rag_search_calibrations.changed_chunks IS
    'Chunks written or deleted in the workspace since it was measured; over chunks / 2, the next '
    'ingest measures again.';
COMMENT ON COLUMN rag_search_calibrations.calibrated_at IS 'When it was measured (database clock).';
