-- Undo foundation 0012. The indexes themselves belong to 0005 and stay.
DROP FUNCTION aura_reindex_search_index(integer, integer, integer);
DROP FUNCTION aura_build_search_index(integer, integer, integer);
DROP FUNCTION aura_drop_search_index(integer);
DROP FUNCTION aura_search_index_statement(integer, integer, integer, boolean, boolean);
