-- Undo foundation 0002: children first. Indexes, triggers and comments go with their tables.
DROP TABLE message_rag_contexts;
DROP TABLE messages;
DROP TABLE conversations;
