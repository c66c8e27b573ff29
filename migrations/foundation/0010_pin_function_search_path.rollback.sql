-- Undo foundation 0010: the trigger functions use the caller's search_path again.
ALTER FUNCTION aura_set_updated_at() RESET search_path;
ALTER FUNCTION aura_set_audit() RESET search_path;
ALTER FUNCTION aura_bump_version() RESET search_path;
