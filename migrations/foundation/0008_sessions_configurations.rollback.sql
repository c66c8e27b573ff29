-- Undo foundation 0008. Indexes, triggers and comments go with their tables.
DROP TABLE configurations;
DROP TABLE sessions;
