# WARNING: generated from access_async.py by tools/async_to_sync.py: do not edit.
# Change the async source and run `python tools/async_to_sync.py`.
"""One property per aggregate on a Database and a Transaction (the async source of
``access_sync.py``): on the Database each call borrows a pooled connection (and commits), on a
Transaction every call shares its connection."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from ..retry import RetryPolicy
from .code_graph_sync import CodeGraphRepository
from .configurations_sync import ConfigurationsRepository
from .conversations_sync import ConversationsRepository, MessagesRepository
from .executions_sync import AgentExecutionsRepository, ToolExecutionsRepository
from .index_metadata_sync import IndexMetadataRepository
from .rag_chunks_sync import RagChunksRepository
from .sessions_sync import SessionsRepository
from .stories_sync import StoriesRepository
from .story_steps_sync import StoryStepsRepository
from .workspaces_sync import WorkspacesRepository

__all__ = ["RepositoryAccess"]


class RepositoryAccess:
    """Mixin: the repositories, bound to ``self._connector``."""

    def _connector(self) -> Any:  # overridden: returns a context manager yielding a connection
        raise NotImplementedError

    def _retry_policy(self) -> RetryPolicy | None:  # overridden: None inside a transaction
        return None

    def _repository_connector(self) -> Any:  # a transaction's: its held connection (Held)
        return self._connector

    @cached_property
    def stories(self) -> StoriesRepository:
        return StoriesRepository(self._repository_connector(), retry=self._retry_policy())

    @cached_property
    def story_steps(self) -> StoryStepsRepository:
        return StoryStepsRepository(self._repository_connector(), retry=self._retry_policy())

    @cached_property
    def workspaces(self) -> WorkspacesRepository:
        return WorkspacesRepository(self._repository_connector(), retry=self._retry_policy())

    @cached_property
    def conversations(self) -> ConversationsRepository:
        return ConversationsRepository(self._repository_connector(), retry=self._retry_policy())

    @cached_property
    def messages(self) -> MessagesRepository:
        return MessagesRepository(self._repository_connector(), retry=self._retry_policy())

    @cached_property
    def agent_executions(self) -> AgentExecutionsRepository:
        return AgentExecutionsRepository(self._repository_connector(), retry=self._retry_policy())

    @cached_property
    def tool_executions(self) -> ToolExecutionsRepository:
        return ToolExecutionsRepository(self._repository_connector(), retry=self._retry_policy())

    @cached_property
    def index_metadata(self) -> IndexMetadataRepository:
        return IndexMetadataRepository(self._repository_connector(), retry=self._retry_policy())

    @cached_property
    def sessions(self) -> SessionsRepository:
        return SessionsRepository(self._repository_connector(), retry=self._retry_policy())

    @cached_property
    def configurations(self) -> ConfigurationsRepository:
        return ConfigurationsRepository(self._repository_connector(), retry=self._retry_policy())

    @cached_property
    def rag_chunks(self) -> RagChunksRepository:
        return RagChunksRepository(self._repository_connector(), retry=self._retry_policy())

    @cached_property
    def code_graph(self) -> CodeGraphRepository:
        return CodeGraphRepository(self._repository_connector(), retry=self._retry_policy())
