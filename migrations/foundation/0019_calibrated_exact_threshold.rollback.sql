-- Foundation 0019 rollback: searches use the configured exact_threshold alone again.

ALTER TABLE rag_search_calibrations DROP COLUMN exact_below;
