-- Client sessions (UI, CLI, IDE extension) and their liveness: a heartbeat upserts the session,
-- a periodic sweep marks the ones that went quiet as inactive, and old inactive ones are purged.
-- The sweep uses the partial index ix_sessions_active_last_heartbeat (active sessions only).

-- name: heartbeat_session?
-- Open a session (a new id when none is given) or refresh one of the same client: the heartbeat
-- time, active again, metadata replaced when given. None when the id belongs to another client.
INSERT INTO sessions AS s (id, client_id, metadata)
VALUES (coalesce(%(id)s::uuid, gen_random_uuid()), %(client_id)s, %(metadata)s)
ON CONFLICT (id) DO UPDATE
SET last_heartbeat = now(), is_active = true, metadata = coalesce(EXCLUDED.metadata, s.metadata)
WHERE s.client_id = EXCLUDED.client_id
RETURNING id, client_id, is_active, last_heartbeat, metadata, created_at, updated_at;

-- name: get_session?
-- One session by id, active or not, or none.
SELECT id, client_id, is_active, last_heartbeat, metadata, created_at, updated_at
FROM sessions
WHERE id = %(id)s;

-- name: list_active_sessions
-- Active sessions, optionally of one client, latest heartbeat first.
SELECT id, client_id, is_active, last_heartbeat, metadata, created_at, updated_at
FROM sessions
WHERE is_active AND (%(client_id)s::text IS NULL OR client_id = %(client_id)s::text)
ORDER BY last_heartbeat DESC, id;

-- name: end_session!
-- Close an active session (the client signed off).
UPDATE sessions SET is_active = false WHERE id = %(id)s AND is_active;

-- name: mark_stale_sessions!
-- Mark active sessions whose last heartbeat is older than the timeout as inactive.
UPDATE sessions SET is_active = false
WHERE is_active AND last_heartbeat < now() - %(timeout)s::interval;

-- name: purge_inactive_sessions!
-- Delete inactive sessions whose last heartbeat is older than the given age.
DELETE FROM sessions
WHERE NOT is_active AND last_heartbeat < now() - %(older_than)s::interval;

-- name: list_sessions
-- Sessions matching every filter given (client, active or not, opened in [since, until)),
-- newest first; keyset-paged on (created_at, id) below the cursor.
SELECT id, client_id, is_active, last_heartbeat, metadata, created_at, updated_at
FROM sessions
WHERE (%(client_id)s::text IS NULL OR client_id = %(client_id)s::text)
  AND (%(active)s::boolean IS NULL OR is_active = %(active)s::boolean)
  AND (%(since)s::timestamptz IS NULL OR created_at >= %(since)s::timestamptz)
  AND (%(until)s::timestamptz IS NULL OR created_at < %(until)s::timestamptz)
  AND (%(before_created_at)s::timestamptz IS NULL
       OR (created_at, id) < (%(before_created_at)s::timestamptz, %(before_id)s::uuid))
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s;

-- name: count_sessions$
-- How many sessions match the filters of list_sessions (no cursor).
SELECT count(*)::bigint
FROM sessions
WHERE (%(client_id)s::text IS NULL OR client_id = %(client_id)s::text)
  AND (%(active)s::boolean IS NULL OR is_active = %(active)s::boolean)
  AND (%(since)s::timestamptz IS NULL OR created_at >= %(since)s::timestamptz)
  AND (%(until)s::timestamptz IS NULL OR created_at < %(until)s::timestamptz);
