-- Undo foundation 0009. Comments go with the table; searches fall back to the configured ef_search.
DROP TABLE rag_search_calibrations;
