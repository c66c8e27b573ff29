-- Undo developer 0001. Indexes, triggers and comments go with the table.
DROP TABLE stories;
