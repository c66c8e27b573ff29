-- depends: 0009_rag_search_calibrations
-- Foundation 0010: pin search_path in aura-db's trigger functions.
--
-- A function resolves names through the search_path of whoever fires it; a caller who puts a
-- schema (or pg_temp) of their own first could have it pick up their objects instead. The
-- three trigger functions use only built-ins, so they run with pg_catalog alone (pg_temp last,
-- where it cannot shadow anything). Functions added by later migrations pin it in their CREATE.

ALTER FUNCTION aura_set_updated_at() SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION aura_set_audit() SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION aura_bump_version() SET search_path = pg_catalog, pg_temp;
