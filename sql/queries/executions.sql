-- Execution audit: one agent_executions row per agent (LLM) invocation, one tool_executions row
-- per tool call. Rows are written once by the runtime (tool calls are then completed) and are
-- never edited otherwise. Column lists are explicit to keep the row types stable.

-- name: record_agent_executions
-- Record agent runs in one statement: the arrays are in step, one element per run; rows come
-- back in input order.
INSERT INTO agent_executions
    (agent_id, conversation_id, story_step_id, provider, model, prompt, response, prompt_tokens,
     response_tokens, tokens_used, duration_ms, success, error)
SELECT r.agent_id, r.conversation_id, r.story_step_id, r.provider, r.model, r.prompt, r.response,
       r.prompt_tokens, r.response_tokens, r.tokens_used, r.duration_ms, r.success, r.error
FROM unnest(%(agent_ids)s::text[], %(conversation_ids)s::uuid[], %(story_step_ids)s::uuid[],
            %(providers)s::text[], %(models)s::text[], %(prompts)s::text[], %(responses)s::text[],
            %(prompt_tokens)s::int[], %(response_tokens)s::int[], %(tokens_used)s::int[],
            %(durations_ms)s::int[], %(successes)s::boolean[], %(errors)s::text[])
     WITH ORDINALITY
     AS r(agent_id, conversation_id, story_step_id, provider, model, prompt, response,
          prompt_tokens, response_tokens, tokens_used, duration_ms, success, error, n)
ORDER BY r.n
RETURNING id, agent_id, conversation_id, story_step_id, provider, model, prompt, response,
          prompt_tokens, response_tokens, tokens_used, duration_ms, success, error, created_at;

-- name: get_agent_execution?
-- One agent run by id, or none.
SELECT id, agent_id, conversation_id, story_step_id, provider, model, prompt, response,
       prompt_tokens, response_tokens, tokens_used, duration_ms, success, error, created_at
FROM agent_executions
WHERE id = %(id)s;

-- name: list_agent_executions
-- Agent runs matching every filter given, newest first: by agent, model, outcome (success),
-- conversation, story step and the half-open time range [since, until); keyset-paged on
-- (created_at, id) below the cursor.
SELECT id, agent_id, conversation_id, story_step_id, provider, model, prompt, response,
       prompt_tokens, response_tokens, tokens_used, duration_ms, success, error, created_at
FROM agent_executions
WHERE (%(agent_id)s::text IS NULL OR agent_id = %(agent_id)s::text)
  AND (%(model)s::text IS NULL OR model = %(model)s::text)
  AND (%(success)s::boolean IS NULL OR success = %(success)s::boolean)
  AND (%(conversation_id)s::uuid IS NULL OR conversation_id = %(conversation_id)s::uuid)
  AND (%(story_step_id)s::uuid IS NULL OR story_step_id = %(story_step_id)s::uuid)
  AND (%(since)s::timestamptz IS NULL OR created_at >= %(since)s::timestamptz)
  AND (%(until)s::timestamptz IS NULL OR created_at < %(until)s::timestamptz)
  AND (%(before_created_at)s::timestamptz IS NULL
       OR (created_at, id) < (%(before_created_at)s::timestamptz, %(before_id)s::uuid))
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s;

-- name: count_agent_executions$
-- How many agent runs match the filters of list_agent_executions (no cursor).
SELECT count(*)::bigint
FROM agent_executions
WHERE (%(agent_id)s::text IS NULL OR agent_id = %(agent_id)s::text)
  AND (%(model)s::text IS NULL OR model = %(model)s::text)
  AND (%(success)s::boolean IS NULL OR success = %(success)s::boolean)
  AND (%(conversation_id)s::uuid IS NULL OR conversation_id = %(conversation_id)s::uuid)
  AND (%(story_step_id)s::uuid IS NULL OR story_step_id = %(story_step_id)s::uuid)
  AND (%(since)s::timestamptz IS NULL OR created_at >= %(since)s::timestamptz)
  AND (%(until)s::timestamptz IS NULL OR created_at < %(until)s::timestamptz);

-- name: agent_usage_report
-- Calls, failures, tokens and durations per UTC day, provider and model over [since, until),
-- optionally for one agent. Tokens fall back to prompt + response when no total was reported.
SELECT date_trunc('day', created_at AT TIME ZONE 'UTC')::date AS day,
       provider,
       model,
       count(*)::int AS calls,
       (count(*) FILTER (WHERE NOT success))::int AS failures,
       (count(*) FILTER (WHERE NOT success))::float8 / count(*) AS failure_rate,
       coalesce(sum(prompt_tokens), 0)::bigint AS prompt_tokens,
       coalesce(sum(response_tokens), 0)::bigint AS response_tokens,
       coalesce(sum(coalesce(tokens_used, coalesce(prompt_tokens, 0) + coalesce(response_tokens, 0))),
                0)::bigint AS tokens,
       avg(duration_ms)::float8 AS avg_duration_ms
FROM agent_executions
WHERE (%(since)s::timestamptz IS NULL OR created_at >= %(since)s::timestamptz)
  AND (%(until)s::timestamptz IS NULL OR created_at < %(until)s::timestamptz)
  AND (%(agent_id)s::text IS NULL OR agent_id = %(agent_id)s::text)
GROUP BY date_trunc('day', created_at AT TIME ZONE 'UTC'), provider, model
ORDER BY day, provider NULLS FIRST, model NULLS FIRST;

-- name: start_tool_execution^
-- Record the start of a tool call (status Running). created_at is the statement's clock time,
-- not the transaction's, so calls started in one transaction keep their order.
INSERT INTO tool_executions (agent_execution_id, tool_name, input, status, created_at)
VALUES (%(agent_execution_id)s, %(tool_name)s, %(input)s, 'Running', clock_timestamp())
RETURNING id, agent_execution_id, tool_name, input, output, status, error, duration_ms,
          created_at, updated_at, completed_at;

-- name: finish_tool_execution?
-- Move a Pending or Running tool call to a final status; the duration defaults to the time since
-- it started. None when it does not exist or is already final.
UPDATE tool_executions
SET status = %(status)s,
    output = %(output)s,
    error = %(error)s,
    duration_ms = coalesce(%(duration_ms)s::int,
                           greatest(0, (extract(epoch FROM clock_timestamp() - created_at) * 1000))::int),
    completed_at = greatest(clock_timestamp(), created_at)
WHERE id = %(id)s AND status IN ('Pending', 'Running')
RETURNING id, agent_execution_id, tool_name, input, output, status, error, duration_ms,
          created_at, updated_at, completed_at;

-- name: get_tool_execution?
-- One tool call by id, or none.
SELECT id, agent_execution_id, tool_name, input, output, status, error, duration_ms,
       created_at, updated_at, completed_at
FROM tool_executions
WHERE id = %(id)s;

-- name: list_tool_executions_for_agent_execution
-- The tool calls an agent run made, in the order they started.
SELECT id, agent_execution_id, tool_name, input, output, status, error, duration_ms,
       created_at, updated_at, completed_at
FROM tool_executions
WHERE agent_execution_id = %(agent_execution_id)s
ORDER BY created_at, id;

-- name: list_tool_executions
-- Tool calls matching every filter given, newest first: by tool, status, agent run and the
-- half-open time range [since, until); keyset-paged on (created_at, id) below the cursor.
SELECT id, agent_execution_id, tool_name, input, output, status, error, duration_ms,
       created_at, updated_at, completed_at
FROM tool_executions
WHERE (%(tool_name)s::text IS NULL OR tool_name = %(tool_name)s::text)
  AND (%(status)s::text IS NULL OR status = %(status)s::text)
  AND (%(agent_execution_id)s::uuid IS NULL OR agent_execution_id = %(agent_execution_id)s::uuid)
  AND (%(since)s::timestamptz IS NULL OR created_at >= %(since)s::timestamptz)
  AND (%(until)s::timestamptz IS NULL OR created_at < %(until)s::timestamptz)
  AND (%(before_created_at)s::timestamptz IS NULL
       OR (created_at, id) < (%(before_created_at)s::timestamptz, %(before_id)s::uuid))
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s;

-- name: count_tool_executions$
-- How many tool calls match the filters of list_tool_executions (no cursor).
SELECT count(*)::bigint
FROM tool_executions
WHERE (%(tool_name)s::text IS NULL OR tool_name = %(tool_name)s::text)
  AND (%(status)s::text IS NULL OR status = %(status)s::text)
  AND (%(agent_execution_id)s::uuid IS NULL OR agent_execution_id = %(agent_execution_id)s::uuid)
  AND (%(since)s::timestamptz IS NULL OR created_at >= %(since)s::timestamptz)
  AND (%(until)s::timestamptz IS NULL OR created_at < %(until)s::timestamptz);
