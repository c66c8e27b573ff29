-- Undo foundation 0011: statements may set created_by on INSERT again, and an update without
-- an actor keeps the previous updated_by.
-- The body below is foundation 0001's, restored verbatim (with 0010's pinned search_path): a
-- rollback must put back exactly what was there, and a DBA reads it whole.
CREATE OR REPLACE FUNCTION aura_set_audit() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    actor text := nullif(current_setting('aura.actor', true), '');
BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW.created_by := coalesce(NEW.created_by, actor);
        NEW.updated_by := coalesce(NEW.updated_by, actor);
    ELSE
        NEW.created_by := OLD.created_by;
        NEW.updated_by := coalesce(actor, NEW.updated_by);
    END IF;
    RETURN NEW;
END;
$$;
COMMENT ON FUNCTION aura_set_audit() IS
    'BEFORE INSERT OR UPDATE trigger: fills created_by/updated_by from the transaction-local '
    'setting aura.actor; created_by never changes after insert.';
