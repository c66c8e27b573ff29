-- Story steps and their tasks (seed 002 §2.2–2.3, seed 000's workflow steps).
-- Steps and tasks of a soft-deleted story are hidden with it: every read and write joins the
-- live story (and, for tasks, the live step).

-- name: lock_story_for_steps?
-- Lock a live story's row so concurrent step additions or reorders serialize on it.
SELECT id FROM stories WHERE id = %(story_id)s AND deleted_at IS NULL FOR UPDATE;

-- name: add_story_step?
-- Append a step after the story's last one (run after lock_story_for_steps).
INSERT INTO story_steps (story_id, "order", name, capability, description, input, wave)
SELECT s.id,
       (SELECT coalesce(max(st."order") + 1, 0) FROM story_steps st WHERE st.story_id = s.id),
       %(name)s, %(capability)s, %(description)s, %(input)s::jsonb, %(wave)s
FROM stories s
WHERE s.id = %(story_id)s AND s.deleted_at IS NULL
RETURNING *;

-- name: get_story_step?
-- A live step of a live story.
SELECT st.* FROM story_steps st JOIN stories s ON s.id = st.story_id
WHERE st.id = %(id)s AND st.deleted_at IS NULL AND s.deleted_at IS NULL;

-- name: get_story_step_state?
-- Status and version of a live step of a live story, to explain a refused change.
SELECT st.status, st.version FROM story_steps st JOIN stories s ON s.id = st.story_id
WHERE st.id = %(id)s AND st.deleted_at IS NULL AND s.deleted_at IS NULL;

-- name: list_story_steps
-- The live steps of a story in order, optionally of one wave only.
SELECT st.* FROM story_steps st JOIN stories s ON s.id = st.story_id
WHERE st.story_id = %(story_id)s AND st.deleted_at IS NULL AND s.deleted_at IS NULL
  AND (%(wave)s::integer IS NULL OR st.wave = %(wave)s::integer)
ORDER BY st."order", st.id;

-- name: list_story_tasks_of_story
-- Every task of a story's live steps, by step then order (for get-with-steps).
SELECT t.* FROM story_tasks t JOIN story_steps st ON st.id = t.step_id
WHERE st.story_id = %(story_id)s AND st.deleted_at IS NULL
ORDER BY t.step_id, t."order", t.id;

-- name: reorder_story_steps!
-- Renumber a story's steps 0..n-1 in the order of %(ids)s, only if %(ids)s is exactly the set
-- of its live steps (otherwise nothing changes and 0 rows are reported).
WITH wanted AS (
    SELECT id, ord - 1 AS new_order FROM unnest(%(ids)s::uuid[]) WITH ORDINALITY AS w(id, ord)
), complete AS (
    SELECT 1 FROM (
        SELECT array_agg(id ORDER BY id) AS ids FROM story_steps
        WHERE story_id = %(story_id)s AND deleted_at IS NULL
    ) existing
    WHERE existing.ids = (SELECT array_agg(id ORDER BY id) FROM wanted)
)
UPDATE story_steps st SET "order" = wanted.new_order
FROM wanted, complete
WHERE st.id = wanted.id AND st.story_id = %(story_id)s;

-- name: set_story_step_status?
-- Move a step to %(status)s from one of %(allowed_from)s, recording what the move means:
-- starting counts an attempt and stamps started_at; finishing stamps completed_at.
UPDATE story_steps SET
    status = %(status)s::text,
    attempts = attempts + CASE WHEN %(status)s::text = 'Running' THEN 1 ELSE 0 END,
    started_at = CASE WHEN %(status)s::text = 'Running' THEN now() ELSE started_at END,
    completed_at = CASE WHEN %(status)s::text = 'Running' THEN NULL
                        WHEN %(status)s::text IN ('Completed', 'Failed', 'Skipped') THEN now()
                        ELSE completed_at END,
    assigned_agent_id = coalesce(%(agent_id)s::text, assigned_agent_id),
    output = CASE WHEN %(status)s::text = 'Completed' THEN %(output)s::jsonb ELSE output END,
    error = CASE WHEN %(status)s::text = 'Running' THEN NULL
                 WHEN %(status)s::text = 'Failed' THEN %(error)s::text ELSE error END,
    approval = CASE WHEN %(status)s::text = 'Running' THEN NULL ELSE approval END
WHERE id = %(id)s AND deleted_at IS NULL AND status = ANY (%(allowed_from)s::text[])
  AND (%(version)s::integer IS NULL OR version = %(version)s::integer)
  AND EXISTS (SELECT 1 FROM stories s WHERE s.id = story_steps.story_id AND s.deleted_at IS NULL)
RETURNING *;

-- name: review_story_step?
-- Approve or reject a completed step with feedback; a rejected step goes back to Pending.
UPDATE story_steps SET
    approval = %(approval)s::text,
    review_feedback = %(feedback)s::text,
    status = CASE WHEN %(approval)s::text = 'Rejected' THEN 'Pending' ELSE status END
WHERE id = %(id)s AND deleted_at IS NULL AND status = 'Completed'
  AND EXISTS (SELECT 1 FROM stories s WHERE s.id = story_steps.story_id AND s.deleted_at IS NULL)
RETURNING *;

-- name: delete_story_step!
-- Soft-delete one live step of a live story.
UPDATE story_steps SET deleted_at = now() WHERE id = %(id)s AND deleted_at IS NULL
  AND EXISTS (SELECT 1 FROM stories s WHERE s.id = story_steps.story_id AND s.deleted_at IS NULL);

-- name: restore_story_step!
-- Undo the soft delete of one step of a live story.
UPDATE story_steps SET deleted_at = NULL WHERE id = %(id)s AND deleted_at IS NOT NULL
  AND EXISTS (SELECT 1 FROM stories s WHERE s.id = story_steps.story_id AND s.deleted_at IS NULL);

-- name: lock_story_step_for_tasks?
-- Lock a live step's row (of a live story) so concurrent task additions serialize on it.
SELECT id FROM story_steps WHERE id = %(step_id)s AND deleted_at IS NULL
  AND EXISTS (SELECT 1 FROM stories s WHERE s.id = story_steps.story_id AND s.deleted_at IS NULL)
FOR UPDATE OF story_steps;

-- name: add_story_task?
-- Append a task to a live step, after its last task (run after lock_story_step_for_tasks).
INSERT INTO story_tasks (step_id, "order", description)
SELECT st.id,
       (SELECT coalesce(max(t."order") + 1, 0) FROM story_tasks t WHERE t.step_id = st.id),
       %(description)s
FROM story_steps st JOIN stories s ON s.id = st.story_id
WHERE st.id = %(step_id)s AND st.deleted_at IS NULL AND s.deleted_at IS NULL
RETURNING *;

-- name: list_story_tasks
-- The tasks of one live step of a live story, in order.
SELECT t.* FROM story_tasks t
JOIN story_steps st ON st.id = t.step_id AND st.deleted_at IS NULL
JOIN stories s ON s.id = st.story_id AND s.deleted_at IS NULL
WHERE t.step_id = %(step_id)s
ORDER BY t."order", t.id;

-- name: set_story_task_status?
-- Set a task's status; finishing stamps completed_at, reopening clears it.
UPDATE story_tasks SET
    status = %(status)s::text,
    completed_at = CASE WHEN %(status)s::text IN ('Completed', 'Failed', 'Skipped') THEN now() END
WHERE id = %(id)s
  AND EXISTS (SELECT 1 FROM story_steps st JOIN stories s ON s.id = st.story_id
              WHERE st.id = story_tasks.step_id AND st.deleted_at IS NULL AND s.deleted_at IS NULL)
RETURNING *;
