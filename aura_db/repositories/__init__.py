"""Thin, typed repositories: one per aggregate, one named query (or round trip) per method.

:class:`RepositoryAccess` gives :class:`~aura_db.Database` and :class:`~aura_db.Transaction`
one property per aggregate; on the Database each call borrows a pooled connection and commits,
on a Transaction every call shares its connection.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from ..retry import RetryPolicy
from .code_graph import (
    CodeEdge,
    CodeEdgeType,
    CodeGraphRepository,
    CodeNode,
    CodeNodeRow,
    CodeNodeType,
    GraphHit,
    NodeKey,
)
from .configurations import ConfigurationRow, ConfigurationsRepository
from .conversations import (
    ConversationRow,
    ConversationsRepository,
    ConversationWithMessages,
    MessageRole,
    MessageRow,
    MessagesRepository,
    RagContentType,
    RagContext,
    RagContextRow,
)
from .cursors import Page
from .executions import (
    AgentExecution,
    AgentExecutionRow,
    AgentExecutionsRepository,
    ToolExecutionRow,
    ToolExecutionsRepository,
    ToolStatus,
    UsageRow,
)
from .index_metadata import FileChanges, IndexMetadataRepository, IndexMetadataRow, IndexType
from .rag_calibration import SearchCalibration
from .rag_chunks import Chunk, ChunkRow, ChunkStats, RagChunksRepository, SearchIndex
from .rag_search import HybridHit, SearchHit, SearchPlan, SearchTuning
from .sessions import SessionRow, SessionsRepository
from .stories import TRANSITIONS, StoriesRepository, StoryDetail, StoryRow, StoryStatus
from .story_steps import StepDetail, StepStatus, StoryStepRow, StoryStepsRepository, StoryTaskRow
from .workspaces import WorkspaceRow, WorkspacesRepository, normalize_path, workspace_id

__all__ = [
    "TRANSITIONS",
    "AgentExecution",
    "AgentExecutionRow",
    "AgentExecutionsRepository",
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


class RepositoryAccess:
    """Mixin: the repositories, bound to ``self._connector``."""

    def _connector(self) -> Any:  # overridden: returns a context manager yielding a connection
        raise NotImplementedError

    def _retry_policy(self) -> RetryPolicy | None:  # overridden: None inside a transaction
        return None

    @cached_property
    def stories(self) -> StoriesRepository:
        return StoriesRepository(self._connector, retry=self._retry_policy())

    @cached_property
    def story_steps(self) -> StoryStepsRepository:
        return StoryStepsRepository(self._connector, retry=self._retry_policy())

    @cached_property
    def workspaces(self) -> WorkspacesRepository:
        return WorkspacesRepository(self._connector, retry=self._retry_policy())

    @cached_property
    def conversations(self) -> ConversationsRepository:
        return ConversationsRepository(self._connector, retry=self._retry_policy())

    @cached_property
    def messages(self) -> MessagesRepository:
        return MessagesRepository(self._connector, retry=self._retry_policy())

    @cached_property
    def agent_executions(self) -> AgentExecutionsRepository:
        return AgentExecutionsRepository(self._connector, retry=self._retry_policy())

    @cached_property
    def tool_executions(self) -> ToolExecutionsRepository:
        return ToolExecutionsRepository(self._connector, retry=self._retry_policy())

    @cached_property
    def index_metadata(self) -> IndexMetadataRepository:
        return IndexMetadataRepository(self._connector, retry=self._retry_policy())

    @cached_property
    def sessions(self) -> SessionsRepository:
        return SessionsRepository(self._connector, retry=self._retry_policy())

    @cached_property
    def configurations(self) -> ConfigurationsRepository:
        return ConfigurationsRepository(self._connector, retry=self._retry_policy())

    @cached_property
    def rag_chunks(self) -> RagChunksRepository:
        return RagChunksRepository(self._connector, retry=self._retry_policy())

    @cached_property
    def code_graph(self) -> CodeGraphRepository:
        return CodeGraphRepository(self._connector, retry=self._retry_policy())
