-- Undo foundation 0001. The vector extension is dropped only when 0001 created it (it is then in
-- aura_created_extensions); one a superuser created beforehand stays. DROP EXTENSION without
-- CASCADE fails when something outside aura-db still uses it, which is what we want.
-- A database migrated by the first version of 0001 has no aura_created_extensions: nothing
-- says who created the extension there, so it stays.
DROP TABLE workspaces;
DROP FUNCTION aura_bump_version();
DROP FUNCTION aura_set_audit();
DROP FUNCTION aura_set_updated_at();
DO $$
BEGIN
    IF to_regclass('aura_created_extensions') IS NOT NULL THEN
        IF EXISTS (SELECT FROM aura_created_extensions WHERE extname = 'vector') THEN
            DROP EXTENSION vector;
        END IF;
    END IF;
END;
$$;
DROP TABLE IF EXISTS aura_created_extensions;
