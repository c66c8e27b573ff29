-- Configurations: the run-time key -> JSON value store (feature flags, limits).
-- Keys are dotted by convention (rag.default_top_k); list filters on an escaped LIKE prefix.

-- name: get_configuration?
-- One setting by key, or none.
SELECT key, value, updated_at FROM configurations WHERE key = %(key)s;

-- name: set_configuration^
-- Insert or replace a setting.
INSERT INTO configurations (key, value)
VALUES (%(key)s, %(value)s)
ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value
RETURNING key, value, updated_at;

-- name: delete_configuration!
-- Remove a setting.
DELETE FROM configurations WHERE key = %(key)s;

-- name: list_configurations
-- Every setting, or those whose key matches an escaped LIKE prefix pattern, by key.
SELECT key, value, updated_at
FROM configurations
WHERE %(key_like)s::text IS NULL OR key LIKE %(key_like)s::text ESCAPE '\'
ORDER BY key;
