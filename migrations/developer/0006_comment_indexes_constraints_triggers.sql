-- depends: 0005_workspace_isolation_policies 0014_comment_indexes_constraints_triggers
-- Developer 0006: a COMMENT on every index, constraint and trigger the developer migrations
-- create (stories, story_steps, story_tasks) or add to foundation tables (the story links of
-- developer 0003 and their indexes of 0004), as foundation 0014 does for the foundation tables:
-- an index names the named queries (file.query) or the foreign key it serves, a constraint its
-- rule, a trigger what it maintains. NOT NULL constraints get none.
-- COMMENT changes the catalog only (SHARE UPDATE EXCLUSIVE lock on each table, no rewrite).

-- stories (0001)
COMMENT ON CONSTRAINT stories_pkey ON stories IS
    'One row per story id.';
COMMENT ON INDEX stories_pkey IS
    'Backs stories_pkey. Serves lookups by id: stories.get_story, stories.get_story_state, '
    'stories.update_story, stories.transition_story, stories.soft_delete_story, '
    'stories.restore_story, stories.purge_story, story_steps.lock_story_for_steps, the live-story '
    'checks of the story_steps queries, the foreign keys from story_steps and conversations, and '
    'story_steps'' workspace_isolation policy.';
COMMENT ON INDEX ix_stories_live_status IS
    'Live stories by status (partial: deleted_at IS NULL): the statuses filter of '
    'stories.list_stories_newest, stories.list_stories_oldest and stories.count_stories.';
COMMENT ON INDEX ix_stories_live_repository_path IS
    'Live stories of one repository (partial: deleted_at IS NULL): the repository_path filter of '
    'stories.list_stories_newest, stories.list_stories_oldest and stories.count_stories.';
COMMENT ON INDEX ix_stories_live_created_at IS
    'The (created_at, id) keyset order of live stories, both directions: '
    'stories.list_stories_newest and stories.list_stories_oldest, and the created_at range of '
    'stories.count_stories.';
COMMENT ON INDEX ix_stories_deleted_at IS
    'Soft-deleted stories by deletion time (partial: deleted_at IS NOT NULL), for purging old '
    'ones. No named query reads stories by deleted_at (stories.purge_story deletes by id).';
COMMENT ON CONSTRAINT ck_stories_status ON stories IS
    'status is one of the workflow states: Created, Analyzing, Analyzed, Planning, Planned, '
    'Executing, Completed, Failed or Cancelled.';
COMMENT ON CONSTRAINT ck_stories_title_not_blank ON stories IS
    'title is not empty or all spaces.';
COMMENT ON CONSTRAINT ck_stories_issue_number_positive ON stories IS
    'issue_number, when set, is 1 or more.';
COMMENT ON CONSTRAINT ck_stories_current_wave_non_negative ON stories IS
    'current_wave is 0 or more (0-based).';
COMMENT ON CONSTRAINT ck_stories_max_parallelism_positive ON stories IS
    'max_parallelism is 1 or more.';
COMMENT ON CONSTRAINT ck_stories_completed_after_created ON stories IS
    'completed_at, when set, is not before created_at.';
COMMENT ON CONSTRAINT ck_stories_version_positive ON stories IS
    'version is 1 or more.';
COMMENT ON TRIGGER trg_stories_updated_at ON stories IS
    'Sets updated_at to now() on every UPDATE (aura_set_updated_at).';
COMMENT ON TRIGGER trg_stories_audit ON stories IS
    'Sets created_by and updated_by from the transaction-local setting aura.actor on INSERT and '
    'UPDATE (aura_set_audit). created_by never changes after the insert.';
COMMENT ON TRIGGER trg_stories_version ON stories IS
    'Increments version by one on every UPDATE, for optimistic concurrency (aura_bump_version).';

-- story_steps (0002)
COMMENT ON CONSTRAINT story_steps_pkey ON story_steps IS
    'One row per step id.';
COMMENT ON INDEX story_steps_pkey IS
    'Backs story_steps_pkey. Serves lookups by step id: story_steps.get_story_step, '
    'get_story_step_state, set_story_step_status, review_story_step, delete_story_step, '
    'restore_story_step, lock_story_step_for_tasks, add_story_task and reorder_story_steps, the '
    'foreign keys from story_tasks and agent_executions, and their workspace_isolation policies.';
COMMENT ON INDEX ix_story_steps_story_id_order IS
    'A story''s steps in order: story_steps.list_story_steps, story_steps.add_story_step (next '
    'order), story_steps.reorder_story_steps and story_steps.list_story_tasks_of_story. Full, not '
    'partial, so it also serves fk_story_steps_story_id for soft-deleted steps.';
COMMENT ON INDEX ix_story_steps_live_status IS
    'Live steps by status across stories (partial: deleted_at IS NULL). No named query reads '
    'steps by status alone (the status changes find their step by id).';
COMMENT ON CONSTRAINT fk_story_steps_story_id ON story_steps IS
    'A step belongs to an existing story. Deleting the story deletes its steps.';
COMMENT ON CONSTRAINT ck_story_steps_status ON story_steps IS
    'status is Pending, Running, Completed, Failed or Skipped.';
COMMENT ON CONSTRAINT ck_story_steps_order_non_negative ON story_steps IS
    '"order" is 0 or more (0-based).';
COMMENT ON CONSTRAINT ck_story_steps_wave_non_negative ON story_steps IS
    'wave is 0 or more (0-based).';
COMMENT ON CONSTRAINT ck_story_steps_attempts_non_negative ON story_steps IS
    'attempts is 0 or more.';
COMMENT ON CONSTRAINT ck_story_steps_name_not_blank ON story_steps IS
    'name is not empty or all spaces.';
COMMENT ON CONSTRAINT ck_story_steps_capability_not_blank ON story_steps IS
    'capability is not empty or all spaces.';
COMMENT ON CONSTRAINT ck_story_steps_completed_after_started ON story_steps IS
    'completed_at is not before started_at (when both are set).';
COMMENT ON CONSTRAINT ck_story_steps_version_positive ON story_steps IS
    'version is 1 or more.';
COMMENT ON TRIGGER trg_story_steps_updated_at ON story_steps IS
    'Sets updated_at to now() on every UPDATE (aura_set_updated_at).';
COMMENT ON TRIGGER trg_story_steps_audit ON story_steps IS
    'Sets created_by and updated_by from the transaction-local setting aura.actor on INSERT and '
    'UPDATE (aura_set_audit). created_by never changes after the insert.';
COMMENT ON TRIGGER trg_story_steps_version ON story_steps IS
    'Increments version by one on every UPDATE, for optimistic concurrency (aura_bump_version).';

-- story_tasks (0002)
COMMENT ON CONSTRAINT story_tasks_pkey ON story_tasks IS
    'One row per task id.';
COMMENT ON INDEX story_tasks_pkey IS
    'Backs story_tasks_pkey. Serves story_steps.set_story_task_status.';
COMMENT ON INDEX ix_story_tasks_step_id_order IS
    'A step''s tasks in order: story_steps.list_story_tasks, '
    'story_steps.list_story_tasks_of_story and story_steps.add_story_task (next order). Also '
    'serves fk_story_tasks_step_id (the cascade when a step is deleted).';
COMMENT ON CONSTRAINT fk_story_tasks_step_id ON story_tasks IS
    'A task belongs to an existing step. Deleting the step deletes its tasks.';
COMMENT ON CONSTRAINT ck_story_tasks_status ON story_tasks IS
    'status is Pending, Running, Completed, Failed or Skipped (the step statuses).';
COMMENT ON CONSTRAINT ck_story_tasks_order_non_negative ON story_tasks IS
    '"order" is 0 or more (0-based).';
COMMENT ON CONSTRAINT ck_story_tasks_description_not_blank ON story_tasks IS
    'description is not empty or all spaces.';
COMMENT ON CONSTRAINT ck_story_tasks_completed_after_created ON story_tasks IS
    'completed_at, when set, is not before created_at.';
COMMENT ON TRIGGER trg_story_tasks_updated_at ON story_tasks IS
    'Sets updated_at to now() on every UPDATE (aura_set_updated_at).';

-- links on foundation tables (0003, indexes 0004)
COMMENT ON CONSTRAINT fk_conversations_story_id ON conversations IS
    'story_id, when set, names an existing story. Deleting the story deletes its conversations.';
COMMENT ON CONSTRAINT fk_agent_executions_story_step_id ON agent_executions IS
    'story_step_id, when set, names an existing story step. Deleting the step sets it to NULL: '
    'the run''s record stays.';
COMMENT ON INDEX ix_conversations_story_id IS
    'A story''s conversations: conversations.list_conversations with story_id. Also serves '
    'fk_conversations_story_id (the cascade when a story is deleted).';
COMMENT ON INDEX ix_agent_executions_story_step_id IS
    'A story step''s runs: executions.list_agent_executions with story_step_id. Also serves '
    'fk_agent_executions_story_step_id (set to NULL when a step is deleted).';
