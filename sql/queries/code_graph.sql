-- The code graph (002 §1.6-1.7): symbols and their relationships, written by the graph indexer.
--
-- Writes go through binary COPY into unindexed temporary tables, then one INSERT ... SELECT ...
-- ON CONFLICT per table on the natural keys (nodes: repository_path, fully_qualified_name,
-- node_type; edges: source, target, edge_type), all in one transaction. Edges name their
-- endpoints by id or by natural key (fully_qualified_name + node_type in the same repository).
-- A repository is matched as "repository_path = x OR (x IS NULL AND repository_path IS NULL)",
-- not "IS NOT DISTINCT FROM x", which no btree index serves (docs/schema.md showed
-- count_graph and delete_repository_graph reading all of code_nodes).
-- Statements that read the temporary tables are scripts ('#'): they cannot be prepared before
-- the tables exist.
--
-- Traversals are breadth-first, one row per depth ("level"): the next level is the targets of
-- the level's edges that no earlier level holds (an anti-join on "seen"), so every node is
-- visited once, at its minimal depth, and the work grows with the edges, not the paths (a
-- dense layered graph answers at any depth). Each node keeps one parent: the first in the
-- level's order, which is the lexical order of the paths, so its path is the lexically first
-- shortest path (ties between edge types of one hop: the first type). "route" then rebuilds
-- the node paths and edge types from the parents, once per node. %(max_depth)s caps the depth.

-- name: create_graph_staging#
-- Empty, unindexed temporary tables for one upsert, dropped at commit (emptied when an earlier
-- upsert of the same transaction made them). No DROP: psycopg clears its prepared statements
-- whenever it sees one.
CREATE TEMP TABLE IF NOT EXISTS code_node_staging (
    repository_path      text,
    name                 text    NOT NULL,
    fully_qualified_name text    NOT NULL,
    node_type            text    NOT NULL,
    file_path            text,
    start_line           integer,
    end_line             integer,
    signature            text,
    documentation        text,
    metadata             jsonb
) ON COMMIT DROP;
CREATE TEMP TABLE IF NOT EXISTS code_edge_staging (
    position       integer NOT NULL,
    repository_path text,
    source_id      uuid,
    source_fqn     text,
    source_type    text,
    target_id      uuid,
    target_fqn     text,
    target_type    text,
    edge_type      text    NOT NULL,
    metadata       jsonb
) ON COMMIT DROP;
TRUNCATE pg_temp.code_node_staging, pg_temp.code_edge_staging;

-- name: copy_node_staging<
-- Binary COPY of the nodes to upsert.
COPY pg_temp.code_node_staging (repository_path, name, fully_qualified_name, node_type, file_path,
    start_line, end_line, signature, documentation, metadata)
FROM STDIN (FORMAT BINARY);

-- name: copy_edge_staging<
-- Binary COPY of the edges to upsert.
COPY pg_temp.code_edge_staging (position, repository_path, source_id, source_fqn, source_type,
    target_id, target_fqn, target_type, edge_type, metadata)
FROM STDIN (FORMAT BINARY);

-- name: upsert_staged_nodes#
-- Insert or update the staged nodes on their natural key; unchanged nodes are not rewritten.
INSERT INTO code_nodes AS n (repository_path, name, fully_qualified_name, node_type, file_path,
    start_line, end_line, signature, documentation, metadata)
SELECT repository_path, name, fully_qualified_name, node_type, file_path, start_line, end_line,
       signature, documentation, metadata
FROM pg_temp.code_node_staging
ORDER BY fully_qualified_name, node_type
ON CONFLICT (repository_path, fully_qualified_name, node_type) DO UPDATE SET
    name = EXCLUDED.name, file_path = EXCLUDED.file_path, start_line = EXCLUDED.start_line,
    end_line = EXCLUDED.end_line, signature = EXCLUDED.signature,
    documentation = EXCLUDED.documentation, metadata = EXCLUDED.metadata
WHERE (n.name, n.file_path, n.start_line, n.end_line, n.signature, n.documentation, n.metadata)
      IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.file_path, EXCLUDED.start_line, EXCLUDED.end_line,
                        EXCLUDED.signature, EXCLUDED.documentation, EXCLUDED.metadata);

-- name: upsert_staged_edges#
-- Resolve edge endpoints given by natural key (23503 naming the first edge whose endpoint is
-- unknown), then insert the edges, updating the metadata of those that exist.
UPDATE pg_temp.code_edge_staging e SET source_id = n.id
FROM code_nodes n
WHERE e.source_id IS NULL AND n.repository_path IS NOT DISTINCT FROM e.repository_path
  AND n.fully_qualified_name = e.source_fqn AND n.node_type = e.source_type;
UPDATE pg_temp.code_edge_staging e SET target_id = n.id
FROM code_nodes n
WHERE e.target_id IS NULL AND n.repository_path IS NOT DISTINCT FROM e.repository_path
  AND n.fully_qualified_name = e.target_fqn AND n.node_type = e.target_type;
DO $$
DECLARE
    bad record;
BEGIN
    SELECT * INTO bad FROM pg_temp.code_edge_staging
    WHERE source_id IS NULL OR target_id IS NULL ORDER BY position LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'edge % names an unknown node', bad.position
            USING ERRCODE = 'foreign_key_violation', TABLE = 'code_edges',
                  CONSTRAINT = CASE WHEN bad.source_id IS NULL THEN 'fk_code_edges_source_node_id'
                                    ELSE 'fk_code_edges_target_node_id' END,
                  DETAIL = format('edge %s (%s): no %s node %L in repository %L', bad.position,
                                  bad.edge_type,
                                  CASE WHEN bad.source_id IS NULL THEN bad.source_type ELSE bad.target_type END,
                                  CASE WHEN bad.source_id IS NULL THEN bad.source_fqn ELSE bad.target_fqn END,
                                  bad.repository_path);
    END IF;
END;
$$;
INSERT INTO code_edges AS e (source_node_id, target_node_id, edge_type, metadata)
SELECT DISTINCT ON (source_id, target_id, edge_type) source_id, target_id, edge_type, metadata
FROM pg_temp.code_edge_staging
ORDER BY source_id, target_id, edge_type, position DESC
ON CONFLICT (source_node_id, target_node_id, edge_type) DO UPDATE SET metadata = EXCLUDED.metadata
WHERE e.metadata IS DISTINCT FROM EXCLUDED.metadata;

-- name: delete_file_nodes_except!
-- Replace semantics for one file: delete its nodes that are not in the new set (arrays in
-- step: fully_qualified_name, node_type); their edges go with them (cascade).
DELETE FROM code_nodes n
WHERE (n.repository_path = %(repository_path)s::text
       OR (%(repository_path)s::text IS NULL AND n.repository_path IS NULL))
  AND n.file_path = %(file_path)s::text
  AND (n.fully_qualified_name, n.node_type) NOT IN (
      SELECT k.fqn, k.node_type
      FROM unnest(%(fqns)s::text[], %(node_types)s::text[]) AS k(fqn, node_type));

-- name: count_graph^
-- How many nodes and edges (by their source node) a repository has.
SELECT (SELECT count(*) FROM code_nodes
        WHERE (repository_path = %(repository_path)s::text
               OR (%(repository_path)s::text IS NULL AND repository_path IS NULL))) AS nodes,
       (SELECT count(*) FROM code_edges e JOIN code_nodes n ON n.id = e.source_node_id
        WHERE (n.repository_path = %(repository_path)s::text
               OR (%(repository_path)s::text IS NULL AND n.repository_path IS NULL))) AS edges;

-- name: delete_repository_graph$
-- Delete every node of a repository (edges cascade); returns the nodes deleted.
WITH gone AS (
    DELETE FROM code_nodes
    WHERE (repository_path = %(repository_path)s::text
           OR (%(repository_path)s::text IS NULL AND repository_path IS NULL))
    RETURNING 1
)
SELECT count(*) FROM gone;

-- name: get_code_node?
-- One node by id.
SELECT id, name, fully_qualified_name, node_type, file_path, start_line, end_line, signature,
       documentation, repository_path, metadata, created_at
FROM code_nodes WHERE id = %(id)s;

-- name: find_code_nodes
-- Nodes of a repository (all repositories when %(any_repository)s) matching every filter given:
-- exact name, exact fully qualified name, fully qualified name LIKE an escaped prefix pattern,
-- name ILIKE an escaped pattern, node types; by fully qualified name.
SELECT id, name, fully_qualified_name, node_type, file_path, start_line, end_line, signature,
       documentation, repository_path, metadata, created_at
FROM code_nodes
WHERE (%(any_repository)s::boolean OR repository_path = %(repository_path)s::text
       OR (%(repository_path)s::text IS NULL AND repository_path IS NULL))
  AND (%(name)s::text IS NULL OR name = %(name)s::text)
  AND (%(fqn)s::text IS NULL OR fully_qualified_name = %(fqn)s::text)
  AND (%(fqn_like)s::text IS NULL OR fully_qualified_name LIKE %(fqn_like)s::text ESCAPE '\')
  AND (%(name_ilike)s::text IS NULL OR name ILIKE %(name_ilike)s::text ESCAPE '\')
  AND (%(node_types)s::text[] IS NULL OR node_type = ANY (%(node_types)s::text[]))
ORDER BY fully_qualified_name, node_type, id
LIMIT %(limit)s;

-- name: walk_outgoing
-- Nodes reachable from %(start)s along edges of %(edge_types)s in their direction, up to
-- %(max_depth)s hops; each once, at its minimal depth, with the node path and edge types.
WITH RECURSIVE level (depth, nodes, parents, edges, seen) AS (
    SELECT 0, ARRAY[%(start)s::uuid], ARRAY[0::bigint], ARRAY[NULL::text], ARRAY[%(start)s::uuid]
    UNION ALL
    SELECT l.depth + 1, n.nodes, n.parents, n.edges, l.seen || n.nodes
    FROM level l
    CROSS JOIN LATERAL (
        SELECT array_agg(c.node ORDER BY c.parent, c.node) AS nodes,
               array_agg(c.parent ORDER BY c.parent, c.node) AS parents,
               array_agg(c.edge ORDER BY c.parent, c.node) AS edges
        FROM (SELECT DISTINCT ON (e.target_node_id) e.target_node_id AS node, f.ord AS parent, e.edge_type::text AS edge
              FROM unnest(l.nodes) WITH ORDINALITY AS f (id, ord)
              JOIN code_edges e ON e.source_node_id = f.id
              WHERE e.edge_type = ANY (%(edge_types)s::text[])
                AND NOT EXISTS (SELECT FROM unnest(l.seen) AS s (id) WHERE s.id = e.target_node_id)
              ORDER BY e.target_node_id, f.ord, e.edge_type) AS c
    ) AS n
    WHERE l.depth < %(max_depth)s AND n.nodes IS NOT NULL
), hit AS MATERIALIZED (
    SELECT l.depth, f.ord, f.id AS node_id, l.parents[f.ord] AS parent, l.edges[f.ord] AS edge
    FROM level l, unnest(l.nodes) WITH ORDINALITY AS f (id, ord)
), route (node_id, depth, ord, path, edges) AS (
    SELECT node_id, 0, ord, ARRAY[node_id], ARRAY[]::text[] FROM hit WHERE depth = 0
    UNION ALL
    SELECT h.node_id, h.depth, h.ord, r.path || h.node_id, r.edges || h.edge
    FROM route r JOIN hit h ON h.depth = r.depth + 1 AND h.parent = r.ord
)
SELECT n.id, n.name, n.fully_qualified_name, n.node_type, n.file_path, n.start_line, n.end_line,
       n.signature, n.documentation, n.repository_path, n.metadata, n.created_at,
       w.depth, w.path, w.edges
FROM route w JOIN code_nodes n ON n.id = w.node_id
WHERE w.depth > 0
ORDER BY w.depth, n.fully_qualified_name, n.id;

-- name: walk_incoming
-- As walk_outgoing, against the direction of the edges (who calls / implements / references).
WITH RECURSIVE level (depth, nodes, parents, edges, seen) AS (
    SELECT 0, ARRAY[%(start)s::uuid], ARRAY[0::bigint], ARRAY[NULL::text], ARRAY[%(start)s::uuid]
    UNION ALL
    SELECT l.depth + 1, n.nodes, n.parents, n.edges, l.seen || n.nodes
    FROM level l
    CROSS JOIN LATERAL (
        SELECT array_agg(c.node ORDER BY c.parent, c.node) AS nodes,
               array_agg(c.parent ORDER BY c.parent, c.node) AS parents,
               array_agg(c.edge ORDER BY c.parent, c.node) AS edges
        FROM (SELECT DISTINCT ON (e.source_node_id) e.source_node_id AS node, f.ord AS parent, e.edge_type::text AS edge
              FROM unnest(l.nodes) WITH ORDINALITY AS f (id, ord)
              JOIN code_edges e ON e.target_node_id = f.id
              WHERE e.edge_type = ANY (%(edge_types)s::text[])
                AND NOT EXISTS (SELECT FROM unnest(l.seen) AS s (id) WHERE s.id = e.source_node_id)
              ORDER BY e.source_node_id, f.ord, e.edge_type) AS c
    ) AS n
    WHERE l.depth < %(max_depth)s AND n.nodes IS NOT NULL
), hit AS MATERIALIZED (
    SELECT l.depth, f.ord, f.id AS node_id, l.parents[f.ord] AS parent, l.edges[f.ord] AS edge
    FROM level l, unnest(l.nodes) WITH ORDINALITY AS f (id, ord)
), route (node_id, depth, ord, path, edges) AS (
    SELECT node_id, 0, ord, ARRAY[node_id], ARRAY[]::text[] FROM hit WHERE depth = 0
    UNION ALL
    SELECT h.node_id, h.depth, h.ord, r.path || h.node_id, r.edges || h.edge
    FROM route r JOIN hit h ON h.depth = r.depth + 1 AND h.parent = r.ord
)
SELECT n.id, n.name, n.fully_qualified_name, n.node_type, n.file_path, n.start_line, n.end_line,
       n.signature, n.documentation, n.repository_path, n.metadata, n.created_at,
       w.depth, w.path, w.edges
FROM route w JOIN code_nodes n ON n.id = w.node_id
WHERE w.depth > 0
ORDER BY w.depth, n.fully_qualified_name, n.id;
