"""db.stories and db.workspaces on a real server: values, races, pagination, bad input."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from aura_db import (
    ConcurrencyConflict,
    Database,
    InvalidTransition,
    InvalidValue,
    NotFound,
)
from aura_db.repositories import StoryStatus, normalize_path, workspace_id
from aura_db.repositories.stories import TRANSITIONS


def count(db_url: str, table: str) -> int:
    with psycopg.connect(db_url) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # type: ignore[index]


# -- workspaces ----------------------------------------------------------------------------------


def test_workspace_id_is_the_hash_of_the_normalized_path() -> None:
    import hashlib

    assert normalize_path("/src//app/./lib/../") == "/src/app"
    assert workspace_id("/src/app/") == hashlib.sha256(b"/src/app").hexdigest()[:16]
    assert workspace_id("/src/x/../app") == workspace_id("/src/app")
    with pytest.raises(InvalidValue, match=r"workspaces\.path: must be absolute \(got 'src/app'\)"):
        workspace_id("src/app")


def test_workspace_upsert_get_mark_and_soft_delete(db: Database) -> None:
    with db.transaction(actor="indexer") as tx:
        ws = tx.workspaces.upsert("/src/app/", is_git_repository=True, current_commit_sha="a" * 40)
    assert (ws.id, ws.name, ws.path, ws.is_git_repository) == (workspace_id("/src/app"), "app", "/src/app", True)
    assert (ws.created_by, ws.version, ws.rag_indexed_at) == ("indexer", 1, None)
    again = db.workspaces.upsert("/src/app", name="App")
    assert (again.id, again.name, again.version, again.current_commit_sha) == (ws.id, "App", 2, "a" * 40)
    assert db.workspaces.get(ws.id) == again
    assert db.workspaces.find_by_path("/src/./app") == again
    assert db.workspaces.count() == 1 and db.workspaces.list() == [again]
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    rag = db.workspaces.mark_indexed(ws.id, "rag", commit_sha="b" * 40, at=at)
    assert (rag.rag_indexed_at, rag.rag_indexed_commit_sha, rag.current_commit_sha) == (at, "b" * 40, "b" * 40)
    graph = db.workspaces.mark_indexed(ws.id, "graph", commit_sha="c" * 40)
    assert graph.graph_indexed_at is not None and graph.graph_indexed_commit_sha == "c" * 40
    with pytest.raises(InvalidValue, match="workspaces.kind: 'vector' is not one of rag, graph"):
        db.workspaces.mark_indexed(ws.id, "vector")  # type: ignore[arg-type]
    db.workspaces.delete(ws.id)
    assert db.workspaces.find(ws.id) is None and db.workspaces.count() == 0
    with pytest.raises(NotFound, match=f"workspaces: no row with id '{ws.id}'"):
        db.workspaces.get(ws.id)
    with pytest.raises(NotFound):
        db.workspaces.mark_indexed(ws.id, "rag")
    db.workspaces.restore(ws.id)
    assert db.workspaces.get(ws.id).deleted_at is None
    db.workspaces.delete(ws.id)
    assert db.workspaces.upsert("/src/app").deleted_at is None  # re-registering un-deletes
    db.workspaces.purge(ws.id)
    with pytest.raises(NotFound):
        db.workspaces.purge(ws.id)
    with pytest.raises(NotFound):
        db.workspaces.restore(ws.id)


# -- stories: create, read, update ---------------------------------------------------------------


def test_create_and_get_story(db: Database) -> None:
    with db.transaction(actor="alice") as tx:
        story = tx.stories.create("Add login", repository_path="/src/app", issue_number=42,
                                  description="Users need to sign in")
    assert isinstance(story.id, uuid.UUID)
    assert (story.title, story.status, story.repository_path, story.issue_number) == (
        "Add login", StoryStatus.CREATED, "/src/app", 42)
    assert (story.priority, story.automation_mode, story.max_parallelism, story.current_wave) == (
        "Medium", "Assisted", 4, 0)
    assert (story.created_by, story.updated_by, story.version) == ("alice", "alice", 1)
    assert story.created_at.tzinfo is not None
    assert db.stories.get(story.id) == story
    assert db.stories.get(str(story.id)) == story


def test_get_unknown_or_malformed_id(db: Database) -> None:
    missing = uuid.uuid4()
    with pytest.raises(NotFound, match=f"stories: no row with id '{missing}'"):
        db.stories.get(missing)
    with pytest.raises(InvalidValue, match="stories.id: 'not-a-uuid' is not a UUID"):
        db.stories.get("not-a-uuid")


def test_update_changes_only_named_fields_and_bumps_version(db: Database) -> None:
    story = db.stories.create("Add login", description="old")
    with db.transaction(actor="bob") as tx:
        updated = tx.stories.update(story.id, version=1, title="Add SSO login",
                                    execution_plan={"steps": [1, 2]}, description=None)
    assert (updated.title, updated.description, updated.execution_plan) == (
        "Add SSO login", None, {"steps": [1, 2]})
    assert (updated.version, updated.created_by, updated.updated_by) == (2, None, "bob")
    assert updated.updated_at >= story.updated_at
    assert updated.repository_path == story.repository_path
    with pytest.raises(ConcurrencyConflict, match=r"stories.version: story .* is at version 2, not 1"):
        db.stories.update(story.id, version=1, title="stale")
    with pytest.raises(InvalidValue, match=r"stories: status cannot be updated \(status moves through transition\(\)\)"):
        db.stories.update(story.id, version=2, status="Completed")
    assert db.stories.get(story.id).title == "Add SSO login"


def _race(fns: list[Callable[[], Any]]) -> list[Any]:
    """Run the callables at once in threads; return each result or exception."""
    barrier = threading.Barrier(len(fns))
    results: list[Any] = [None] * len(fns)

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = fns[i]()
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(fns))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def test_two_updates_with_the_same_version_exactly_one_wins(db: Database) -> None:
    story = db.stories.create("Race me")
    results = _race([lambda i=i: db.stories.update(story.id, version=1, title=f"winner {i}") for i in range(4)])
    winners = [r for r in results if not isinstance(r, Exception)]
    assert len(winners) == 1, results
    assert all(isinstance(r, ConcurrencyConflict) for r in results if r not in winners)
    assert db.stories.get(story.id).title == winners[0].title
    assert db.stories.get(story.id).version == 2


def test_racing_transitions_exactly_one_wins(db: Database) -> None:
    story = db.stories.create("Race me")
    results = _race([lambda: db.stories.transition(story.id, "Analyzing") for _ in range(4)])
    assert sum(1 for r in results if not isinstance(r, Exception)) == 1, results
    losers = [r for r in results if isinstance(r, Exception)]
    assert all(isinstance(r, InvalidTransition) for r in losers)
    assert "cannot move from Analyzing to Analyzing" in str(losers[0])
    assert db.stories.get(story.id).version == 2


# -- status machine ------------------------------------------------------------------------------


def test_full_forward_path_sets_completed_at(db: Database) -> None:
    story = db.stories.create("Ship it")
    for status in ["Analyzing", "Analyzed", "Planning", "Planned", "Executing"]:
        story = db.stories.transition(story.id, status, version=story.version)
        assert story.status == status and story.completed_at is None
    done = db.stories.transition(story.id, StoryStatus.COMPLETED)
    assert done.status is StoryStatus.COMPLETED and done.completed_at is not None
    assert done.version == 7


@pytest.mark.parametrize(("path", "target"), [
    ([], "Planned"),  # skipping ahead
    (["Analyzing"], "Created"),  # going back
    (["Cancelled"], "Analyzing"),  # leaving a terminal state
    (["Failed"], "Cancelled"),
    (["Analyzing", "Analyzed", "Planning", "Planned", "Executing", "Completed"], "Failed"),
])
def test_invalid_transitions_are_refused(db: Database, path: list[str], target: str) -> None:
    story = db.stories.create("Strict")
    for status in path:
        story = db.stories.transition(story.id, status)
    with pytest.raises(InvalidTransition, match=f"cannot move from {story.status} to {target}"):
        db.stories.transition(story.id, target)
    assert db.stories.get(story.id).status == story.status


def test_failed_and_cancelled_from_every_open_state(db: Database) -> None:
    assert TRANSITIONS[StoryStatus.FAILED] == TRANSITIONS[StoryStatus.CANCELLED]
    assert {s.value for s in TRANSITIONS[StoryStatus.FAILED]} == {
        "Created", "Analyzing", "Analyzed", "Planning", "Planned", "Executing"}
    story = db.stories.create("Doomed")
    failed = db.stories.transition(story.id, "Failed")
    assert failed.completed_at is not None


def test_transition_with_stale_version_and_bad_status(db: Database) -> None:
    story = db.stories.create("Versioned")
    db.stories.update(story.id, version=1, title="v2")
    with pytest.raises(ConcurrencyConflict, match="is at version 2, not 1"):
        db.stories.transition(story.id, "Analyzing", version=1)
    with pytest.raises(InvalidValue, match="stories.status: 'Done' is not one of Created, Analyzing"):
        db.stories.transition(story.id, "Done")
    with pytest.raises(NotFound):
        db.stories.transition(uuid.uuid4(), "Analyzing")


# -- listing -------------------------------------------------------------------------------------


def _stories(db: Database, n: int, **fields: Any) -> list[Any]:
    with db.transaction() as tx:
        return [tx.stories.create(f"story {i:03d}", **fields) for i in range(n)]


def test_keyset_pagination_returns_every_row_once_while_rows_are_inserted(db: Database) -> None:
    original = {s.id for s in _stories(db, 23, repository_path="/r")}
    for order in ("newest", "oldest"):
        seen: list[uuid.UUID] = []
        page = db.stories.list(repository_path="/r", limit=5, order=order)  # type: ignore[arg-type]
        while True:
            seen.extend(s.id for s in page)
            db.stories.create("inserted meanwhile", repository_path="/r")
            if page.next_cursor is None:
                break
            page = db.stories.list(repository_path="/r", limit=5, order=order,  # type: ignore[arg-type]
                                   cursor=page.next_cursor)
        assert len(seen) == len(set(seen))
        assert original <= set(seen)
    newest = db.stories.list(repository_path="/r", limit=1000)
    assert [s.created_at for s in newest] == sorted((s.created_at for s in newest), reverse=True)


def test_filters_and_count_agree(db: Database) -> None:
    a = _stories(db, 3, repository_path="/a")
    b = _stories(db, 2, repository_path="/b")
    db.stories.transition(a[0].id, "Analyzing")
    db.stories.transition(b[0].id, "Cancelled")
    special = db.stories.create("100% done_ish \\ path", repository_path="/b")
    assert db.stories.count() == 6
    assert db.stories.count(repository_path="/a") == 3
    assert {s.id for s in db.stories.list(statuses=["Analyzing", StoryStatus.CANCELLED])} == {a[0].id, b[0].id}
    assert db.stories.count(statuses=[]) == 0
    assert [s.id for s in db.stories.list(title_contains="100%")] == [special.id]
    assert [s.id for s in db.stories.list(title_contains="DONE_")] == [special.id]
    assert [s.id for s in db.stories.list(title_contains="\\")] == [special.id]
    assert db.stories.count(title_contains="%") == 1  # a literal percent, not a wildcard
    assert db.stories.count(title_contains="_") == 1
    now = datetime.now(UTC)
    assert db.stories.count(created_from=now - timedelta(hours=1), created_before=now + timedelta(hours=1)) == 6
    assert db.stories.count(created_before=now - timedelta(hours=1)) == 0
    db.stories.delete(special.id)
    assert db.stories.count() == 5


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"statuses": ["Done"]}, "stories.status: 'Done' is not one of"),
    ({"order": "title; DROP TABLE stories"}, "stories.order: 'title; DROP TABLE stories' is not one of newest, oldest"),
    ({"limit": 0}, "stories.limit: 0 is outside 1..1000"),
    ({"cursor": "garbage"}, "stories: cursor 'garbage' was not issued by this listing"),
    ({"created_from": datetime(2026, 1, 1)}, "stories.created_from: expected a timezone-aware datetime"),
])
def test_bad_list_arguments(db: Database, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidValue, match=message.replace("(", r"\(").replace(")", r"\)")):
        db.stories.list(**kwargs)


def test_injection_attempt_in_search_text_is_just_text(db: Database, db_url: str) -> None:
    _stories(db, 2)
    assert db.stories.list(title_contains="' OR 1=1; DROP TABLE stories; --") == []
    assert count(db_url, "stories") == 2


# -- bad input leaves the database unchanged ----------------------------------------------------


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"title": "x" * 501}, "stories.title: 501 characters is longer than the limit of 500"),
    ({"title": "nul\x00byte"}, "stories.title: text must not contain NUL bytes"),
    ({"title": "   "}, "stories.title: must not be blank"),
    ({"title": 5}, "stories.title: expected text, got int 5"),
    ({"title": "ok", "issue_number": -3}, "stories.issue_number: -3 is outside 1..2147483647"),
    ({"title": "ok", "max_parallelism": "4"}, "stories.max_parallelism: expected an integer, got str '4'"),
    ({"title": "ok", "status": "Completed"}, "stories: unknown field(s) for create: status"),
])
def test_bad_input_is_refused_before_writing(db: Database, db_url: str, kwargs: dict[str, Any], message: str) -> None:
    kwargs = dict(kwargs)  # the parameter is shared by the [sync] and [async] runs
    title = kwargs.pop("title")
    with pytest.raises(InvalidValue) as err:
        db.stories.create(title, **kwargs)
    assert message in str(err.value)
    assert count(db_url, "stories") == 0


def test_database_check_errors_are_translated_with_cause(db: Database, db_url: str) -> None:
    story = db.stories.create("ok")
    with pytest.raises(InvalidValue, match="stories.current_wave: -1 is outside 0..2147483647"):
        db.stories.update(story.id, version=1, current_wave=-1)
    with db.connection() as conn, \
            pytest.raises(psycopg.errors.CheckViolation) as raw:  # bypass the Python checks
        conn.execute("UPDATE stories SET status = 'Bogus'")
    from aura_db._pgerrors import translate

    error = translate(raw.value, "stories")  # what every repository call raises for it
    assert isinstance(error, InvalidValue)
    assert "stories: the row breaks constraint ck_stories_status" in str(error)
    assert db.stories.get(story.id).status == "Created"


# -- soft delete and transactions ---------------------------------------------------------------


def test_soft_delete_restore_purge(db: Database) -> None:
    story = db.stories.create("Temporary")
    db.stories.delete(story.id)
    with pytest.raises(NotFound):
        db.stories.get(story.id)
    with pytest.raises(NotFound):
        db.stories.delete(story.id)
    assert db.stories.count() == 0
    db.stories.restore(story.id)
    assert db.stories.get(story.id).deleted_at is None
    db.stories.purge(story.id)
    with pytest.raises(NotFound):
        db.stories.restore(story.id)


def test_exception_inside_a_transaction_leaves_no_partial_write(db: Database, db_url: str) -> None:
    with pytest.raises(RuntimeError), db.transaction(actor="alice") as tx:
        tx.stories.create("one")
        tx.workspaces.upsert("/src/one")
        raise RuntimeError("crash after two writes")
    assert count(db_url, "stories") == 0
    assert count(db_url, "workspaces") == 0


def test_savepoint_rollback_keeps_the_outer_work(db: Database, db_url: str) -> None:
    with db.transaction() as tx:
        outer = tx.stories.create("outer")
        with pytest.raises(InvalidTransition), tx.savepoint():
            tx.stories.create("inner")
            tx.stories.transition(outer.id, "Completed")  # Created -> Completed is refused
        assert tx.stories.count() == 1
    assert [s.title for s in db.stories.list()] == ["outer"]


@pytest.mark.sync_only  # the plan is the SQL's: flavour-independent
def test_listing_pages_are_served_by_the_keyset_index(db: Database) -> None:
    with db.transaction() as tx:
        tx.conn.execute(
            "INSERT INTO stories (title, repository_path, created_at) "
            "SELECT 'bulk ' || g, '/r' || (g % 7), now() - g * interval '1 second' "
            "FROM generate_series(1, 5000) g")
        tx.conn.execute("ANALYZE stories")
    first = db.stories.list(limit=50)
    second = db.stories.list(limit=50, cursor=first.next_cursor)
    query = db.stories._q("list_stories_newest")
    params = {"statuses": None, "repository_path": None, "created_from": None, "created_before": None,
              "title_like": None, "after_created_at": second[-1].created_at, "after_id": second[-1].id,
              "limit": 51}
    with db.connection() as conn:
        cur = psycopg.RawCursor(conn)
        cur.execute("EXPLAIN " + query.sql, query.bind(params))
        plan = "\n".join(r[0] for r in cur.fetchall())
    assert "Index Scan Backward using ix_stories_live_created_at on stories" in plan, plan
    assert "Sort" not in plan, plan
