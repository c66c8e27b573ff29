-- Stories: units of work an agent team carries out (seed 002 §2.1; seed 000's workflows).
-- Soft-deleted stories (deleted_at set) are invisible to every query here but restore/purge.

-- name: create_story^
-- Insert a story; status starts at Created.
INSERT INTO stories (
    title, description, repository_path, worktree_path, git_branch,
    issue_url, issue_provider, issue_number, issue_owner, issue_repo,
    automation_mode, dispatch_target, source, source_guardian_id, priority,
    pattern_name, pattern_language, suggested_capability, max_parallelism, gate_mode
) VALUES (
    %(title)s, %(description)s, %(repository_path)s, %(worktree_path)s, %(git_branch)s,
    %(issue_url)s, %(issue_provider)s, %(issue_number)s, %(issue_owner)s, %(issue_repo)s,
    %(automation_mode)s, %(dispatch_target)s, %(source)s, %(source_guardian_id)s, %(priority)s,
    %(pattern_name)s, %(pattern_language)s, %(suggested_capability)s, %(max_parallelism)s,
    %(gate_mode)s
)
RETURNING *;

-- name: get_story?
-- A live story by id.
SELECT * FROM stories WHERE id = %(id)s AND deleted_at IS NULL;

-- name: get_story_state?
-- Status and version of a story, deleted or not (explains a refused update).
SELECT status, version, deleted_at IS NOT NULL AS deleted FROM stories WHERE id = %(id)s;

-- name: list_stories_newest
-- One page of live stories, newest first, keyset-paginated on (created_at, id).
SELECT * FROM stories
WHERE deleted_at IS NULL
  AND (%(statuses)s::text[] IS NULL OR status = ANY (%(statuses)s::text[]))
  AND (%(repository_path)s::text IS NULL OR repository_path = %(repository_path)s::text)
  AND (%(created_from)s::timestamptz IS NULL OR created_at >= %(created_from)s::timestamptz)
  AND (%(created_before)s::timestamptz IS NULL OR created_at < %(created_before)s::timestamptz)
  AND (%(title_like)s::text IS NULL OR title ILIKE %(title_like)s::text ESCAPE '\')
  AND (%(after_created_at)s::timestamptz IS NULL
       OR (created_at, id) < (%(after_created_at)s::timestamptz, %(after_id)s::uuid))
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s;

-- name: list_stories_oldest
-- One page of live stories, oldest first, keyset-paginated on (created_at, id).
SELECT * FROM stories
WHERE deleted_at IS NULL
  AND (%(statuses)s::text[] IS NULL OR status = ANY (%(statuses)s::text[]))
  AND (%(repository_path)s::text IS NULL OR repository_path = %(repository_path)s::text)
  AND (%(created_from)s::timestamptz IS NULL OR created_at >= %(created_from)s::timestamptz)
  AND (%(created_before)s::timestamptz IS NULL OR created_at < %(created_before)s::timestamptz)
  AND (%(title_like)s::text IS NULL OR title ILIKE %(title_like)s::text ESCAPE '\')
  AND (%(after_created_at)s::timestamptz IS NULL
       OR (created_at, id) > (%(after_created_at)s::timestamptz, %(after_id)s::uuid))
ORDER BY created_at, id
LIMIT %(limit)s;

-- name: count_stories$
-- How many live stories match the same filters as the listings.
SELECT count(*) FROM stories
WHERE deleted_at IS NULL
  AND (%(statuses)s::text[] IS NULL OR status = ANY (%(statuses)s::text[]))
  AND (%(repository_path)s::text IS NULL OR repository_path = %(repository_path)s::text)
  AND (%(created_from)s::timestamptz IS NULL OR created_at >= %(created_from)s::timestamptz)
  AND (%(created_before)s::timestamptz IS NULL OR created_at < %(created_before)s::timestamptz)
  AND (%(title_like)s::text IS NULL OR title ILIKE %(title_like)s::text ESCAPE '\');

-- name: update_story?
-- Change the fields named in %(fields)s, only if the story is still at %(version)s.
UPDATE stories SET
    title = CASE WHEN 'title' = ANY (%(fields)s::text[]) THEN %(title)s::text ELSE title END,
    description = CASE WHEN 'description' = ANY (%(fields)s::text[]) THEN %(description)s::text ELSE description END,
    repository_path = CASE WHEN 'repository_path' = ANY (%(fields)s::text[]) THEN %(repository_path)s::text ELSE repository_path END,
    worktree_path = CASE WHEN 'worktree_path' = ANY (%(fields)s::text[]) THEN %(worktree_path)s::text ELSE worktree_path END,
    git_branch = CASE WHEN 'git_branch' = ANY (%(fields)s::text[]) THEN %(git_branch)s::text ELSE git_branch END,
    analyzed_context = CASE WHEN 'analyzed_context' = ANY (%(fields)s::text[]) THEN %(analyzed_context)s::jsonb ELSE analyzed_context END,
    execution_plan = CASE WHEN 'execution_plan' = ANY (%(fields)s::text[]) THEN %(execution_plan)s::jsonb ELSE execution_plan END,
    issue_url = CASE WHEN 'issue_url' = ANY (%(fields)s::text[]) THEN %(issue_url)s::text ELSE issue_url END,
    issue_provider = CASE WHEN 'issue_provider' = ANY (%(fields)s::text[]) THEN %(issue_provider)s::text ELSE issue_provider END,
    issue_number = CASE WHEN 'issue_number' = ANY (%(fields)s::text[]) THEN %(issue_number)s::integer ELSE issue_number END,
    issue_owner = CASE WHEN 'issue_owner' = ANY (%(fields)s::text[]) THEN %(issue_owner)s::text ELSE issue_owner END,
    issue_repo = CASE WHEN 'issue_repo' = ANY (%(fields)s::text[]) THEN %(issue_repo)s::text ELSE issue_repo END,
    automation_mode = CASE WHEN 'automation_mode' = ANY (%(fields)s::text[]) THEN %(automation_mode)s::text ELSE automation_mode END,
    dispatch_target = CASE WHEN 'dispatch_target' = ANY (%(fields)s::text[]) THEN %(dispatch_target)s::text ELSE dispatch_target END,
    priority = CASE WHEN 'priority' = ANY (%(fields)s::text[]) THEN %(priority)s::text ELSE priority END,
    pattern_name = CASE WHEN 'pattern_name' = ANY (%(fields)s::text[]) THEN %(pattern_name)s::text ELSE pattern_name END,
    pattern_language = CASE WHEN 'pattern_language' = ANY (%(fields)s::text[]) THEN %(pattern_language)s::text ELSE pattern_language END,
    suggested_capability = CASE WHEN 'suggested_capability' = ANY (%(fields)s::text[]) THEN %(suggested_capability)s::text ELSE suggested_capability END,
    chat_history = CASE WHEN 'chat_history' = ANY (%(fields)s::text[]) THEN %(chat_history)s::jsonb ELSE chat_history END,
    verification_passed = CASE WHEN 'verification_passed' = ANY (%(fields)s::text[]) THEN %(verification_passed)s::boolean ELSE verification_passed END,
    verification_result = CASE WHEN 'verification_result' = ANY (%(fields)s::text[]) THEN %(verification_result)s::jsonb ELSE verification_result END,
    current_wave = CASE WHEN 'current_wave' = ANY (%(fields)s::text[]) THEN %(current_wave)s::integer ELSE current_wave END,
    gate_mode = CASE WHEN 'gate_mode' = ANY (%(fields)s::text[]) THEN %(gate_mode)s::text ELSE gate_mode END,
    gate_result = CASE WHEN 'gate_result' = ANY (%(fields)s::text[]) THEN %(gate_result)s::jsonb ELSE gate_result END,
    max_parallelism = CASE WHEN 'max_parallelism' = ANY (%(fields)s::text[]) THEN %(max_parallelism)s::integer ELSE max_parallelism END,
    pull_request_url = CASE WHEN 'pull_request_url' = ANY (%(fields)s::text[]) THEN %(pull_request_url)s::text ELSE pull_request_url END
WHERE id = %(id)s AND version = %(version)s AND deleted_at IS NULL
RETURNING *;

-- name: transition_story?
-- Move a story to %(status)s if its current status is one of %(allowed_from)s (and, when given,
-- its version matches). Row locking makes racing transitions serialize: the loser's WHERE is
-- re-checked against the winner's row and matches nothing.
UPDATE stories
SET status = %(status)s::text,
    completed_at = CASE WHEN %(terminal)s::boolean THEN now() ELSE completed_at END
WHERE id = %(id)s
  AND deleted_at IS NULL
  AND status = ANY (%(allowed_from)s::text[])
  AND (%(version)s::integer IS NULL OR version = %(version)s::integer)
RETURNING *;

-- name: soft_delete_story!
-- Hide a story (and, through it, its steps) until restored.
UPDATE stories SET deleted_at = now() WHERE id = %(id)s AND deleted_at IS NULL;

-- name: restore_story!
-- Undo a soft delete.
UPDATE stories SET deleted_at = NULL WHERE id = %(id)s AND deleted_at IS NOT NULL;

-- name: purge_story!
-- Delete a story for good; its steps and tasks cascade, links from conversations cascade too.
DELETE FROM stories WHERE id = %(id)s;
