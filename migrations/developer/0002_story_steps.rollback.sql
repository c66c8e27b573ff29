-- Undo developer 0002: tasks first. Indexes, triggers and comments go with their tables.
DROP TABLE story_tasks;
DROP TABLE story_steps;
