-- depends: 0013_workspace_isolation_policies
-- Foundation 0014: a COMMENT on every index, constraint and trigger of the foundation tables.
--
-- Tables and columns carried comments from the start, their indexes, constraints and triggers
-- none, so a DBA reading the catalog (psql \di+, \d+, pg_dump) could not tell what an index is
-- for or what rule a CHECK enforces without the migration files. Now each says it: an index,
-- the named queries (sql/queries/<file>.sql, written file.query) or the foreign key it serves,
-- and when no named query uses it, that too; a constraint, the rule in plain words; a trigger,
-- what it maintains. NOT NULL constraints get none (PostgreSQL 18 lists them in pg_constraint,
-- 16 and 17 do not). The objects developer migrations add get theirs in developer 0006.
--
-- COMMENT changes the catalog only: it takes a SHARE UPDATE EXCLUSIVE lock on each table
-- (reads and writes go on) and rewrites nothing. An index rebuilt at run time under the same
-- name (db.rag_chunks.build_search_index, reindex_search_index) is a new index without this
-- comment.

-- aura_created_extensions (0001)
COMMENT ON CONSTRAINT aura_created_extensions_pkey ON aura_created_extensions IS
    'One row per extension that foundation 0001 created.';
COMMENT ON INDEX aura_created_extensions_pkey IS
    'Backs aura_created_extensions_pkey: foundation 0001''s rollback looks the vector extension '
    'up by extname here.';

-- workspaces (0001)
COMMENT ON CONSTRAINT workspaces_pkey ON workspaces IS
    'One row per workspace id (the hash of its path).';
COMMENT ON INDEX workspaces_pkey IS
    'Backs workspaces_pkey. Serves lookups by id: workspaces.upsert_workspace (ON CONFLICT), '
    'workspaces.get_workspace, workspaces.mark_rag_indexed, workspaces.mark_graph_indexed, '
    'workspaces.soft_delete_workspace, workspaces.restore_workspace, workspaces.purge_workspace, '
    'rag_chunks.lock_workspace_for_rag, the workspace joins of rag_chunks.delete_content_chunks, '
    'delete_path_chunks and delete_workspace_chunks, the workspace_isolation policies and the '
    'foreign keys from rag_chunks and rag_search_calibrations.';
COMMENT ON INDEX ux_workspaces_path IS
    'Unique path: at most one workspace per normalized path (the id is derived from it). No named '
    'query looks a workspace up by path.';
COMMENT ON INDEX ix_workspaces_live IS
    'Live workspaces by name (partial: deleted_at IS NULL): workspaces.list_workspaces and '
    'workspaces.count_workspaces.';
COMMENT ON CONSTRAINT ck_workspaces_id_hex ON workspaces IS
    'id is exactly 16 lower-case hex digits (the first 16 of the SHA-256 of the path).';
COMMENT ON CONSTRAINT ck_workspaces_name_not_blank ON workspaces IS
    'name is not empty or all spaces.';
COMMENT ON CONSTRAINT ck_workspaces_path_absolute ON workspaces IS
    'path is absolute: it starts with /.';
COMMENT ON CONSTRAINT ck_workspaces_version_positive ON workspaces IS
    'version is 1 or more.';
COMMENT ON TRIGGER trg_workspaces_updated_at ON workspaces IS
    'Sets updated_at to now() on every UPDATE (aura_set_updated_at).';
COMMENT ON TRIGGER trg_workspaces_audit ON workspaces IS
    'Sets created_by and updated_by from the transaction-local setting aura.actor on INSERT and '
    'UPDATE (aura_set_audit). created_by never changes after the insert.';
COMMENT ON TRIGGER trg_workspaces_version ON workspaces IS
    'Increments version by one on every UPDATE, for optimistic concurrency (aura_bump_version).';

-- conversations (0002)
COMMENT ON CONSTRAINT conversations_pkey ON conversations IS
    'One row per conversation id.';
COMMENT ON INDEX conversations_pkey IS
    'Backs conversations_pkey. Serves lookups by id: conversations.get_conversation, '
    'conversations.rename_conversation, conversations.soft_delete_conversation, '
    'conversations.restore_conversation, conversations.get_conversation_with_latest_messages, '
    'conversations.append_message, the live-conversation joins of conversations.page_messages, '
    'attach_rag_contexts, list_rag_contexts and find_live_message, the foreign keys from messages '
    'and agent_executions and their workspace_isolation policies.';
COMMENT ON INDEX ix_conversations_live_created_at IS
    'Live conversations by created_at (partial: deleted_at IS NULL): the newest-first keyset '
    'order of conversations.list_conversations.';
COMMENT ON INDEX ix_conversations_live_agent_id IS
    'Live conversations of one agent by created_at (partial: deleted_at IS NULL): '
    'conversations.list_conversations with agent_id.';
COMMENT ON INDEX ix_conversations_deleted_at IS
    'Soft-deleted conversations by deletion time (partial: deleted_at IS NOT NULL). No named '
    'query reads conversations by deleted_at (conversations.restore_conversation finds its row by '
    'id).';
COMMENT ON CONSTRAINT ck_conversations_version_positive ON conversations IS
    'version is 1 or more.';
COMMENT ON TRIGGER trg_conversations_updated_at ON conversations IS
    'Sets updated_at to now() on every UPDATE (aura_set_updated_at).';
COMMENT ON TRIGGER trg_conversations_audit ON conversations IS
    'Sets created_by and updated_by from the transaction-local setting aura.actor on INSERT and '
    'UPDATE (aura_set_audit). created_by never changes after the insert.';
COMMENT ON TRIGGER trg_conversations_version ON conversations IS
    'Increments version by one on every UPDATE, for optimistic concurrency (aura_bump_version).';

-- messages (0002)
COMMENT ON CONSTRAINT messages_pkey ON messages IS
    'One row per message id.';
COMMENT ON INDEX messages_pkey IS
    'Backs messages_pkey. Serves conversations.find_live_message, the message checks of '
    'conversations.attach_rag_contexts and conversations.list_rag_contexts, and the foreign key '
    'and workspace_isolation policy of message_rag_contexts.';
COMMENT ON INDEX ux_messages_conversation_id_seq IS
    'A conversation''s messages in seq order: conversations.page_messages and '
    'conversations.get_conversation_with_latest_messages. Also serves fk_messages_conversation_id '
    '(the cascade when a conversation is deleted).';
COMMENT ON INDEX ix_messages_created_at IS
    'Messages by creation time, across conversations. No named query reads messages by created_at '
    '(they are ordered by seq).';
COMMENT ON CONSTRAINT fk_messages_conversation_id ON messages IS
    'A message belongs to an existing conversation. Deleting the conversation deletes its '
    'messages.';
COMMENT ON CONSTRAINT ck_messages_role ON messages IS
    'role is user, assistant, system or tool.';
COMMENT ON CONSTRAINT ck_messages_tokens_used_non_negative ON messages IS
    'tokens_used, when set, is not negative.';

-- message_rag_contexts (0002)
COMMENT ON CONSTRAINT message_rag_contexts_pkey ON message_rag_contexts IS
    'One row per recorded context.';
COMMENT ON INDEX message_rag_contexts_pkey IS
    'Backs message_rag_contexts_pkey. No named query looks a context up by id.';
COMMENT ON INDEX ix_message_rag_contexts_message_id IS
    'A message''s contexts: conversations.list_rag_contexts. Also serves '
    'fk_message_rag_contexts_message_id (the cascade when a message is deleted).';
COMMENT ON INDEX ix_message_rag_contexts_content_id IS
    'Contexts by rag_chunks.content_id (the answers a document was used for). No named query '
    'reads contexts by content_id.';
COMMENT ON CONSTRAINT fk_message_rag_contexts_message_id ON message_rag_contexts IS
    'A context belongs to an existing message. Deleting the message deletes its contexts.';
COMMENT ON CONSTRAINT ck_message_rag_contexts_chunk_index_non_negative ON message_rag_contexts IS
    'chunk_index is 0 or more (0-based, as in rag_chunks).';
COMMENT ON CONSTRAINT ck_message_rag_contexts_content_type ON message_rag_contexts IS
    'content_type, when set, is one of the rag_chunks content types: Unknown, Code, Markdown, '
    'PlainText, Documentation, Pdf, Receipt or Paper.';

-- agent_executions (0003)
COMMENT ON CONSTRAINT agent_executions_pkey ON agent_executions IS
    'One row per agent run.';
COMMENT ON INDEX agent_executions_pkey IS
    'Backs agent_executions_pkey. Serves executions.get_agent_execution, the foreign key from '
    'tool_executions and tool_executions'' workspace_isolation policy.';
COMMENT ON INDEX ix_agent_executions_agent_id_created_at IS
    'One agent''s runs by time: executions.list_agent_executions with agent_id, and '
    'executions.agent_usage_report for one agent.';
COMMENT ON INDEX ix_agent_executions_created_at IS
    'Runs by time: the newest-first keyset order and the [since, until) range of '
    'executions.list_agent_executions, and the range of executions.agent_usage_report.';
COMMENT ON INDEX ix_agent_executions_conversation_id IS
    'A conversation''s runs: executions.list_agent_executions with conversation_id. Also serves '
    'fk_agent_executions_conversation_id (set to NULL when a conversation is deleted).';
COMMENT ON CONSTRAINT fk_agent_executions_conversation_id ON agent_executions IS
    'conversation_id, when set, names an existing conversation. Deleting the conversation sets it '
    'to NULL: the run''s record stays.';
COMMENT ON CONSTRAINT ck_agent_executions_prompt_tokens_non_negative ON agent_executions IS
    'prompt_tokens, when set, is not negative.';
COMMENT ON CONSTRAINT ck_agent_executions_response_tokens_non_negative ON agent_executions IS
    'response_tokens, when set, is not negative.';
COMMENT ON CONSTRAINT ck_agent_executions_tokens_used_non_negative ON agent_executions IS
    'tokens_used, when set, is not negative.';
COMMENT ON CONSTRAINT ck_agent_executions_duration_ms_non_negative ON agent_executions IS
    'duration_ms, when set, is not negative.';

-- tool_executions (0003)
COMMENT ON CONSTRAINT tool_executions_pkey ON tool_executions IS
    'One row per tool call.';
COMMENT ON INDEX tool_executions_pkey IS
    'Backs tool_executions_pkey. Serves executions.get_tool_execution and '
    'executions.finish_tool_execution.';
COMMENT ON INDEX ix_tool_executions_agent_execution_id IS
    'An agent run''s tool calls: executions.list_tool_executions_for_agent_execution. Also serves '
    'fk_tool_executions_agent_execution_id (set to NULL when the run is deleted).';
COMMENT ON INDEX ix_tool_executions_tool_name_created_at IS
    'Calls of one tool by time. No named query reads tool calls by tool_name.';
COMMENT ON INDEX ix_tool_executions_status IS
    'Tool calls by status. No named query reads tool calls by status alone '
    '(executions.finish_tool_execution finds its row by id).';
COMMENT ON INDEX ix_tool_executions_created_at IS
    'Tool calls by start time, across agent runs. No named query reads tool calls by created_at '
    'alone.';
COMMENT ON CONSTRAINT fk_tool_executions_agent_execution_id ON tool_executions IS
    'agent_execution_id, when set, names an existing agent run. Deleting the run sets it to NULL: '
    'the call''s record stays.';
COMMENT ON CONSTRAINT ck_tool_executions_status ON tool_executions IS
    'status is Pending, Running, Completed, Failed or Cancelled.';
COMMENT ON CONSTRAINT ck_tool_executions_tool_name_not_blank ON tool_executions IS
    'tool_name is not empty or all spaces.';
COMMENT ON CONSTRAINT ck_tool_executions_duration_ms_non_negative ON tool_executions IS
    'duration_ms, when set, is not negative.';
COMMENT ON CONSTRAINT ck_tool_executions_completed_after_created ON tool_executions IS
    'completed_at, when set, is not before created_at.';
COMMENT ON TRIGGER trg_tool_executions_updated_at ON tool_executions IS
    'Sets updated_at to now() on every UPDATE (aura_set_updated_at).';

-- rag_chunks (0004, search indexes 0005)
COMMENT ON CONSTRAINT rag_chunks_pkey ON rag_chunks IS
    'One row per chunk id.';
COMMENT ON INDEX rag_chunks_pkey IS
    'Backs rag_chunks_pkey. Serves the join from the fused ranking back to the chunks in '
    'rag_chunks.hybrid_exact and rag_chunks.hybrid_hnsw_384/768/1536/3072.';
COMMENT ON INDEX ux_rag_chunks_workspace_content_chunk IS
    'The natural key (workspace_id, content_id, chunk_index): rag_chunks.upsert_staged_chunks '
    'upserts on it, and rag_chunks.list_content_chunks, delete_content_chunks and '
    'delete_unstaged_chunks find a document''s chunks with it. By its leading workspace_id it '
    'also serves workspace-wide reads (rag_chunks.delete_workspace_chunks, calibration_sample, '
    'count_calibration_changes, lock_workspace_for_rag) and fk_rag_chunks_workspace_id.';
COMMENT ON INDEX ix_rag_chunks_workspace_content_type IS
    'A workspace''s chunks by content_type: the exact path of rag_chunks.search_exact and '
    'rag_chunks.hybrid_exact, the candidate count of rag_chunks.set_search_settings, and '
    'rag_chunks.rag_stats.';
COMMENT ON INDEX ix_rag_chunks_workspace_source_path IS
    'source_path LIKE ''prefix%'' within a workspace, whatever the collation (text_pattern_ops): '
    'rag_chunks.delete_path_chunks and the path_like filter of the rag_chunks search queries.';
COMMENT ON CONSTRAINT fk_rag_chunks_workspace_id ON rag_chunks IS
    'A chunk belongs to a registered workspace. Deleting the workspace deletes its chunks.';
COMMENT ON CONSTRAINT ck_rag_chunks_embedding_dims_supported ON rag_chunks IS
    'The embedding has 384, 768, 1536 or 3072 dimensions: the sizes that have an HNSW index.';
COMMENT ON CONSTRAINT ck_rag_chunks_chunk_index_non_negative ON rag_chunks IS
    'chunk_index is 0 or more (0-based).';
COMMENT ON CONSTRAINT ck_rag_chunks_content_type ON rag_chunks IS
    'content_type is one of Unknown, Code, Markdown, PlainText, Documentation, Pdf, Receipt or '
    'Paper.';
COMMENT ON INDEX ix_rag_chunks_embedding_384 IS
    'HNSW cosine index of the 384-dimension embeddings (partial: embedding_dims = 384): '
    'rag_chunks.search_hnsw_384 and rag_chunks.hybrid_hnsw_384. Dropped and rebuilt at run time '
    'by db.rag_chunks (bulk loads, new parameters).';
COMMENT ON INDEX ix_rag_chunks_embedding_768 IS
    'HNSW cosine index of the 768-dimension embeddings (partial: embedding_dims = 768): '
    'rag_chunks.search_hnsw_768 and rag_chunks.hybrid_hnsw_768. Dropped and rebuilt at run time '
    'by db.rag_chunks (bulk loads, new parameters).';
COMMENT ON INDEX ix_rag_chunks_embedding_1536 IS
    'HNSW cosine index of the 1536-dimension embeddings (partial: embedding_dims = 1536): '
    'rag_chunks.search_hnsw_1536 and rag_chunks.hybrid_hnsw_1536. Dropped and rebuilt at run time '
    'by db.rag_chunks (bulk loads, new parameters).';
COMMENT ON INDEX ix_rag_chunks_embedding_3072 IS
    'HNSW cosine index of the 3072-dimension embeddings as halfvec (partial: embedding_dims = '
    '3072): rag_chunks.search_hnsw_3072 and rag_chunks.hybrid_hnsw_3072. Dropped and rebuilt at '
    'run time by db.rag_chunks (bulk loads, new parameters).';
COMMENT ON INDEX ix_rag_chunks_content_tsv IS
    'GIN index on content_tsv: the full-text leg (content_tsv @@ websearch_to_tsquery) of '
    'rag_chunks.hybrid_exact and rag_chunks.hybrid_hnsw_384/768/1536/3072.';

-- code_nodes (0006)
COMMENT ON CONSTRAINT code_nodes_pkey ON code_nodes IS
    'One row per node id.';
COMMENT ON INDEX code_nodes_pkey IS
    'Backs code_nodes_pkey. Serves code_graph.get_code_node, the node joins of '
    'code_graph.walk_outgoing, walk_incoming and count_graph, and the foreign keys and '
    'workspace_isolation policy of code_edges.';
COMMENT ON INDEX ux_code_nodes_repository_fqn_type IS
    'The natural key: at most one node per repository_path, fully qualified name and node_type '
    '(NULLS NOT DISTINCT: a NULL repository counts as one). code_graph.upsert_staged_nodes '
    'upserts on it.';
COMMENT ON INDEX ix_code_nodes_name IS
    'Nodes by exact name: code_graph.find_code_nodes with name.';
COMMENT ON INDEX ix_code_nodes_fully_qualified_name IS
    'Nodes by exact fully qualified name: code_graph.find_code_nodes with fqn, and the by-name '
    'endpoint resolution of code_graph.upsert_staged_edges.';
COMMENT ON INDEX ix_code_nodes_repository_type IS
    'A repository''s nodes, by node_type: code_graph.find_code_nodes with node_types, '
    'workspaces.purge_workspace and code_nodes'' workspace_isolation policy.';
COMMENT ON INDEX ix_code_nodes_repository_file IS
    'One file''s nodes: code_graph.delete_file_nodes_except, which replaces a file''s nodes when '
    'it is re-indexed.';
COMMENT ON CONSTRAINT ck_code_nodes_node_type ON code_nodes IS
    'node_type is one of the indexer''s symbol kinds: Project, Namespace, Class, Interface, '
    'Struct, Record, Enum, Method, Property, Field, Event, Delegate, Constructor, Function or '
    'Module.';
COMMENT ON CONSTRAINT ck_code_nodes_start_line_positive ON code_nodes IS
    'start_line, when set, is 1 or more (lines are 1-based).';
COMMENT ON CONSTRAINT ck_code_nodes_end_line_after_start ON code_nodes IS
    'end_line is not before start_line (when both are set).';

-- code_edges (0006)
COMMENT ON CONSTRAINT code_edges_pkey ON code_edges IS
    'One row per edge id.';
COMMENT ON INDEX code_edges_pkey IS
    'Backs code_edges_pkey. No named query looks an edge up by id.';
COMMENT ON INDEX ux_code_edges_source_target_type IS
    'The natural key: one edge per source, target and edge_type, which '
    'code_graph.upsert_staged_edges upserts on. By its leading source_node_id it serves '
    'code_graph.walk_outgoing, code_graph.count_graph and fk_code_edges_source_node_id.';
COMMENT ON INDEX ix_code_edges_target_node_id IS
    'Edges into a node: code_graph.walk_incoming. Also serves fk_code_edges_target_node_id (the '
    'cascade when a node is deleted).';
COMMENT ON INDEX ix_code_edges_edge_type IS
    'Edges by edge_type alone. No named query reads edges by edge_type without a node id (the '
    'walks filter it together with the source or target).';
COMMENT ON CONSTRAINT fk_code_edges_source_node_id ON code_edges IS
    'source_node_id names an existing node. Deleting the node deletes its outgoing edges.';
COMMENT ON CONSTRAINT fk_code_edges_target_node_id ON code_edges IS
    'target_node_id names an existing node. Deleting the node deletes its incoming edges.';
COMMENT ON CONSTRAINT ck_code_edges_edge_type ON code_edges IS
    'edge_type is Contains, Implements, Inherits, Calls, References, Returns or Overrides.';

-- index_metadata (0007)
COMMENT ON CONSTRAINT index_metadata_pkey ON index_metadata IS
    'One row per record id.';
COMMENT ON INDEX index_metadata_pkey IS
    'Backs index_metadata_pkey. No named query looks a record up by id.';
COMMENT ON INDEX ux_index_metadata_file_workspace_type IS
    'The natural key: one record per file, workspace path and index type. '
    'index_metadata.record_index_metadata upserts on it, and rag_chunks.delete_content_chunks '
    'finds one file''s ''rag'' record with it.';
COMMENT ON INDEX ix_index_metadata_workspace_type IS
    'A workspace''s records of one index type: index_metadata.diff_index_metadata, '
    'list_index_metadata, forget_index_metadata and clear_index_metadata, the ''rag'' deletes of '
    'rag_chunks.delete_path_chunks and delete_workspace_chunks, workspaces.purge_workspace and '
    'index_metadata''s workspace_isolation policy.';
COMMENT ON CONSTRAINT ck_index_metadata_index_type ON index_metadata IS
    'index_type is rag or graph.';
COMMENT ON CONSTRAINT ck_index_metadata_content_hash_sha256 ON index_metadata IS
    'content_hash is a SHA-256 digest: 64 lower-case hex digits.';

-- sessions (0008)
COMMENT ON CONSTRAINT sessions_pkey ON sessions IS
    'One row per session id.';
COMMENT ON INDEX sessions_pkey IS
    'Backs sessions_pkey. Serves sessions.heartbeat_session (ON CONFLICT), sessions.get_session '
    'and sessions.end_session.';
COMMENT ON INDEX ix_sessions_client_id IS
    'A client''s sessions: sessions.list_active_sessions with client_id.';
COMMENT ON INDEX ix_sessions_active_last_heartbeat IS
    'Active sessions by last heartbeat (partial: is_active): the stale-session sweep '
    'sessions.mark_stale_sessions and the order of sessions.list_active_sessions.';
COMMENT ON CONSTRAINT ck_sessions_client_id_not_blank ON sessions IS
    'client_id is not empty or all spaces.';
COMMENT ON TRIGGER trg_sessions_updated_at ON sessions IS
    'Sets updated_at to now() on every UPDATE (aura_set_updated_at).';

-- configurations (0008)
COMMENT ON CONSTRAINT configurations_pkey ON configurations IS
    'One value per setting key.';
COMMENT ON INDEX configurations_pkey IS
    'Backs configurations_pkey. Serves configurations.get_configuration, '
    'configurations.set_configuration (ON CONFLICT), configurations.delete_configuration and the '
    'key order of configurations.list_configurations.';
COMMENT ON CONSTRAINT ck_configurations_key_not_blank ON configurations IS
    'key is not empty or all spaces.';
COMMENT ON TRIGGER trg_configurations_updated_at ON configurations IS
    'Sets updated_at to now() on every UPDATE (aura_set_updated_at).';

-- rag_search_calibrations (0009)
COMMENT ON CONSTRAINT rag_search_calibrations_pkey ON rag_search_calibrations IS
    'One calibration per workspace and embedding size.';
COMMENT ON INDEX rag_search_calibrations_pkey IS
    'Backs rag_search_calibrations_pkey. Serves rag_chunks.save_search_calibration (ON CONFLICT), '
    'the calibration lookup of rag_chunks.set_search_settings and '
    'rag_chunks.list_search_calibrations. By its leading workspace_id it serves the per-workspace '
    'updates and deletes of rag_chunks.count_calibration_changes, delete_content_chunks, '
    'delete_path_chunks and delete_workspace_chunks, and fk_rag_search_calibrations_workspace_id.';
COMMENT ON CONSTRAINT fk_rag_search_calibrations_workspace_id ON rag_search_calibrations IS
    'A calibration belongs to a registered workspace. Deleting the workspace deletes it.';
COMMENT ON CONSTRAINT ck_rag_search_calibrations_embedding_dims_supported ON rag_search_calibrations IS
    'embedding_dims is 384, 768, 1536 or 3072, the sizes rag_chunks admits.';
COMMENT ON CONSTRAINT ck_rag_search_calibrations_ef_search_range ON rag_search_calibrations IS
    'ef_search, when set, is 1 to 1000. NULL means no ef_search met the target: searches go '
    'exact.';
COMMENT ON CONSTRAINT ck_rag_search_calibrations_recall_range ON rag_search_calibrations IS
    'recall is between 0 and 1.';
COMMENT ON CONSTRAINT ck_rag_search_calibrations_recall_target_range ON rag_search_calibrations IS
    'recall_target is above 0 and at most 1.';
COMMENT ON CONSTRAINT ck_rag_search_calibrations_queries_positive ON rag_search_calibrations IS
    'At least one sample query was measured.';
COMMENT ON CONSTRAINT ck_rag_search_calibrations_chunks_non_negative ON rag_search_calibrations IS
    'chunks is 0 or more.';
COMMENT ON CONSTRAINT ck_rag_search_calibrations_changed_chunks_non_negative ON rag_search_calibrations IS
    'changed_chunks is 0 or more.';
