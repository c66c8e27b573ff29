"""db.story_steps (steps and tasks) and stories.get_with_steps on a real server."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from aura_db import ConcurrencyConflict, Database, InvalidTransition, InvalidValue, NotFound
from aura_db.repositories import StepStatus
from tests.test_repo_stories import _race


@pytest.fixture
def story_id(db: Database) -> uuid.UUID:
    return db.stories.create("Add login", repository_path="/src/app").id


def test_add_assigns_the_next_order_and_keeps_fields(db: Database, story_id: uuid.UUID) -> None:
    with db.transaction(actor="planner") as tx:
        first = tx.story_steps.add(story_id, name="Write tests", capability="python-coding",
                                   input={"files": ["a.py"]}, wave=0)
        second = tx.story_steps.add(story_id, name="Implement", capability="python-coding",
                                    description="make them pass", wave=1)
    assert (first.order, second.order) == (0, 1)
    assert (first.status, first.attempts, first.input, first.created_by) == (
        StepStatus.PENDING, 0, {"files": ["a.py"]}, "planner")
    assert (second.description, second.wave, second.story_id) == ("make them pass", 1, story_id)
    assert db.story_steps.get(first.id) == first
    assert [s.id for s in db.story_steps.list(story_id)] == [first.id, second.id]
    assert [s.id for s in db.story_steps.list(story_id, wave=1)] == [second.id]


def test_concurrent_adds_get_distinct_orders(db: Database, story_id: uuid.UUID) -> None:
    results = _race([lambda i=i: db.story_steps.add(story_id, name=f"s{i}", capability="c") for i in range(6)])
    assert not [r for r in results if isinstance(r, Exception)], results
    assert sorted(r.order for r in results) == [0, 1, 2, 3, 4, 5]


def test_add_to_missing_or_deleted_story(db: Database, story_id: uuid.UUID) -> None:
    missing = uuid.uuid4()
    with pytest.raises(NotFound, match=f"stories: no row with id '{missing}'"):
        db.story_steps.add(missing, name="x", capability="c")
    db.stories.delete(story_id)
    with pytest.raises(NotFound):
        db.story_steps.add(story_id, name="x", capability="c")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"name": "x" * 501, "capability": "c"}, "story_steps.name: 501 characters is longer than the limit of 500"),
    ({"name": "ok", "capability": ""}, "story_steps.capability: must not be blank"),
    ({"name": "ok", "capability": "c", "wave": -1}, "story_steps.wave: -1 is outside 0..2147483647"),
    ({"name": "a\x00b", "capability": "c"}, "story_steps.name: text must not contain NUL bytes"),
])
def test_bad_step_input_writes_nothing(db: Database, db_url: str, story_id: uuid.UUID,
                                       kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidValue) as err:
        db.story_steps.add(story_id, **kwargs)  # type: ignore[arg-type]
    assert message in str(err.value)
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM story_steps").fetchone() == (0,)


def test_reorder_is_atomic_and_complete(db: Database, story_id: uuid.UUID) -> None:
    a, b, c = (db.story_steps.add(story_id, name=n, capability="c") for n in "abc")
    db.story_steps.reorder(story_id, [c.id, a.id, str(b.id)])
    assert [(s.name, s.order) for s in db.story_steps.list(story_id)] == [("c", 0), ("a", 1), ("b", 2)]
    for bad in ([c.id, a.id], [c.id, a.id, b.id, uuid.uuid4()], []):
        with pytest.raises(InvalidValue, match="the new order must list every live step"):
            db.story_steps.reorder(story_id, bad)
    with pytest.raises(InvalidValue, match="a step appears twice"):
        db.story_steps.reorder(story_id, [a.id, a.id, b.id])
    assert [s.name for s in db.story_steps.list(story_id)] == ["c", "a", "b"]
    with pytest.raises(NotFound):
        db.story_steps.reorder(uuid.uuid4(), [a.id])


def test_run_a_step_through_its_lifecycle(db: Database, story_id: uuid.UUID) -> None:
    step = db.story_steps.add(story_id, name="Build", capability="c")
    running = db.story_steps.start(step.id, agent_id="coder-1", version=step.version)
    assert (running.status, running.attempts, running.assigned_agent_id) == (StepStatus.RUNNING, 1, "coder-1")
    assert running.started_at is not None and running.completed_at is None
    failed = db.story_steps.fail(step.id, "compiler error")
    assert (failed.status, failed.error) == (StepStatus.FAILED, "compiler error")
    assert failed.completed_at is not None and failed.completed_at >= failed.started_at  # type: ignore[operator]
    retry = db.story_steps.start(step.id)
    assert (retry.status, retry.attempts, retry.error, retry.completed_at) == (StepStatus.RUNNING, 2, None, None)
    done = db.story_steps.complete(step.id, {"files_changed": 3})
    assert (done.status, done.output) == (StepStatus.COMPLETED, {"files_changed": 3})
    rejected = db.story_steps.reject(step.id, "tests are missing")
    assert (rejected.status, rejected.approval, rejected.review_feedback) == (
        StepStatus.PENDING, "Rejected", "tests are missing")
    db.story_steps.start(step.id)
    db.story_steps.complete(step.id, {"files_changed": 4})
    approved = db.story_steps.approve(step.id, "looks good")
    assert (approved.status, approved.approval, approved.attempts) == (StepStatus.COMPLETED, "Approved", 3)


def test_step_transitions_are_enforced(db: Database, story_id: uuid.UUID) -> None:
    step = db.story_steps.add(story_id, name="Build", capability="c")
    with pytest.raises(InvalidTransition, match="cannot move from Pending to Completed"):
        db.story_steps.complete(step.id, None)
    with pytest.raises(InvalidTransition, match="only a Completed step can be reviewed"):
        db.story_steps.approve(step.id)
    skipped = db.story_steps.skip(step.id)
    assert skipped.status is StepStatus.SKIPPED and skipped.completed_at is not None
    with pytest.raises(InvalidTransition, match="cannot move from Skipped to Running"):
        db.story_steps.start(step.id)
    with pytest.raises(InvalidValue, match="story_steps.approval: 'Maybe' is not one of Approved, Rejected"):
        db.story_steps.review(step.id, "Maybe")  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        db.story_steps.start(uuid.uuid4())


def test_stale_version_and_racing_starts(db: Database, story_id: uuid.UUID) -> None:
    step = db.story_steps.add(story_id, name="Build", capability="c")
    with pytest.raises(ConcurrencyConflict, match="is at version 1, not 7"):
        db.story_steps.start(step.id, version=7)
    results = _race([lambda: db.story_steps.start(step.id) for _ in range(3)])
    assert sum(1 for r in results if not isinstance(r, Exception)) == 1
    assert all(isinstance(r, InvalidTransition) for r in results if isinstance(r, Exception))
    assert db.story_steps.get(step.id).attempts == 1


def test_tasks_under_a_step(db: Database, story_id: uuid.UUID) -> None:
    step = db.story_steps.add(story_id, name="Build", capability="c")
    t1 = db.story_steps.add_task(step.id, "write the parser")
    t2 = db.story_steps.add_task(step.id, "write the printer")
    assert (t1.order, t2.order, t1.status) == (0, 1, StepStatus.PENDING)
    done = db.story_steps.set_task_status(t1.id, "Completed")
    assert done.status is StepStatus.COMPLETED and done.completed_at is not None
    reopened = db.story_steps.set_task_status(t1.id, StepStatus.RUNNING)
    assert reopened.completed_at is None
    assert [t.id for t in db.story_steps.tasks(step.id)] == [t1.id, t2.id]
    with pytest.raises(InvalidValue, match="story_tasks.status: 'Done' is not one of"):
        db.story_steps.set_task_status(t1.id, "Done")
    with pytest.raises(NotFound, match="story_tasks: no row with id"):
        db.story_steps.set_task_status(uuid.uuid4(), "Completed")
    with pytest.raises(NotFound, match="story_steps: no row with id"):
        db.story_steps.add_task(uuid.uuid4(), "orphan")
    with pytest.raises(InvalidValue, match="story_tasks.description: must not be blank"):
        db.story_steps.add_task(step.id, " ")


def test_get_with_steps_returns_the_whole_aggregate(db: Database, story_id: uuid.UUID) -> None:
    a = db.story_steps.add(story_id, name="a", capability="c")
    b = db.story_steps.add(story_id, name="b", capability="c")
    deleted = db.story_steps.add(story_id, name="gone", capability="c")
    db.story_steps.delete(deleted.id)
    with pytest.raises(NotFound):
        db.story_steps.delete(deleted.id)
    tb = [db.story_steps.add_task(b.id, f"task {i}") for i in range(3)]
    db.story_steps.reorder(story_id, [b.id, a.id])
    detail = db.stories.get_with_steps(story_id)
    assert detail.story.id == story_id
    assert [d.step.name for d in detail.steps] == ["b", "a"]
    assert [t.id for t in detail.steps[0].tasks] == [t.id for t in tb]
    assert detail.steps[1].tasks == ()
    empty = db.stories.create("no steps")
    assert db.stories.get_with_steps(empty.id).steps == ()
    with pytest.raises(NotFound):
        db.stories.get_with_steps(uuid.uuid4())


def test_steps_of_a_soft_deleted_story_are_hidden(db: Database, story_id: uuid.UUID) -> None:
    step = db.story_steps.add(story_id, name="a", capability="c")
    db.stories.delete(story_id)
    with pytest.raises(NotFound):
        db.story_steps.list(story_id)
    with pytest.raises(NotFound):
        db.story_steps.get(step.id)
    db.stories.restore(story_id)
    assert db.story_steps.get(step.id).id == step.id


def test_a_soft_deleted_story_takes_its_steps_and_tasks_with_it(db: Database) -> None:
    story = db.stories.create("aggregate")
    step = db.story_steps.add(story.id, name="s", capability="c")
    task = db.story_steps.add_task(step.id, "t")
    db.stories.delete(story.id)
    gone = [
        lambda: db.story_steps.get(step.id),
        lambda: db.story_steps.list(story.id),
        lambda: db.story_steps.tasks(step.id),
        lambda: db.story_steps.start(step.id),
        lambda: db.story_steps.skip(step.id),
        lambda: db.story_steps.add_task(step.id, "another"),
        lambda: db.story_steps.set_task_status(task.id, "Running"),
        lambda: db.story_steps.delete(step.id),
        lambda: db.story_steps.add(story.id, name="late", capability="c"),
    ]
    for call in gone:
        with pytest.raises(NotFound):
            call()
    db.stories.restore(story.id)  # back whole: the step, its task, their states
    assert db.story_steps.get(step.id).status == "Pending"
    assert [t.id for t in db.story_steps.tasks(step.id)] == [task.id]
    assert db.story_steps.start(step.id).status == "Running"
    db.stories.purge(story.id)
    with pytest.raises(NotFound):
        db.story_steps.tasks(step.id)
    with db.connection() as conn:
        assert conn.execute("SELECT count(*) FROM story_tasks WHERE id = %s", (task.id,)).fetchone() == (0,)


def test_a_deleted_step_can_be_restored_with_its_tasks(db: Database) -> None:
    story = db.stories.create("steps")
    step = db.story_steps.add(story.id, name="s", capability="c")
    task = db.story_steps.add_task(step.id, "t")
    db.story_steps.delete(step.id)
    with pytest.raises(NotFound):
        db.story_steps.tasks(step.id)
    with pytest.raises(NotFound):
        db.story_steps.restore(uuid.uuid4())
    db.story_steps.restore(step.id)
    assert [t.id for t in db.story_steps.tasks(step.id)] == [task.id]
    with pytest.raises(NotFound, match="soft-deleted"):
        db.story_steps.restore(step.id)  # not deleted any more
    assert db.story_steps.tasks(db.story_steps.add(story.id, name="empty", capability="c").id) == []
