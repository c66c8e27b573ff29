-- Undo foundation 0001. The vector extension is left installed only if something outside
-- aura-db still uses it (DROP EXTENSION without CASCADE fails then, which is what we want).
DROP TABLE workspaces;
DROP FUNCTION aura_bump_version();
DROP FUNCTION aura_set_audit();
DROP FUNCTION aura_set_updated_at();
DROP EXTENSION vector;
