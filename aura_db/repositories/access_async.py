"""One property per aggregate on a Database and a Transaction (the async source of
``access_sync.py``): on the Database each call borrows a pooled connection (and commits), on a
Transaction every call shares its connection."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from ..retry import RetryPolicy
from .code_graph_async import AsyncCodeGraphRepository
from .configurations_async import AsyncConfigurationsRepository
from .conversations_async import AsyncConversationsRepository, AsyncMessagesRepository
from .executions_async import AsyncAgentExecutionsRepository, AsyncToolExecutionsRepository
from .index_metadata_async import AsyncIndexMetadataRepository
from .rag_chunks_async import AsyncRagChunksRepository
from .sessions_async import AsyncSessionsRepository
from .stories_async import AsyncStoriesRepository
from .story_steps_async import AsyncStoryStepsRepository
from .workspaces_async import AsyncWorkspacesRepository

__all__ = ["AsyncRepositoryAccess"]


class AsyncRepositoryAccess:
    """Mixin: the repositories, bound to ``self._connector``."""

    def _connector(self) -> Any:  # overridden: returns a context manager yielding a connection
        raise NotImplementedError

    def _retry_policy(self) -> RetryPolicy | None:  # overridden: None inside a transaction
        return None

    def _repository_connector(self) -> Any:  # a transaction's: its held connection (AsyncHeld)
        return self._connector

    @cached_property
    def stories(self) -> AsyncStoriesRepository:
        return AsyncStoriesRepository(self._repository_connector(), retry=self._retry_policy())

    @cached_property
    def story_steps(self) -> AsyncStoryStepsRepository:
        return AsyncStoryStepsRepository(self._repository_connector(), retry=self._retry_policy())

    @cached_property
    def workspaces(self) -> AsyncWorkspacesRepository:
        return AsyncWorkspacesRepository(self._repository_connector(), retry=self._retry_policy())

    @cached_property
    def conversations(self) -> AsyncConversationsRepository:
        return AsyncConversationsRepository(self._repository_connector(), retry=self._retry_policy())

    @cached_property
    def messages(self) -> AsyncMessagesRepository:
        return AsyncMessagesRepository(self._repository_connector(), retry=self._retry_policy())

    @cached_property
    def agent_executions(self) -> AsyncAgentExecutionsRepository:
        return AsyncAgentExecutionsRepository(self._repository_connector(), retry=self._retry_policy())

    @cached_property
    def tool_executions(self) -> AsyncToolExecutionsRepository:
        return AsyncToolExecutionsRepository(self._repository_connector(), retry=self._retry_policy())

    @cached_property
    def index_metadata(self) -> AsyncIndexMetadataRepository:
        return AsyncIndexMetadataRepository(self._repository_connector(), retry=self._retry_policy())

    @cached_property
    def sessions(self) -> AsyncSessionsRepository:
        return AsyncSessionsRepository(self._repository_connector(), retry=self._retry_policy())

    @cached_property
    def configurations(self) -> AsyncConfigurationsRepository:
        return AsyncConfigurationsRepository(self._repository_connector(), retry=self._retry_policy())

    @cached_property
    def rag_chunks(self) -> AsyncRagChunksRepository:
        return AsyncRagChunksRepository(self._repository_connector(), retry=self._retry_policy())

    @cached_property
    def code_graph(self) -> AsyncCodeGraphRepository:
        return AsyncCodeGraphRepository(self._repository_connector(), retry=self._retry_policy())
