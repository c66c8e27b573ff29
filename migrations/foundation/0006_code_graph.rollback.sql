-- Undo foundation 0006: edges first. Indexes and comments go with their tables.
DROP TABLE code_edges;
DROP TABLE code_nodes;
