"""SQLAlchemy 2.0 ORM models mapped onto aura-db's own tables (never used to create tables).

Every column is mapped, as an application would, so that the ORM loads the same columns as
aura-db's ``SELECT *``; relationships repeat aura-db's rules (live steps only, in order).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pgvector.sqlalchemy import Vector
from sqlalchemy import BigInteger, Computed, ForeignKey, Identity, String, Text, and_, text
from sqlalchemy.dialects.postgresql import JSONB, TSVECTOR
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = ["Base", "Message", "RagChunk", "Story", "StoryStep", "StoryTask"]


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSONB, Any: JSONB}


class Story(Base):
    __tablename__ = "stories"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(500))
    description: Mapped[str | None] = mapped_column(Text)
    repository_path: Mapped[str | None] = mapped_column(String(1000))
    status: Mapped[str] = mapped_column(String(50))
    worktree_path: Mapped[str | None] = mapped_column(String(1000))
    git_branch: Mapped[str | None] = mapped_column(String(500))
    analyzed_context: Mapped[Any | None]
    execution_plan: Mapped[Any | None]
    issue_url: Mapped[str | None] = mapped_column(String(1000))
    issue_provider: Mapped[str | None] = mapped_column(String(50))
    issue_number: Mapped[int | None]
    issue_owner: Mapped[str | None] = mapped_column(String(100))
    issue_repo: Mapped[str | None] = mapped_column(String(100))
    automation_mode: Mapped[str] = mapped_column(String(50))
    dispatch_target: Mapped[str] = mapped_column(String(50))
    source: Mapped[str] = mapped_column(String(50))
    source_guardian_id: Mapped[str | None] = mapped_column(String(100))
    pattern_name: Mapped[str | None] = mapped_column(String(100))
    pattern_language: Mapped[str | None] = mapped_column(String(50))
    priority: Mapped[str] = mapped_column(String(50))
    suggested_capability: Mapped[str | None] = mapped_column(String(100))
    chat_history: Mapped[Any | None]
    verification_passed: Mapped[bool | None]
    verification_result: Mapped[Any | None]
    current_wave: Mapped[int]
    gate_mode: Mapped[str] = mapped_column(String(50))
    gate_result: Mapped[Any | None]
    max_parallelism: Mapped[int]
    pull_request_url: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    completed_at: Mapped[datetime | None]
    created_by: Mapped[str | None] = mapped_column(String(200))
    updated_by: Mapped[str | None] = mapped_column(String(200))
    deleted_at: Mapped[datetime | None]
    version: Mapped[int]

    steps: Mapped[list[StoryStep]] = relationship(
        primaryjoin=lambda: and_(Story.id == StoryStep.story_id, StoryStep.deleted_at.is_(None)),
        order_by=lambda: (StoryStep.order, StoryStep.id), viewonly=True,
    )


class StoryStep(Base):
    __tablename__ = "story_steps"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    story_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("stories.id"))
    order: Mapped[int] = mapped_column("order")
    name: Mapped[str] = mapped_column(String(500))
    capability: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(50))
    assigned_agent_id: Mapped[str | None] = mapped_column(String(100))
    attempts: Mapped[int]
    input: Mapped[Any | None]
    output: Mapped[Any | None]
    error: Mapped[str | None] = mapped_column(Text)
    approval: Mapped[str | None] = mapped_column(String(50))
    review_feedback: Mapped[str | None] = mapped_column(Text)
    wave: Mapped[int]
    started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    created_by: Mapped[str | None] = mapped_column(String(200))
    updated_by: Mapped[str | None] = mapped_column(String(200))
    deleted_at: Mapped[datetime | None]
    version: Mapped[int]

    tasks: Mapped[list[StoryTask]] = relationship(
        order_by=lambda: (StoryTask.order, StoryTask.id), viewonly=True)


class StoryTask(Base):
    __tablename__ = "story_tasks"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    step_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("story_steps.id"))
    order: Mapped[int] = mapped_column("order")
    description: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(50))
    completed_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Message(Base):
    __tablename__ = "messages"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default=text("gen_random_uuid()"))
    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=True))
    conversation_id: Mapped[uuid.UUID]
    role: Mapped[str] = mapped_column(String(20))
    content: Mapped[str] = mapped_column(Text)
    model: Mapped[str | None] = mapped_column(String(100))
    tokens_used: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(server_default=text("now()"))


class RagChunk(Base):
    __tablename__ = "rag_chunks"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default=text("gen_random_uuid()"))
    workspace_id: Mapped[str] = mapped_column(String(16))
    content_id: Mapped[str] = mapped_column(String(500))
    chunk_index: Mapped[int]
    content: Mapped[str] = mapped_column(Text)
    embedding: Mapped[Any] = mapped_column(Vector())
    embedding_dims: Mapped[int] = mapped_column(Computed("vector_dims(embedding)"))
    content_tsv: Mapped[Any] = mapped_column(TSVECTOR, Computed("to_tsvector('simple', content)"))
    source_path: Mapped[str | None] = mapped_column(String(1000))
    content_type: Mapped[str] = mapped_column(String(50), server_default=text("'Unknown'"))
    title: Mapped[str | None] = mapped_column(String(500))
    meta: Mapped[Any | None] = mapped_column("metadata", JSONB)
    created_at: Mapped[datetime] = mapped_column(server_default=text("now()"))
