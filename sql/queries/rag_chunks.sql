-- RAG chunks (002 §1.5): ingest through a staging table, search routed per workspace size,
-- hybrid (full text + vector, reciprocal rank fusion) in one statement, maintenance.
--
-- Vector search has two paths, chosen by the repository from set_search_settings (the rows the
-- filters keep, and the workspace's recall calibration from rag_search_calibrations):
--   exact  ORDER BY embedding <=> q on the untyped column: no HNSW index has that expression,
--          so the planner can only filter by the workspace B-tree and sort (recall 1.0);
--   hnsw   one query per embedding size, repeating the partial index's expression and predicate
--          (embedding::vector(768) ... WHERE embedding_dims = 768) inside a MATERIALIZED CTE that
--          is re-sorted by distance: with hnsw.iterative_scan = relaxed_order the index scan
--          goes on until `limit` rows pass the filters, in slightly relaxed order.
-- The size-specific queries differ only in the size and, for 3072, halfvec instead of vector.
-- Settings (ef_search, iterative scan, plan_cache_mode, planner switches) are set
-- transaction-locally by set_search_settings / set_hnsw_settings and put back by
-- restore_search_settings before the search's transaction (or savepoint) ends.
-- name: lock_workspace_for_rag?
-- Mark the live workspace as RAG-indexed now (and at %(commit_sha)s when given), locking its row
-- so concurrent ingests of one workspace serialize; returns its path and the embedding size of
-- its chunks outside %(replaced)s (none when it has no other chunk).
UPDATE workspaces w
SET rag_indexed_at = now(),
    rag_indexed_commit_sha = coalesce(%(commit_sha)s::text, w.rag_indexed_commit_sha)
WHERE w.id = %(workspace_id)s AND w.deleted_at IS NULL
RETURNING w.path,
    (SELECT c.embedding_dims FROM rag_chunks c
     WHERE c.workspace_id = w.id AND c.content_id <> ALL (%(replaced)s::text[])
     LIMIT 1) AS embedding_dims;

-- name: create_chunk_staging#
-- An empty, unindexed temporary table for one ingest, dropped at commit (emptied when an
-- earlier ingest of the same transaction made it). No DROP here: psycopg clears its
-- prepared-statement cache whenever it sees one.
CREATE TEMP TABLE IF NOT EXISTS rag_chunk_staging (
    workspace_id text    NOT NULL,
    content_id   text    NOT NULL,
    chunk_index  integer NOT NULL,
    content      text    NOT NULL,
    embedding    vector  NOT NULL,
    source_path  text,
    content_type text    NOT NULL,
    title        text,
    metadata     jsonb
) ON COMMIT DROP;
TRUNCATE pg_temp.rag_chunk_staging;

-- name: copy_chunk_staging<
-- Binary COPY into the staging table (columns in this order).
COPY pg_temp.rag_chunk_staging
    (workspace_id, content_id, chunk_index, content, embedding, source_path, content_type, title, metadata)
FROM STDIN (FORMAT BINARY);

-- name: copy_chunks_direct<
-- A workspace's first load (it holds no chunk yet, and its row is locked): binary COPY straight
-- into rag_chunks, with nothing to conflict with (columns in this order).
COPY rag_chunks
    (workspace_id, content_id, chunk_index, content, embedding, source_path, content_type, title, metadata)
FROM STDIN (FORMAT BINARY);

-- name: delete_unstaged_chunks#
-- Replace semantics: drop the chunks of every staged document that the new set no longer has
-- (how many: they count as changes of the workspace's search calibration).
DELETE FROM rag_chunks c
USING (SELECT DISTINCT workspace_id, content_id FROM pg_temp.rag_chunk_staging) d
WHERE c.workspace_id = d.workspace_id AND c.content_id = d.content_id
  AND NOT EXISTS (
      SELECT 1 FROM pg_temp.rag_chunk_staging s
      WHERE s.content_id = c.content_id AND s.chunk_index = c.chunk_index);

-- name: upsert_staged_chunks#
-- Move the staged chunks into rag_chunks in one statement. A chunk whose text, embedding and
-- attributes are unchanged is not rewritten, so it costs no new HNSW or GIN index entry.
INSERT INTO rag_chunks AS c
    (workspace_id, content_id, chunk_index, content, embedding, source_path, content_type, title, metadata)
SELECT workspace_id, content_id, chunk_index, content, embedding, source_path, content_type, title, metadata
FROM pg_temp.rag_chunk_staging
ORDER BY content_id, chunk_index
ON CONFLICT (workspace_id, content_id, chunk_index) DO UPDATE SET
    content = EXCLUDED.content,
    embedding = EXCLUDED.embedding,
    source_path = EXCLUDED.source_path,
    content_type = EXCLUDED.content_type,
    title = EXCLUDED.title,
    metadata = EXCLUDED.metadata,
    created_at = now()
WHERE (c.content, c.embedding, c.source_path, c.content_type, c.title, c.metadata)
      IS DISTINCT FROM (EXCLUDED.content, EXCLUDED.embedding, EXCLUDED.source_path,
                        EXCLUDED.content_type, EXCLUDED.title, EXCLUDED.metadata);

-- name: count_calibration_changes$
-- The last statement of an ingest that wrote or dropped %(changed)s chunks: count them as
-- changes of the workspace's search calibration, and say whether its recall should be measured
-- once the ingest commits. Without a calibration: when its chunks, counted up to %(cap)s (the
-- calibration floor + 1), reach %(cap)s. With one: when its changed_chunks exceed half the
-- chunks it measured. Last, so its lock on the calibration row follows those on the chunk rows,
-- the order deletes take them in.
WITH bumped AS (
    UPDATE rag_search_calibrations k
    SET changed_chunks = least(k.changed_chunks::bigint + %(changed)s::integer, 2147483647)
    WHERE k.workspace_id = %(workspace_id)s
    RETURNING k.chunks, k.changed_chunks
)
SELECT CASE WHEN EXISTS (SELECT 1 FROM bumped)
            THEN (SELECT bool_or(b.changed_chunks > b.chunks / 2) FROM bumped b)
            ELSE (SELECT count(*) FROM (
                      SELECT 1 FROM rag_chunks c WHERE c.workspace_id = %(workspace_id)s
                      LIMIT %(cap)s) n) >= %(cap)s
       END;

-- name: list_content_chunks
-- The chunks of one document, in order.
SELECT id, workspace_id, content_id, chunk_index, content, embedding_dims, source_path,
       content_type, title, metadata, created_at
FROM rag_chunks
WHERE workspace_id = %(workspace_id)s AND content_id = %(content_id)s
ORDER BY chunk_index;

-- name: delete_content_chunks$
-- Delete one document's chunks and its 'rag' index_metadata record, counting them as changes
-- of the workspace's search calibration; returns the chunks deleted.
WITH gone AS (
    DELETE FROM rag_chunks
    WHERE workspace_id = %(workspace_id)s AND content_id = %(content_id)s
    RETURNING content_id
), forgotten AS (
    DELETE FROM index_metadata m
    USING workspaces w
    WHERE w.id = %(workspace_id)s AND m.workspace_path = w.path AND m.index_type = 'rag'
      AND m.file_path = %(content_id)s
), bumped AS (
    UPDATE rag_search_calibrations
    SET changed_chunks = least(changed_chunks::bigint + (SELECT count(*) FROM gone), 2147483647)
    WHERE workspace_id = %(workspace_id)s
)
SELECT count(*) FROM gone;

-- name: delete_path_chunks$
-- Delete the chunks whose source_path matches an escaped LIKE prefix, and the 'rag'
-- index_metadata records of the documents they belonged to, counting them as changes of the
-- workspace's search calibration; returns the chunks deleted.
WITH gone AS (
    DELETE FROM rag_chunks
    WHERE workspace_id = %(workspace_id)s AND source_path LIKE %(path_like)s::text ESCAPE '\'
    RETURNING content_id
), forgotten AS (
    DELETE FROM index_metadata m
    USING workspaces w
    WHERE w.id = %(workspace_id)s AND m.workspace_path = w.path AND m.index_type = 'rag'
      AND m.file_path IN (SELECT content_id FROM gone)
), bumped AS (
    UPDATE rag_search_calibrations
    SET changed_chunks = least(changed_chunks::bigint + (SELECT count(*) FROM gone), 2147483647)
    WHERE workspace_id = %(workspace_id)s
)
SELECT count(*) FROM gone;

-- name: delete_workspace_chunks$
-- Delete every chunk of a workspace, its 'rag' index_metadata and its search calibrations;
-- returns the chunks deleted.
WITH gone AS (
    DELETE FROM rag_chunks WHERE workspace_id = %(workspace_id)s RETURNING 1
), forgotten AS (
    DELETE FROM index_metadata m
    USING workspaces w
    WHERE w.id = %(workspace_id)s AND m.workspace_path = w.path AND m.index_type = 'rag'
), uncalibrated AS (
    DELETE FROM rag_search_calibrations WHERE workspace_id = %(workspace_id)s
)
SELECT count(*) FROM gone;

-- name: rag_stats
-- Per content type of a workspace: chunks, distinct documents, embedding size(s).
SELECT content_type, count(*) AS chunks, count(DISTINCT content_id) AS documents,
       array_agg(DISTINCT embedding_dims ORDER BY embedding_dims) AS embedding_dims
FROM rag_chunks
WHERE workspace_id = %(workspace_id)s
GROUP BY content_type
ORDER BY content_type;

-- name: calibration_sample
-- The workspace's chunks of %(dims)s dimensions (its size when NULL: one model per workspace)
-- the recall calibration builds its queries from: a fixed pseudo-random sample of %(n)s, the
-- same on every run over the same chunks, with how many chunks of that size there are.
SELECT embedding_dims, embedding, count(*) OVER () AS chunks
FROM rag_chunks
WHERE workspace_id = %(workspace_id)s
  AND embedding_dims = coalesce(%(dims)s::integer,
        (SELECT embedding_dims FROM rag_chunks WHERE workspace_id = %(workspace_id)s LIMIT 1))
ORDER BY md5(id::text)
LIMIT %(n)s;

-- name: calibration_foreign_sample
-- Queries from other projects for the recall calibration of %(workspace_id)s: up to %(n)s
-- chunks of %(dims)s dimensions of other live workspaces (up to %(n)s of them, a fixed
-- pseudo-random choice), taken in turn from each: the first chunk of every workspace, then the
-- second, and so on (in the natural key's order: an index range of each workspace, never a
-- scan of it). Searching one project for "code like this" from another is the normal case, and
-- such queries lie away from the workspace's data, where HNSW recall is lowest.
SELECT c.embedding
FROM (SELECT w.id FROM workspaces w
      WHERE w.id <> %(workspace_id)s AND w.deleted_at IS NULL
      ORDER BY md5(w.id) LIMIT %(n)s) AS w
CROSS JOIN LATERAL (
    SELECT r.embedding, row_number() OVER (ORDER BY r.content_id, r.chunk_index) AS turn
    FROM rag_chunks r
    WHERE r.workspace_id = w.id AND r.embedding_dims = %(dims)s
    ORDER BY r.content_id, r.chunk_index
    LIMIT %(n)s) AS c
ORDER BY c.turn, md5(w.id)
LIMIT %(n)s;

-- name: workspaces_to_calibrate
-- The workspaces holding more than %(threshold)s chunks of %(dims)s dimensions (those whose
-- searches take the HNSW path of that size), largest first.
SELECT workspace_id
FROM rag_chunks
WHERE embedding_dims = %(dims)s
GROUP BY workspace_id
HAVING count(*) > %(threshold)s
ORDER BY count(*) DESC, workspace_id;

-- name: save_search_calibration^
-- Record (or replace) the calibration of one workspace and embedding size; no change since.
INSERT INTO rag_search_calibrations AS k
    (workspace_id, embedding_dims, ef_search, recall, recall_target, queries, chunks, exact_below)
VALUES (%(workspace_id)s, %(embedding_dims)s, %(ef_search)s, %(recall)s, %(recall_target)s,
        %(queries)s, %(chunks)s, %(exact_below)s)
ON CONFLICT (workspace_id, embedding_dims) DO UPDATE SET
    ef_search = EXCLUDED.ef_search,
    exact_below = EXCLUDED.exact_below,
    recall = EXCLUDED.recall,
    recall_target = EXCLUDED.recall_target,
    queries = EXCLUDED.queries,
    chunks = EXCLUDED.chunks,
    changed_chunks = 0,
    calibrated_at = now()
RETURNING workspace_id, embedding_dims, ef_search, recall, recall_target, queries, chunks,
          changed_chunks, exact_below, calibrated_at;

-- name: list_search_calibrations
-- The calibrations of one workspace (every workspace when %(workspace_id)s is NULL).
SELECT workspace_id, embedding_dims, ef_search, recall, recall_target, queries, chunks,
       changed_chunks, exact_below, calibrated_at
FROM rag_search_calibrations
WHERE %(workspace_id)s::text IS NULL OR workspace_id = %(workspace_id)s
ORDER BY workspace_id, embedding_dims;

-- name: search_indexes
-- The HNSW indexes of rag_chunks: name, validity and storage options (m, ef_construction).
SELECT c.relname AS name, i.indisvalid AS valid, coalesce(c.reloptions, '{}') AS options,
       pg_relation_size(c.oid) AS size_bytes
FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_am a ON a.oid = c.relam
WHERE i.indrelid = 'rag_chunks'::regclass AND a.amname = 'hnsw'
ORDER BY c.relname;

-- name: search_index_access^
-- How the current role may change the search indexes: as the owner of rag_chunks (CONCURRENTLY,
-- writers keep writing) or through the maintenance functions of foundation 0012 (EXECUTE is
-- granted to the application role by `aura-db roles`).
SELECT current_user AS role,
       pg_has_role(current_user, c.relowner, 'USAGE') AS owner,
       has_function_privilege('aura_build_search_index(integer, integer, integer)', 'EXECUTE')
           AND has_function_privilege('aura_drop_search_index(integer)', 'EXECUTE')
           AND has_function_privilege('aura_reindex_search_index(integer, integer, integer)', 'EXECUTE')
           AS maintainer
FROM pg_class c
WHERE c.oid = 'rag_chunks'::regclass;

-- name: search_index_statement$
-- The CREATE INDEX CONCURRENTLY statement of one size's HNSW index (foundation 0012 holds the
-- definition; it checks the numbers); %(staging)s names it *_new, for a rebuild.
SELECT aura_search_index_statement(%(dims)s, %(m)s, %(ef_construction)s, true, %(staging)s);

-- name: call_drop_search_index$
-- Drop one size's HNSW index through foundation 0012's function (not the owner's DDL).
SELECT aura_drop_search_index(%(dims)s)::text;

-- name: call_build_search_index$
-- Build one size's HNSW index through foundation 0012's function (writes wait for the build).
SELECT aura_build_search_index(%(dims)s, %(m)s, %(ef_construction)s)::text;

-- name: call_reindex_search_index$
-- Rebuild one size's HNSW index with new parameters through foundation 0012's function.
SELECT aura_reindex_search_index(%(dims)s, %(m)s, %(ef_construction)s)::text;

-- name: force_custom_plans^
-- Transaction-local, sent first: every statement of the search that follows is planned for its
-- actual parameters, never served a cached generic plan — set_search_settings included (a
-- generic plan of its count cannot see the cap: 1.45 ms instead of 0.21). Returns the mode as it
-- was, for restore_search_settings.
SELECT current_setting('plan_cache_mode') AS plan_cache_mode,
       set_config('plan_cache_mode', 'force_custom_plan', true) AS now_plan_cache_mode;

-- name: set_search_settings^
-- Runs after force_custom_plans, in the same round trip. Returns the settings the search may
-- change as they were before (restore_search_settings puts them back), the rows the filters
-- keep in the workspace, counted up to %(cap)s (the routing decision needs no more) in the order of
-- ix_rag_chunks_workspace_content_type, so that the planner reads at most %(cap)s entries of that
-- index instead of scanning the table until it has found them (it did in a workspace holding a
-- third of the chunks: 7 ms of a 13 ms search), and the workspace's
-- calibration for embeddings of %(dims)s dimensions: whether there is one, its ef_search
-- (NULL in a calibration: the HNSW path did not meet the recall target, search exactly) and
-- its own threshold (from exact_below, see below), and
-- whether that size's HNSW index exists and is valid (a bulk load drops it; a concurrent build
-- leaves it invalid until it ends): without it the search takes the exact path.
-- A calibrated workspace's own threshold: exact_below is where an unfiltered exact scan costs
-- what the HNSW path does. A filter keeping n of the workspace's N chunks makes the exact scan
-- cost ~n/N of that and the HNSW path ~N/n times more (it visits that many rows per row it
-- keeps), so they cost the same at n = sqrt(exact_below * N): that is the threshold (n = N,
-- unfiltered, gives exact_below again).
-- Unfiltered, a calibrated workspace that certainly holds more rows than its threshold (and
-- than %(cap)s - 1) is not counted: it held `chunks` when measured and at most
-- `changed_chunks` of them went since (every write and delete counts), so the count's index
-- read is skipped on the most common search.
WITH before AS MATERIALIZED (
    SELECT current_setting('hnsw.ef_search') AS ef_search,
           current_setting('hnsw.iterative_scan') AS iterative_scan,
           current_setting('hnsw.max_scan_tuples') AS max_scan_tuples,
           current_setting('enable_seqscan') AS enable_seqscan,
           current_setting('enable_bitmapscan') AS enable_bitmapscan,
           current_setting('enable_sort') AS enable_sort
)
SELECT before.*,
       CASE WHEN %(content_types)s::text[] IS NULL AND %(path_like)s::text IS NULL
                 AND k.chunks::bigint - k.changed_chunks
                     > least(%(cap)s::bigint - 1, coalesce(own.threshold, %(cap)s::bigint - 1))
            THEN least(k.chunks::bigint - k.changed_chunks, %(cap)s::bigint)
            ELSE (SELECT count(*) FROM (
                SELECT 1 FROM rag_chunks
                WHERE workspace_id = %(workspace_id)s
                  AND (%(content_types)s::text[] IS NULL OR content_type = ANY (%(content_types)s::text[]))
                  AND (%(path_like)s::text IS NULL OR source_path LIKE %(path_like)s::text ESCAPE '\')
                ORDER BY workspace_id, content_type
                LIMIT %(cap)s) s)
       END AS candidates,
       k.workspace_id IS NOT NULL AS calibrated,
       k.ef_search AS calibrated_ef,
       own.threshold AS calibrated_threshold,
       coalesce((SELECT i.indisvalid AND i.indisready FROM pg_index i
                 WHERE i.indexrelid = to_regclass('ix_rag_chunks_embedding_' || %(dims)s::int)),
                false) AS index_ready
FROM before
LEFT JOIN rag_search_calibrations k
    ON k.workspace_id = %(workspace_id)s AND k.embedding_dims = %(dims)s
CROSS JOIN LATERAL (
    SELECT floor(sqrt(k.exact_below::float8 * greatest(k.chunks, 1)))::bigint AS threshold) AS own;

-- name: route_calibrated^
-- The routing statement of an unfiltered search in a workspace whose previous such search took
-- the calibrated HNSW path, and of a search forced onto the HNSW path (exact=False: the count
-- decides nothing there, filters or not): set_search_settings without the count, sent before
-- force_custom_plans so that its plan is made once and cached (planning set_search_settings,
-- whose count must see its cap, took 0.14 ms of every search). `candidates` is NULL when the
-- calibration no longer proves the workspace bigger than its threshold (deletes since, a
-- recalibration, none): the search then reads set_search_settings in a second round trip.
-- Sent only as a search's own implicit transaction, whose settings end with it: the settings
-- it returns are never put back, and pgvector's may be NULL (unlike set_search_settings this
-- statement plans no rag_chunks index, so a fresh backend may not have loaded pgvector yet).
WITH before AS MATERIALIZED (
    SELECT current_setting('hnsw.ef_search', true) AS ef_search,
           current_setting('hnsw.iterative_scan', true) AS iterative_scan,
           current_setting('hnsw.max_scan_tuples', true) AS max_scan_tuples,
           current_setting('enable_seqscan') AS enable_seqscan,
           current_setting('enable_bitmapscan') AS enable_bitmapscan,
           current_setting('enable_sort') AS enable_sort
)
SELECT before.*,
       CASE WHEN k.chunks::bigint - k.changed_chunks > least(%(cap)s::bigint - 1, own.threshold)
            THEN least(k.chunks::bigint - k.changed_chunks, %(cap)s::bigint)
       END AS candidates,
       k.workspace_id IS NOT NULL AS calibrated,
       k.ef_search AS calibrated_ef,
       own.threshold AS calibrated_threshold,
       coalesce((SELECT i.indisvalid AND i.indisready FROM pg_index i
                 WHERE i.indexrelid = to_regclass('ix_rag_chunks_embedding_' || %(dims)s::int)),
                false) AS index_ready
FROM before
LEFT JOIN rag_search_calibrations k
    ON k.workspace_id = %(workspace_id)s AND k.embedding_dims = %(dims)s
CROSS JOIN LATERAL (
    SELECT floor(sqrt(k.exact_below::float8 * greatest(k.chunks, 1)))::bigint AS threshold) AS own;

-- name: set_hnsw_settings^
-- Transaction-local settings of the HNSW path: search breadth, iterative scans that keep going
-- until `limit` rows pass the filters, and a planner that takes the index (the route is
-- decided already: sorting the workspace would be the exact path). A hybrid search keeps
-- bitmap scans (%(bitmap_scans)s): its full-text leg reads ix_rag_chunks_content_tsv, and a GIN
-- index is read by bitmap scans only; without them the leg read every row of the workspace to
-- test its tsvector (17 ms of a 20 ms search in an 18k-chunk workspace). Sorts stay disabled:
-- the vector leg's plan with a sort loses to the index's order either way.
SELECT set_config('hnsw.ef_search', %(ef_search)s::text, true) AS ef_search,
       set_config('hnsw.iterative_scan', 'relaxed_order', true) AS iterative_scan,
       set_config('hnsw.max_scan_tuples', %(max_scan_tuples)s::text, true) AS max_scan_tuples,
       set_config('enable_seqscan', 'off', true) AS enable_seqscan,
       set_config('enable_bitmapscan',
                  CASE WHEN %(bitmap_scans)s::boolean THEN current_setting('enable_bitmapscan') ELSE 'off' END,
                  true) AS enable_bitmapscan,
       set_config('enable_sort', 'off', true) AS enable_sort;

-- name: restore_search_settings^
-- Put back the settings set_search_settings returned. Inside a caller's transaction a search
-- runs in a savepoint, and releasing a savepoint keeps transaction-local settings: without this
-- they would reach the caller's next statements. (Rolling back instead would also work, but
-- psycopg drops its whole prepared-statement cache on every ROLLBACK.)
SELECT set_config('plan_cache_mode', %(plan_cache_mode)s::text, true),
       set_config('hnsw.ef_search', %(ef_search)s::text, true),
       set_config('hnsw.iterative_scan', %(iterative_scan)s::text, true),
       set_config('hnsw.max_scan_tuples', %(max_scan_tuples)s::text, true),
       set_config('enable_seqscan', %(enable_seqscan)s::text, true),
       set_config('enable_bitmapscan', %(enable_bitmapscan)s::text, true),
       set_config('enable_sort', %(enable_sort)s::text, true);

-- name: search_exact
-- Exact nearest chunks: every row of the workspace (and filters) with this embedding size,
-- sorted by cosine distance. The untyped expression matches no HNSW index.
SELECT id, content_id, chunk_index, content, source_path, content_type, title, 1 - distance AS score
FROM (
    SELECT id, content_id, chunk_index, content, source_path, content_type, title, embedding <=> %(embedding)s::vector AS distance
    FROM rag_chunks
    WHERE workspace_id = %(workspace_id)s AND embedding_dims = %(dims)s
      AND (%(content_types)s::text[] IS NULL OR content_type = ANY (%(content_types)s::text[]))
      AND (%(path_like)s::text IS NULL OR source_path LIKE %(path_like)s::text ESCAPE '\')
    ORDER BY distance, id
    LIMIT %(limit)s
) nearest
ORDER BY distance, id;

-- name: search_hnsw_384
-- Approximate nearest chunks of size 384 through ix_rag_chunks_embedding_384, re-sorted.
WITH nearest AS MATERIALIZED (
    SELECT id, content_id, chunk_index, content, source_path, content_type, title, embedding::vector(384) <=> %(embedding)s::vector(384) AS distance
    FROM rag_chunks
    WHERE embedding_dims = 384 AND workspace_id = %(workspace_id)s
      AND (%(content_types)s::text[] IS NULL OR content_type = ANY (%(content_types)s::text[]))
      AND (%(path_like)s::text IS NULL OR source_path LIKE %(path_like)s::text ESCAPE '\')
    ORDER BY embedding::vector(384) <=> %(embedding)s::vector(384)
    LIMIT %(limit)s
)
SELECT id, content_id, chunk_index, content, source_path, content_type, title, 1 - distance AS score
FROM nearest
ORDER BY distance, id;

-- name: search_hnsw_768
-- Approximate nearest chunks of size 768 through ix_rag_chunks_embedding_768, re-sorted.
WITH nearest AS MATERIALIZED (
    SELECT id, content_id, chunk_index, content, source_path, content_type, title, embedding::vector(768) <=> %(embedding)s::vector(768) AS distance
    FROM rag_chunks
    WHERE embedding_dims = 768 AND workspace_id = %(workspace_id)s
      AND (%(content_types)s::text[] IS NULL OR content_type = ANY (%(content_types)s::text[]))
      AND (%(path_like)s::text IS NULL OR source_path LIKE %(path_like)s::text ESCAPE '\')
    ORDER BY embedding::vector(768) <=> %(embedding)s::vector(768)
    LIMIT %(limit)s
)
SELECT id, content_id, chunk_index, content, source_path, content_type, title, 1 - distance AS score
FROM nearest
ORDER BY distance, id;

-- name: search_hnsw_1536
-- Approximate nearest chunks of size 1536 through ix_rag_chunks_embedding_1536, re-sorted.
WITH nearest AS MATERIALIZED (
    SELECT id, content_id, chunk_index, content, source_path, content_type, title, embedding::vector(1536) <=> %(embedding)s::vector(1536) AS distance
    FROM rag_chunks
    WHERE embedding_dims = 1536 AND workspace_id = %(workspace_id)s
      AND (%(content_types)s::text[] IS NULL OR content_type = ANY (%(content_types)s::text[]))
      AND (%(path_like)s::text IS NULL OR source_path LIKE %(path_like)s::text ESCAPE '\')
    ORDER BY embedding::vector(1536) <=> %(embedding)s::vector(1536)
    LIMIT %(limit)s
)
SELECT id, content_id, chunk_index, content, source_path, content_type, title, 1 - distance AS score
FROM nearest
ORDER BY distance, id;

-- name: search_hnsw_3072
-- Approximate nearest chunks of size 3072 through ix_rag_chunks_embedding_3072, re-sorted.
WITH nearest AS MATERIALIZED (
    SELECT id, content_id, chunk_index, content, source_path, content_type, title, embedding::halfvec(3072) <=> %(embedding)s::vector::halfvec(3072) AS distance
    FROM rag_chunks
    WHERE embedding_dims = 3072 AND workspace_id = %(workspace_id)s
      AND (%(content_types)s::text[] IS NULL OR content_type = ANY (%(content_types)s::text[]))
      AND (%(path_like)s::text IS NULL OR source_path LIKE %(path_like)s::text ESCAPE '\')
    ORDER BY embedding::halfvec(3072) <=> %(embedding)s::vector::halfvec(3072)
    LIMIT %(limit)s
)
SELECT id, content_id, chunk_index, content, source_path, content_type, title, 1 - distance AS score
FROM nearest
ORDER BY distance, id;

-- name: hybrid_exact
-- Hybrid search, exact vector leg: reciprocal rank fusion of the nearest %(candidates)s chunks
-- and the best %(candidates)s full-text matches (websearch syntax, 'simple' configuration),
-- score = vector_weight / (rrf_k + vector rank) + text_weight / (rrf_k + text rank).
WITH vector_leg AS MATERIALIZED (
    SELECT id, distance, row_number() OVER (ORDER BY distance, id) AS rank
    FROM (
        SELECT id, embedding <=> %(embedding)s::vector AS distance
        FROM rag_chunks
        WHERE workspace_id = %(workspace_id)s AND embedding_dims = %(dims)s
          AND (%(content_types)s::text[] IS NULL OR content_type = ANY (%(content_types)s::text[]))
          AND (%(path_like)s::text IS NULL OR source_path LIKE %(path_like)s::text ESCAPE '\')
        ORDER BY distance, id
        LIMIT %(candidates)s
    ) nearest
), text_leg AS MATERIALIZED (
    SELECT c.id, row_number() OVER (ORDER BY ts_rank_cd(c.content_tsv, q.query) DESC, c.id) AS rank
    FROM rag_chunks c, websearch_to_tsquery('simple', %(query_text)s) AS q(query)
    WHERE c.workspace_id = %(workspace_id)s AND c.content_tsv @@ q.query
      AND (%(content_types)s::text[] IS NULL OR c.content_type = ANY (%(content_types)s::text[]))
      AND (%(path_like)s::text IS NULL OR c.source_path LIKE %(path_like)s::text ESCAPE '\')
    ORDER BY rank
    LIMIT %(candidates)s
), fused AS (
    SELECT id, v.distance, v.rank AS vector_rank, t.rank AS text_rank,
           coalesce(%(vector_weight)s::float8 / (%(rrf_k)s::float8 + v.rank), 0)
           + coalesce(%(text_weight)s::float8 / (%(rrf_k)s::float8 + t.rank), 0) AS score
    FROM vector_leg v FULL JOIN text_leg t USING (id)
)
SELECT c.id, c.content_id, c.chunk_index, c.content, c.source_path, c.content_type, c.title,
       f.score, f.vector_rank, f.text_rank, 1 - f.distance AS similarity
FROM fused f JOIN rag_chunks c ON c.id = f.id
ORDER BY f.score DESC, f.vector_rank NULLS LAST, c.id
LIMIT %(limit)s;

-- name: hybrid_hnsw_384
-- Hybrid search as hybrid_exact, vector leg of size 384 through ix_rag_chunks_embedding_384.
WITH nearest AS MATERIALIZED (
    SELECT id, embedding::vector(384) <=> %(embedding)s::vector(384) AS distance
    FROM rag_chunks
    WHERE embedding_dims = 384 AND workspace_id = %(workspace_id)s
      AND (%(content_types)s::text[] IS NULL OR content_type = ANY (%(content_types)s::text[]))
      AND (%(path_like)s::text IS NULL OR source_path LIKE %(path_like)s::text ESCAPE '\')
    ORDER BY embedding::vector(384) <=> %(embedding)s::vector(384)
    LIMIT %(candidates)s
), vector_leg AS (
    SELECT id, distance, row_number() OVER (ORDER BY distance, id) AS rank FROM nearest
), text_leg AS MATERIALIZED (
    SELECT c.id, row_number() OVER (ORDER BY ts_rank_cd(c.content_tsv, q.query) DESC, c.id) AS rank
    FROM rag_chunks c, websearch_to_tsquery('simple', %(query_text)s) AS q(query)
    WHERE c.workspace_id = %(workspace_id)s AND c.content_tsv @@ q.query
      AND (%(content_types)s::text[] IS NULL OR c.content_type = ANY (%(content_types)s::text[]))
      AND (%(path_like)s::text IS NULL OR c.source_path LIKE %(path_like)s::text ESCAPE '\')
    ORDER BY rank
    LIMIT %(candidates)s
), fused AS (
    SELECT id, v.distance, v.rank AS vector_rank, t.rank AS text_rank,
           coalesce(%(vector_weight)s::float8 / (%(rrf_k)s::float8 + v.rank), 0)
           + coalesce(%(text_weight)s::float8 / (%(rrf_k)s::float8 + t.rank), 0) AS score
    FROM vector_leg v FULL JOIN text_leg t USING (id)
)
SELECT c.id, c.content_id, c.chunk_index, c.content, c.source_path, c.content_type, c.title,
       f.score, f.vector_rank, f.text_rank, 1 - f.distance AS similarity
FROM fused f JOIN rag_chunks c ON c.id = f.id
ORDER BY f.score DESC, f.vector_rank NULLS LAST, c.id
LIMIT %(limit)s;

-- name: hybrid_hnsw_768
-- Hybrid search as hybrid_exact, vector leg of size 768 through ix_rag_chunks_embedding_768.
WITH nearest AS MATERIALIZED (
    SELECT id, embedding::vector(768) <=> %(embedding)s::vector(768) AS distance
    FROM rag_chunks
    WHERE embedding_dims = 768 AND workspace_id = %(workspace_id)s
      AND (%(content_types)s::text[] IS NULL OR content_type = ANY (%(content_types)s::text[]))
      AND (%(path_like)s::text IS NULL OR source_path LIKE %(path_like)s::text ESCAPE '\')
    ORDER BY embedding::vector(768) <=> %(embedding)s::vector(768)
    LIMIT %(candidates)s
), vector_leg AS (
    SELECT id, distance, row_number() OVER (ORDER BY distance, id) AS rank FROM nearest
), text_leg AS MATERIALIZED (
    SELECT c.id, row_number() OVER (ORDER BY ts_rank_cd(c.content_tsv, q.query) DESC, c.id) AS rank
    FROM rag_chunks c, websearch_to_tsquery('simple', %(query_text)s) AS q(query)
    WHERE c.workspace_id = %(workspace_id)s AND c.content_tsv @@ q.query
      AND (%(content_types)s::text[] IS NULL OR c.content_type = ANY (%(content_types)s::text[]))
      AND (%(path_like)s::text IS NULL OR c.source_path LIKE %(path_like)s::text ESCAPE '\')
    ORDER BY rank
    LIMIT %(candidates)s
), fused AS (
    SELECT id, v.distance, v.rank AS vector_rank, t.rank AS text_rank,
           coalesce(%(vector_weight)s::float8 / (%(rrf_k)s::float8 + v.rank), 0)
           + coalesce(%(text_weight)s::float8 / (%(rrf_k)s::float8 + t.rank), 0) AS score
    FROM vector_leg v FULL JOIN text_leg t USING (id)
)
SELECT c.id, c.content_id, c.chunk_index, c.content, c.source_path, c.content_type, c.title,
       f.score, f.vector_rank, f.text_rank, 1 - f.distance AS similarity
FROM fused f JOIN rag_chunks c ON c.id = f.id
ORDER BY f.score DESC, f.vector_rank NULLS LAST, c.id
LIMIT %(limit)s;

-- name: hybrid_hnsw_1536
-- Hybrid search as hybrid_exact, vector leg of size 1536 through ix_rag_chunks_embedding_1536.
WITH nearest AS MATERIALIZED (
    SELECT id, embedding::vector(1536) <=> %(embedding)s::vector(1536) AS distance
    FROM rag_chunks
    WHERE embedding_dims = 1536 AND workspace_id = %(workspace_id)s
      AND (%(content_types)s::text[] IS NULL OR content_type = ANY (%(content_types)s::text[]))
      AND (%(path_like)s::text IS NULL OR source_path LIKE %(path_like)s::text ESCAPE '\')
    ORDER BY embedding::vector(1536) <=> %(embedding)s::vector(1536)
    LIMIT %(candidates)s
), vector_leg AS (
    SELECT id, distance, row_number() OVER (ORDER BY distance, id) AS rank FROM nearest
), text_leg AS MATERIALIZED (
    SELECT c.id, row_number() OVER (ORDER BY ts_rank_cd(c.content_tsv, q.query) DESC, c.id) AS rank
    FROM rag_chunks c, websearch_to_tsquery('simple', %(query_text)s) AS q(query)
    WHERE c.workspace_id = %(workspace_id)s AND c.content_tsv @@ q.query
      AND (%(content_types)s::text[] IS NULL OR c.content_type = ANY (%(content_types)s::text[]))
      AND (%(path_like)s::text IS NULL OR c.source_path LIKE %(path_like)s::text ESCAPE '\')
    ORDER BY rank
    LIMIT %(candidates)s
), fused AS (
    SELECT id, v.distance, v.rank AS vector_rank, t.rank AS text_rank,
           coalesce(%(vector_weight)s::float8 / (%(rrf_k)s::float8 + v.rank), 0)
           + coalesce(%(text_weight)s::float8 / (%(rrf_k)s::float8 + t.rank), 0) AS score
    FROM vector_leg v FULL JOIN text_leg t USING (id)
)
SELECT c.id, c.content_id, c.chunk_index, c.content, c.source_path, c.content_type, c.title,
       f.score, f.vector_rank, f.text_rank, 1 - f.distance AS similarity
FROM fused f JOIN rag_chunks c ON c.id = f.id
ORDER BY f.score DESC, f.vector_rank NULLS LAST, c.id
LIMIT %(limit)s;

-- name: hybrid_hnsw_3072
-- Hybrid search as hybrid_exact, vector leg of size 3072 through ix_rag_chunks_embedding_3072.
WITH nearest AS MATERIALIZED (
    SELECT id, embedding::halfvec(3072) <=> %(embedding)s::vector::halfvec(3072) AS distance
    FROM rag_chunks
    WHERE embedding_dims = 3072 AND workspace_id = %(workspace_id)s
      AND (%(content_types)s::text[] IS NULL OR content_type = ANY (%(content_types)s::text[]))
      AND (%(path_like)s::text IS NULL OR source_path LIKE %(path_like)s::text ESCAPE '\')
    ORDER BY embedding::halfvec(3072) <=> %(embedding)s::vector::halfvec(3072)
    LIMIT %(candidates)s
), vector_leg AS (
    SELECT id, distance, row_number() OVER (ORDER BY distance, id) AS rank FROM nearest
), text_leg AS MATERIALIZED (
    SELECT c.id, row_number() OVER (ORDER BY ts_rank_cd(c.content_tsv, q.query) DESC, c.id) AS rank
    FROM rag_chunks c, websearch_to_tsquery('simple', %(query_text)s) AS q(query)
    WHERE c.workspace_id = %(workspace_id)s AND c.content_tsv @@ q.query
      AND (%(content_types)s::text[] IS NULL OR c.content_type = ANY (%(content_types)s::text[]))
      AND (%(path_like)s::text IS NULL OR c.source_path LIKE %(path_like)s::text ESCAPE '\')
    ORDER BY rank
    LIMIT %(candidates)s
), fused AS (
    SELECT id, v.distance, v.rank AS vector_rank, t.rank AS text_rank,
           coalesce(%(vector_weight)s::float8 / (%(rrf_k)s::float8 + v.rank), 0)
           + coalesce(%(text_weight)s::float8 / (%(rrf_k)s::float8 + t.rank), 0) AS score
    FROM vector_leg v FULL JOIN text_leg t USING (id)
)
SELECT c.id, c.content_id, c.chunk_index, c.content, c.source_path, c.content_type, c.title,
       f.score, f.vector_rank, f.text_rank, 1 - f.distance AS similarity
FROM fused f JOIN rag_chunks c ON c.id = f.id
ORDER BY f.score DESC, f.vector_rank NULLS LAST, c.id
LIMIT %(limit)s;

-- name: index_build_progress?
-- How far the index build of one backend is (pg_stat_progress_create_index), for progress
-- displays: HNSW builds report tuples loaded of the table's tuples; other phases blocks.
SELECT phase,
       CASE WHEN tuples_total > 0 THEN tuples_done ELSE blocks_done END AS done,
       CASE WHEN tuples_total > 0 THEN tuples_total ELSE blocks_total END AS total,
       CASE WHEN tuples_total > 0 THEN 'tuples' ELSE 'blocks' END AS unit
FROM pg_stat_progress_create_index
WHERE pid = %(pid)s::integer;

-- name: call_comment_search_index$
-- Give a freshly built HNSW index its COMMENT back (foundation 0015's function; the owner's
-- CONCURRENTLY builds call it, 0012's functions do it themselves).
SELECT aura_comment_search_index(%(dims)s)::text;
