"""Thin, typed repositories: one per aggregate, one named query (or round trip) per method.

:class:`RepositoryAccess` gives :class:`~aura_db.Database` and :class:`~aura_db.Transaction`
one property per aggregate; on the Database each call borrows a pooled connection and commits,
on a Transaction every call shares its connection. :class:`AsyncRepositoryAccess` does the same
for :class:`~aura_db.AsyncDatabase` and :class:`~aura_db.AsyncTransaction` with the ``Async*``
repositories: same methods, same rows, same errors, awaited. The async repositories
(``NAME_async.py``) are the source; ``NAME_sync.py`` is generated from them by
``tools/async_to_sync.py``; rows, checks and helpers (``NAME.py``) are shared.
"""

from __future__ import annotations

from .access_async import AsyncRepositoryAccess
from .access_sync import RepositoryAccess
from .code_graph import (
    CodeEdge,
    CodeEdgeType,
    CodeNode,
    CodeNodeRow,
    CodeNodeType,
    GraphHit,
    NodeKey,
)
from .code_graph_async import AsyncCodeGraphRepository
from .code_graph_sync import CodeGraphRepository
from .configurations import ConfigurationRow
from .configurations_async import AsyncConfigurationsRepository
from .configurations_sync import ConfigurationsRepository
from .conversations import (
    ConversationRow,
    ConversationWithMessages,
    MessageRole,
    MessageRow,
    RagContentType,
    RagContext,
    RagContextRow,
)
from .conversations_async import AsyncConversationsRepository, AsyncMessagesRepository
from .conversations_sync import ConversationsRepository, MessagesRepository
from .cursors import Page
from .executions import (
    AgentExecution,
    AgentExecutionRow,
    ToolExecutionRow,
    ToolStatus,
    UsageRow,
)
from .executions_async import AsyncAgentExecutionsRepository, AsyncToolExecutionsRepository
from .executions_sync import AgentExecutionsRepository, ToolExecutionsRepository
from .index_metadata import FileChanges, IndexMetadataRow, IndexType
from .index_metadata_async import AsyncIndexMetadataRepository
from .index_metadata_sync import IndexMetadataRepository
from .rag_calibration import SearchCalibration
from .rag_chunks import Chunk, ChunkRow, ChunkStats, SearchIndex
from .rag_chunks_async import AsyncRagChunksRepository
from .rag_chunks_sync import RagChunksRepository
from .rag_search import HybridHit, SearchHit, SearchPlan, SearchTuning
from .sessions import SessionRow
from .sessions_async import AsyncSessionsRepository
from .sessions_sync import SessionsRepository
from .stories import TRANSITIONS, StoryDetail, StoryRow, StoryStatus
from .stories_async import AsyncStoriesRepository
from .stories_sync import StoriesRepository
from .story_steps import StepDetail, StepStatus, StoryStepRow, StoryTaskRow
from .story_steps_async import AsyncStoryStepsRepository
from .story_steps_sync import StoryStepsRepository
from .workspaces import WorkspaceRow, normalize_path, workspace_id
from .workspaces_async import AsyncWorkspacesRepository
from .workspaces_sync import WorkspacesRepository

__all__ = [
    "TRANSITIONS",
    "AgentExecution",
    "AgentExecutionRow",
    "AgentExecutionsRepository",
    "AsyncAgentExecutionsRepository",
    "AsyncCodeGraphRepository",
    "AsyncConfigurationsRepository",
    "AsyncConversationsRepository",
    "AsyncIndexMetadataRepository",
    "AsyncMessagesRepository",
    "AsyncRagChunksRepository",
    "AsyncRepositoryAccess",
    "AsyncSessionsRepository",
    "AsyncStoriesRepository",
    "AsyncStoryStepsRepository",
    "AsyncToolExecutionsRepository",
    "AsyncWorkspacesRepository",
    "Chunk",
    "ChunkRow",
    "ChunkStats",
    "CodeEdge",
    "CodeEdgeType",
    "CodeGraphRepository",
    "CodeNode",
    "CodeNodeRow",
    "CodeNodeType",
    "ConfigurationRow",
    "ConfigurationsRepository",
    "ConversationRow",
    "ConversationWithMessages",
    "ConversationsRepository",
    "FileChanges",
    "GraphHit",
    "HybridHit",
    "IndexMetadataRepository",
    "IndexMetadataRow",
    "IndexType",
    "MessageRole",
    "MessageRow",
    "MessagesRepository",
    "NodeKey",
    "Page",
    "RagChunksRepository",
    "RagContentType",
    "RagContext",
    "RagContextRow",
    "RepositoryAccess",
    "SearchCalibration",
    "SearchHit",
    "SearchIndex",
    "SearchPlan",
    "SearchTuning",
    "SessionRow",
    "SessionsRepository",
    "StepDetail",
    "StepStatus",
    "StoriesRepository",
    "StoryDetail",
    "StoryRow",
    "StoryStatus",
    "StoryStepRow",
    "StoryStepsRepository",
    "StoryTaskRow",
    "ToolExecutionRow",
    "ToolExecutionsRepository",
    "ToolStatus",
    "UsageRow",
    "WorkspaceRow",
    "WorkspacesRepository",
    "normalize_path",
    "workspace_id",
]
