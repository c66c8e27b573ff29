-- Undo foundation 0004. Indexes and comments go with the table.
DROP TABLE rag_chunks;
