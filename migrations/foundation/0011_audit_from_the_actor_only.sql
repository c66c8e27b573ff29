-- depends: 0010_pin_function_search_path
-- Foundation 0011: created_by / updated_by come from the transaction's actor only.
--
-- Until now an INSERT could write created_by itself, and an UPDATE made without an actor kept
-- the previous updated_by (so a change nobody claimed read as the last actor's). Now:
--   INSERT: created_by = updated_by = the actor (NULL without one), whatever the statement says;
--   UPDATE: created_by never changes; updated_by = the actor of this transaction (NULL without).
-- The actor is the transaction-local setting aura.actor (db.transaction(actor=...)).

CREATE OR REPLACE FUNCTION aura_set_audit() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    actor text := nullif(current_setting('aura.actor', true), '');
BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW.created_by := actor;
    ELSE
        NEW.created_by := OLD.created_by;
    END IF;
    NEW.updated_by := actor;
    RETURN NEW;
END;
$$;
COMMENT ON FUNCTION aura_set_audit() IS
    'BEFORE INSERT OR UPDATE trigger: created_by/updated_by from the transaction-local setting '
    'aura.actor only (NULL without one); created_by never changes after insert.';
