-- Foundation 0001: the pgvector extension, the shared trigger functions and `workspaces`.
--
-- Every later migration relies on the three trigger functions defined here:
--   aura_set_updated_at()  keeps updated_at current on every UPDATE;
--   aura_set_audit()       fills created_by / updated_by from the transaction-local setting
--                          'aura.actor' (set_config('aura.actor', $1, true)), never from SQL text;
--   aura_bump_version()    increments version on every UPDATE (optimistic concurrency).

-- pgvector is not a trusted extension: only a superuser may create it. aura-db creates it when it
-- is missing (and it may), and records that it did in aura_created_extensions, so that rolling
-- back drops only an extension aura-db created. When a superuser created it beforehand (the one
-- prerequisite for a non-superuser owner: CREATE EXTENSION vector; in this database), it is
-- used as it is and survives every rollback.
-- (Amended after release: the first version ran CREATE EXTENSION IF NOT EXISTS vector and its
-- rollback always dropped it; aura_db.migrations.files.SUPERSEDED accepts that version's hashes.)
CREATE TABLE aura_created_extensions (
    extname    name        PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE aura_created_extensions IS
    'Extensions aura-db created (and so may drop on rollback); written by migrations only.';
COMMENT ON COLUMN aura_created_extensions.extname IS 'Name of the extension foundation 0001 created.';
COMMENT ON COLUMN aura_created_extensions.created_at IS 'When foundation 0001 created it.';

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_extension WHERE extname = 'vector') THEN
        CREATE EXTENSION vector;
        INSERT INTO aura_created_extensions (extname) VALUES ('vector');
    END IF;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE EXCEPTION 'aura-db needs the pgvector extension in database %, and role % may not create it',
        current_database(), current_user
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'a superuser runs, once, in this database: CREATE EXTENSION vector;';
END;
$$;

CREATE FUNCTION aura_set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;
COMMENT ON FUNCTION aura_set_updated_at() IS
    'BEFORE UPDATE trigger: sets updated_at to now() (the transaction start time).';

CREATE FUNCTION aura_set_audit() RETURNS trigger
LANGUAGE plpgsql AS $$
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

CREATE FUNCTION aura_bump_version() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.version := OLD.version + 1;
    RETURN NEW;
END;
$$;
COMMENT ON FUNCTION aura_bump_version() IS
    'BEFORE UPDATE trigger: increments version by one on every update (optimistic concurrency).';

CREATE TABLE workspaces (
    id                       varchar(16)   PRIMARY KEY,
    name                     varchar(500)  NOT NULL,
    path                     varchar(1000) NOT NULL,
    is_git_repository        boolean       NOT NULL DEFAULT false,
    current_commit_sha       varchar(40),
    rag_indexed_at           timestamptz,
    rag_indexed_commit_sha   varchar(40),
    graph_indexed_at         timestamptz,
    graph_indexed_commit_sha varchar(40),
    created_at               timestamptz   NOT NULL DEFAULT now(),
    updated_at               timestamptz   NOT NULL DEFAULT now(),
    created_by               varchar(200),
    updated_by               varchar(200),
    deleted_at               timestamptz,
    version                  integer       NOT NULL DEFAULT 1,
    CONSTRAINT ck_workspaces_id_hex CHECK (id ~ '^[0-9a-f]{16}$'),
    CONSTRAINT ck_workspaces_name_not_blank CHECK (btrim(name) <> ''),
    CONSTRAINT ck_workspaces_path_absolute CHECK (left(path, 1) = '/'),
    CONSTRAINT ck_workspaces_version_positive CHECK (version >= 1)
);
CREATE UNIQUE INDEX ux_workspaces_path ON workspaces (path);
CREATE INDEX ix_workspaces_live ON workspaces (name) WHERE deleted_at IS NULL;

CREATE TRIGGER trg_workspaces_updated_at BEFORE UPDATE ON workspaces
    FOR EACH ROW EXECUTE FUNCTION aura_set_updated_at();
CREATE TRIGGER trg_workspaces_audit BEFORE INSERT OR UPDATE ON workspaces
    FOR EACH ROW EXECUTE FUNCTION aura_set_audit();
CREATE TRIGGER trg_workspaces_version BEFORE UPDATE ON workspaces
    FOR EACH ROW EXECUTE FUNCTION aura_bump_version();

COMMENT ON TABLE workspaces IS
    'Registered (onboarded) workspaces: one row per indexed source tree, keyed by a hash of its path.';
COMMENT ON COLUMN workspaces.id IS
    'First 16 hex characters of SHA-256 of the normalized absolute path (written by the application).';
COMMENT ON COLUMN workspaces.name IS 'Display name, usually the last path component.';
COMMENT ON COLUMN workspaces.path IS
    'Normalized absolute path: .. resolved, no trailing separator. Unique.';
COMMENT ON COLUMN workspaces.is_git_repository IS 'True when the path is the root of a git work tree.';
COMMENT ON COLUMN workspaces.current_commit_sha IS 'HEAD commit SHA last seen by the indexer, if git.';
COMMENT ON COLUMN workspaces.rag_indexed_at IS 'When the RAG (chunk) index was last completed.';
COMMENT ON COLUMN workspaces.rag_indexed_commit_sha IS 'Commit the RAG index was built from.';
COMMENT ON COLUMN workspaces.graph_indexed_at IS 'When the code graph was last completed.';
COMMENT ON COLUMN workspaces.graph_indexed_commit_sha IS 'Commit the code graph was built from.';
COMMENT ON COLUMN workspaces.created_at IS 'Row creation time (database clock).';
COMMENT ON COLUMN workspaces.updated_at IS 'Last update time, kept by trigger aura_set_updated_at.';
COMMENT ON COLUMN workspaces.created_by IS 'Actor (aura.actor setting) that created the row, by trigger.';
COMMENT ON COLUMN workspaces.updated_by IS 'Actor (aura.actor setting) of the last update, by trigger.';
COMMENT ON COLUMN workspaces.deleted_at IS 'Soft-delete time; NULL while the workspace is live.';
COMMENT ON COLUMN workspaces.version IS 'Optimistic-concurrency version, +1 on every update by trigger.';
