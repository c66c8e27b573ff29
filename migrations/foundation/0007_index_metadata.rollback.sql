-- Undo foundation 0007. Indexes and comments go with the table.
DROP TABLE index_metadata;
