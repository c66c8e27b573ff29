"""typed_row: rows as frozen dataclasses from SELECT * (tolerant of added columns)."""

from __future__ import annotations

import dataclasses
import enum
import uuid
from typing import Any

import psycopg
import pytest
from psycopg import sql

from aura_db import AuraError, Database
from aura_db.repositories.rows import member, typed_row
from aura_db.repositories.stories import StoryStatus


class Colour(enum.StrEnum):
    RED = "red"


@dataclasses.dataclass(frozen=True, slots=True)
class Slotted:
    id: int
    colour: Colour

    def __post_init__(self) -> None:
        object.__setattr__(self, "colour", Colour(self.colour))


@dataclasses.dataclass(frozen=True)
class Plain:
    id: int
    colour: str


def test_rows_ignore_added_columns_and_run_post_init(conn: psycopg.Connection[Any]) -> None:
    with conn.cursor(row_factory=typed_row(Slotted)) as cur:
        rows = cur.execute("SELECT 'red' AS colour, 'added later' AS extra, g AS id "
                           "FROM generate_series(1, 2) g").fetchall()
    assert rows == [Slotted(1, Colour.RED), Slotted(2, Colour.RED)]
    assert type(rows[0].colour) is Colour
    with pytest.raises(dataclasses.FrozenInstanceError):
        rows[0].id = 5  # type: ignore[misc]


def test_non_slotted_dataclasses_go_through_init(conn: psycopg.Connection[Any]) -> None:
    with conn.cursor(row_factory=typed_row(Plain)) as cur:
        assert cur.execute("SELECT 1 AS id, 'blue' AS colour").fetchall() == [Plain(1, "blue")]


def test_a_missing_column_is_named(conn: psycopg.Connection[Any]) -> None:
    with conn.cursor(row_factory=typed_row(Slotted)) as cur, \
            pytest.raises(AuraError, match="Slotted: the query returns no column colour"):
        cur.execute("SELECT 1 AS id").fetchall()


def test_every_select_star_repository_survives_an_added_column(db: Database,
                                                              conn: psycopg.Connection[Any]) -> None:
    """An additive migration (the owner's ``conn``) must not break code already running: the
    repositories that read ``SELECT *`` / ``RETURNING *`` ignore a column they do not know."""
    for table in ("workspaces", "stories", "story_steps"):
        conn.execute(sql.SQL("ALTER TABLE {} ADD COLUMN added_later int DEFAULT 7").format(
            sql.Identifier(table)))
    db._pool.drain()  # new connections: no cached result shapes
    ws = db.workspaces.upsert("/src/added")
    assert db.workspaces.get(ws.id).path == "/src/added" and db.workspaces.list()[0].id == ws.id
    assert db.workspaces.mark_indexed(ws.id, "rag").rag_indexed_at is not None
    story = db.stories.create("added")
    assert db.stories.get(story.id).title == "added" and len(db.stories.list()) == 1
    step = db.story_steps.add(story.id, name="s", capability="c")
    assert db.story_steps.start(step.id).status == "Running"


def test_member_is_the_enum_call_at_a_dict_lookup() -> None:
    assert member(StoryStatus, "Created") is StoryStatus("Created")
    assert member(StoryStatus, StoryStatus("Failed")) is StoryStatus("Failed")
    with pytest.raises(ValueError, match="'Nope' is not a valid StoryStatus"):
        member(StoryStatus, "Nope")


def test_a_kept_row_maker_follows_the_columns_of_its_query(conn: psycopg.Connection[Any]) -> None:
    """The runners keep a typed row's maker per query and connection, checked against the
    result's shape: dropping a column from the middle and adding columns at the end (the
    statements of a migration) on the same open connection must move every value with its
    name, not leave them at the positions the kept maker knew."""
    from aura_db.queries import default_catalog
    from aura_db.repositories.stories import _row

    story_id = conn.execute("INSERT INTO stories (title, description, priority) VALUES "
                            "('kept', 'the description', 'High') RETURNING id").fetchone()[0]  # type: ignore[index]
    get, page = default_catalog()["get_story"], default_catalog()["list_stories_newest"]
    filters = {name: None for name in page.params} | {"limit": 10}

    def listed() -> list[tuple[str, str | None, str, int]]:
        return [(r.title, r.description, r.priority, r.version) for r in page.many(conn, _row, **filters)]

    for _ in range(3):  # the maker is built once and kept
        row = get.optional(conn, _row, id=story_id)
        assert row is not None and (row.title, row.description) == ("kept", "the description")
        assert listed() == [("kept", "the description", "High", 1)]
    conn.execute("ALTER TABLE stories ADD COLUMN added_later int DEFAULT 7")
    row = get.optional(conn, _row, id=story_id)
    assert row is not None and (row.description, row.priority, row.version) == ("the description", "High", 1)
    # description leaves the middle and comes back last: every later column moves one place
    conn.execute("ALTER TABLE stories DROP COLUMN added_later, DROP COLUMN description")
    conn.execute("ALTER TABLE stories ADD COLUMN description text DEFAULT 'moved'")
    row = get.optional(conn, _row, id=story_id)
    assert row is not None
    assert (row.title, row.description, row.priority, row.version) == ("kept", "moved", "High", 1)
    assert listed() == [("kept", "moved", "High", 1)]
    assert get.optional(conn, _row, id=uuid.uuid4()) is None
