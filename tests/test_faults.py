"""Fault injection (issue #11): the failure contract under killed backends, server restarts,
frozen backends, an exhausted pool and racing updates, on a private server this module starts
(crash safe: ``fsync`` and ``synchronous_commit`` on) and is free to stop, kill and restart.

What every scenario checks: each write whose call returned is in the database, whole; a
transaction is all or nothing; no write is applied twice; an error saying nothing was written
means nothing was; every error a caller sees is an :class:`~aura_db.errors.AuraError` of the
expected kind; and recovery takes at most a second.

Each scenario runs twice: a smoke of a few seconds in the default suite, so it cannot rot, and
a full run of 30-60 s with hundreds of faults behind ``-m faults``, which prints a summary.
``AURA_FAULTS_VERBOSE=1`` prints the summary of the smoke runs too.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from psycopg.conninfo import conninfo_to_dict

from aura_db import Database
from aura_db.errors import (
    AuraError,
    CommitOutcomeUnknown,
    ConcurrencyConflict,
    ConnectionLost,
    DeadlineExceeded,
    PoolExhausted,
    ServerUnavailable,
    StatementTimeout,
)
from tests.faults import (
    Call,
    FaultServer,
    Killer,
    Load,
    RetryCounter,
    check_writes,
    error_classes,
    foreign_errors,
    open_database,
    quantiles,
    summary_of,
)


@dataclass(frozen=True)
class Scale:
    full: bool
    load_seconds: float  # killed backends, racing updates
    restarts: int  # per restart mode
    up_seconds: float  # load before each restart (and after the last)
    down_seconds: float  # the server stays down this long
    idle_kill_rounds: int
    freeze_rounds: int
    exhaustion_rounds: int
    min_kill_rounds: int
    min_acked: int


SMOKE = Scale(full=False, load_seconds=2.0, restarts=1, up_seconds=0.5, down_seconds=0.4,
              idle_kill_rounds=3, freeze_rounds=1, exhaustion_rounds=1, min_kill_rounds=5, min_acked=50)
FULL = Scale(full=True, load_seconds=45.0, restarts=6, up_seconds=4.0, down_seconds=2.0,
             idle_kill_rounds=60, freeze_rounds=10, exhaustion_rounds=20, min_kill_rounds=150,
             min_acked=2000)
SCALES = [pytest.param(SMOKE, id="smoke"), pytest.param(FULL, id="full", marks=pytest.mark.faults)]

RECOVERY = 1.0  # seconds: the promise


def report(capsys: pytest.CaptureFixture[str], scale: Scale, text: str) -> None:
    if scale.full or os.environ.get("AURA_FAULTS_VERBOSE"):
        with capsys.disabled():
            print("\n" + text)


@pytest.fixture(scope="module")
def server() -> Iterator[FaultServer]:
    fault_server = FaultServer()
    try:
        yield fault_server
    finally:
        fault_server.close()


@pytest.fixture
def url(server: FaultServer) -> Iterator[str]:
    """A new migrated database on the private server (started again if a test left it down)."""
    server.ensure_up()
    database_url = server.new_database()
    yield database_url
    server.ensure_up()
    server.drop_database(database_url)


@pytest.fixture
def retries() -> Iterator[RetryCounter]:
    with RetryCounter().installed() as counter:
        yield counter


@contextlib.contextmanager
def frozen(pid: int) -> Iterator[None]:
    """SIGSTOP the process for the block; SIGCONT it whatever happens."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        thaw(pid)


def thaw(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGCONT)


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll ``condition`` until true; return the seconds it took (fail after ``timeout``)."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            pytest.fail(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.005)
    return time.monotonic() - start


def timed(call: Callable[[], Any]) -> tuple[Any, float]:
    """``call()``'s result (or the exception it raised) and the seconds it took."""
    start = time.monotonic()
    try:
        result = call()
    except Exception as exc:
        result = exc
    return result, time.monotonic() - start


def race(calls: list[Callable[[], Any]]) -> list[tuple[Any, float]]:
    """Run the callables at once in threads; each one's result or exception, and its time."""
    barrier = threading.Barrier(len(calls))
    results: list[tuple[Any, float]] = [(None, 0.0)] * len(calls)

    def run(i: int) -> None:
        barrier.wait()
        results[i] = timed(calls[i])

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(t.is_alive() for t in threads), "a racing call never returned"
    return results


# -- 1. backends killed under load ---------------------------------------------------------------


@pytest.mark.parametrize("scale", SCALES)
def test_killed_backends_under_eight_writers(server: FaultServer, url: str, retries: RetryCounter,
                                             scale: Scale, capsys: pytest.CaptureFixture[str]) -> None:
    """8 writers (lone creates, and transactions of a story and 3 steps) and 2 readers while
    every backend of the pool is terminated every 50-250 ms: every acknowledged write is there
    and whole, nothing is applied twice or half, writers see typed connection-loss errors only,
    reads succeed through retries, and the first call after each round of kills succeeds
    within a second."""
    app = "aura-faults-kill"
    with open_database(url, app, min_size=8, max_size=12, pool_wait=5, statement_timeout=10) as db:
        load = Load(db, retries, writers=8, readers=2)
        probe_id = db.stories.create("probe").id
        load.acknowledged("probe", probe_id)
        with load, Killer(server.admin_url, app, probe=lambda: db.stories.get(probe_id)) as killer:
            time.sleep(scale.load_seconds)
        problems, counts = check_writes(url, load)

    writes, reads = load.writes(), load.reads()
    read_errors = [c for c in reads if c.error is not None]
    # a read may fail only once the retry policy has used every attempt
    unexhausted = [f"{c.kind} after {c.attempts} tries: {type(c.error).__name__}: {c.error}"
                   for c in read_errors if c.attempts < db.config.retry_attempts]
    report(capsys, scale, summary_of(
        f"killed backends ({scale.load_seconds:g}s)",
        kill_rounds=killer.rounds, backends_killed=killer.killed, writes=len(writes),
        writes_acked=counts["acked"], present=counts["present"],
        outcome_unknown=f"{counts['unknown']} ({counts['unknown_present']} of them applied)",
        write_errors=error_classes(writes), reads=len(reads), read_errors=error_classes(reads),
        retries=retries.retries, recovery_after_kills=quantiles(killer.recoveries)))

    assert not foreign_errors(load.calls), foreign_errors(load.calls)
    assert not killer.errors, killer.errors
    assert not problems, problems
    assert not load.wrong_reads, load.wrong_reads
    # the server is up all along: a writer only ever loses its connection (typed), never waits
    # in vain for the pool
    odd = [f"{c.kind}: {type(c.error).__name__}: {c.error}" for c in writes
           if c.error is not None and (not isinstance(c.error, ConnectionLost)
                                       or isinstance(c.error, DeadlineExceeded))]
    assert not odd, odd[:10]
    assert not unexhausted, unexhausted[:10]
    assert len(read_errors) <= max(2, len(reads) // 1000), error_classes(reads)
    assert killer.rounds >= scale.min_kill_rounds and killer.killed >= killer.rounds
    assert counts["acked"] >= scale.min_acked, counts
    assert any(c.error is not None for c in writes), "the kills never hit a write in flight"
    assert len(killer.recoveries) == killer.rounds
    assert max(killer.recoveries) <= RECOVERY, quantiles(killer.recoveries)


# -- 2. the server restarted under load ------------------------------------------------------------


@dataclass(frozen=True)
class Outage:
    fault: float  # the stop or kill began
    accepted: float  # the server accepted a connection again
    probe: Any  # seconds from `accepted` to the end of the first call, or its exception


@pytest.mark.parametrize("mode", ["fast", "immediate", "sigkill"])
@pytest.mark.parametrize("scale", SCALES)
def test_server_restart_under_load(server: FaultServer, url: str, retries: RetryCounter, mode: str,
                                   scale: Scale, capsys: pytest.CaptureFixture[str]) -> None:
    """The server stopped (fast, immediate) or its postmaster SIGKILLed while 8 writers and 2
    readers run, kept down a while, started again: afterwards every acknowledged write is
    there, errors are ServerUnavailable (or a subclass) and only around the outage, and the
    first call after the server accepts connections again succeeds within a second."""
    app = f"aura-faults-restart-{mode}"
    outages: list[Outage] = []
    with open_database(url, app, min_size=4, max_size=12, pool_wait=1, statement_timeout=10) as db:
        load = Load(db, retries, writers=8, readers=2)
        probe_id = db.stories.create("probe").id
        load.acknowledged("probe", probe_id)
        with load:
            for _ in range(scale.restarts):
                time.sleep(scale.up_seconds)
                fault = time.monotonic()
                if mode == "sigkill":
                    server.kill()
                else:
                    server.stop(mode)
                time.sleep(scale.down_seconds)
                accepted = server.start()
                result, _ = timed(lambda: db.stories.get(probe_id))
                outages.append(Outage(fault, accepted, result if isinstance(result, Exception)
                                      else time.monotonic() - accepted))
            time.sleep(scale.up_seconds)
        problems, counts = check_writes(url, load)

    def during_an_outage(call: Call) -> bool:
        return any(call.end >= o.fault and call.start <= o.accepted + RECOVERY for o in outages)

    writer_recovery = []
    for outage in outages:
        after = [c.end for c in load.writes() if c.error is None and c.end >= outage.accepted]
        writer_recovery.append(min(after) - outage.accepted if after else float("inf"))
    errors = [c for c in load.calls if c.error is not None]
    report(capsys, scale, summary_of(
        f"server restart, {mode} ({len(outages)} outages of {scale.down_seconds:g}s)",
        writes=len(load.writes()), writes_acked=counts["acked"], present=counts["present"],
        outcome_unknown=f"{counts['unknown']} ({counts['unknown_present']} of them applied)",
        errors=error_classes(errors), reads=len(load.reads()),
        first_call_after_restart=", ".join(
            f"{o.probe * 1000:.0f}ms" if isinstance(o.probe, float) else repr(o.probe) for o in outages),
        first_write_acked_after_restart=", ".join(f"{t * 1000:.0f}ms" for t in writer_recovery)))

    assert not foreign_errors(load.calls), foreign_errors(load.calls)
    assert not problems, problems
    assert not load.wrong_reads, load.wrong_reads
    untyped = [f"{c.kind}: {type(c.error).__name__}: {c.error}" for c in errors
               if not isinstance(c.error, ServerUnavailable)]
    assert not untyped, untyped[:10]
    outside = [f"{c.kind} at +{c.start - outages[0].fault:.3f}s: {type(c.error).__name__}: {c.error}"
               for c in errors if not during_an_outage(c)]
    assert not outside, outside[:10]
    assert len(errors) >= len(outages), "the outages never reached the callers"
    for outage in outages:
        assert isinstance(outage.probe, float), f"the first call after the restart failed: {outage.probe!r}"
        assert outage.probe <= RECOVERY, f"the first call after the restart took {outage.probe:.3f}s"
    assert max(writer_recovery) <= RECOVERY, writer_recovery
    assert counts["acked"] >= scale.min_acked // 4, counts


# -- 3. every idle backend of a warm pool killed ---------------------------------------------------


@pytest.mark.parametrize("check", ["recent", "roundtrip"])
@pytest.mark.parametrize("scale", SCALES)
def test_all_idle_backends_killed_on_a_warm_pool(server: FaultServer, url: str, retries: RetryCounter,
                                                 check: str, scale: Scale,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """A warm pool of 8 whose 8 idle backends are all terminated (a failover, a pgbouncer
    restart): the next call — a read, or a write, which is never retried — succeeds at once,
    needing no retry, and the pool is back to 8. ``recent``: the connections were just used,
    so checkout reads the socket without a round trip; ``roundtrip``: checkout always checks
    with a round trip (check_after_idle = 0)."""
    app = f"aura-faults-idle-{check}"
    after_idle = 60.0 if check == "recent" else 0.0
    times: list[float] = []
    with open_database(url, app, min_size=8, max_size=8, pool_wait=10,
                       check_after_idle=after_idle) as db:
        story = db.stories.create("survivor")
        for n in range(scale.idle_kill_rounds):
            with contextlib.ExitStack() as held:  # all 8 lent at once: each was just used
                for _ in range(8):
                    held.enter_context(db.connection())
            wait_until(lambda: sum(1 for _, state, _ in server.backends(app) if state == "idle") == 8,
                       10, "8 idle backends")
            assert server.terminate(app, idle_only=True) == 8
            retries.reset()
            call = (lambda: db.stories.get(story.id)) if n % 2 == 0 else \
                (lambda n=n: db.stories.create(f"after kill {n}"))
            result, took = timed(call)
            assert not isinstance(result, Exception), f"round {n}: {type(result).__name__}: {result}"
            assert retries.attempts == 1, f"round {n}: the call needed {retries.attempts} tries"
            times.append(took)
        wait_until(lambda: db._pool.stats().get("pool_size") == 8, 5, "the pool to refill to 8")
    report(capsys, scale, summary_of(f"all idle backends killed ({check})",
                                     rounds=len(times), backends_killed=8 * len(times),
                                     next_call=quantiles(times)))
    assert max(times) <= RECOVERY, quantiles(times)


# -- 4. a frozen backend ---------------------------------------------------------------------------

FROZEN_STATES = ["idle", "busy", "commit", "write"]


@pytest.mark.parametrize("state", FROZEN_STATES)
@pytest.mark.parametrize("scale", SCALES)
def test_frozen_backend_ends_at_the_deadline(server: FaultServer, url: str, state: str, scale: Scale,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """A backend stopped with SIGSTOP, where statement_timeout cannot fire: ``idle``, frozen in
    the pool before a read is sent to it; ``busy``, frozen while an update waits for a row lock
    (and never applied); ``commit``, frozen before the COMMIT of a story and 3 steps; ``write``,
    frozen before a lone create (which the thawed backend then runs). The caller gets
    DeadlineExceeded for a read, CommitOutcomeUnknown for a write (it may yet be applied),
    within the deadline + 1 s; after the thaw a transaction is all there or not at all; the next
    call succeeds within a second."""
    app = f"aura-faults-frozen-{state}"
    deadline = 1.2  # statement_timeout (0.8 s) would end the statement first, were the backend alive
    expected = DeadlineExceeded if state == "idle" else CommitOutcomeUnknown
    waits: list[float] = []
    nexts: list[float] = []
    applied = 0
    with open_database(url, app, min_size=1, max_size=1, statement_timeout=0.8, call_deadline=deadline,
                       check_after_idle=60, pool_wait=5) as db:
        assert db.config.deadline == deadline
        story = db.stories.create("frozen")
        dbname = str(conninfo_to_dict(url)["dbname"])
        for n in range(scale.freeze_rounds):
            db.stories.get(story.id)  # the one pooled connection, just used: no round trip at checkout
            [(pid, _, _)] = server.backends(app)
            title = f"frozen {state} {n}"
            if state == "idle":
                with frozen(pid):
                    result, took = timed(lambda: db.stories.get(story.id))
            elif state == "write":
                with frozen(pid):
                    result, took = timed(lambda: db.stories.create(title))  # noqa: B023
            elif state == "commit":
                result, took = _freeze_at_commit(server, db, app, title)
            else:
                result, took = _freeze_a_waiting_update(server, db, app, pid, story.id, dbname, deadline)
            wait_until(lambda: pid not in [p for p, _, _ in server.backends(app)], 10,  # noqa: B023
                       "the thawed backend to exit")
            assert isinstance(result, expected), f"round {n}: {type(result).__name__}: {result}"
            assert not isinstance(result, StatementTimeout) and "deadline" in str(result), result
            assert deadline - 0.05 <= took <= deadline + 1.0, f"round {n}: {expected.__name__} after {took:.3f}s"
            waits.append(took)
            after, took_next = timed(lambda: db.stories.get(story.id))
            assert not isinstance(after, Exception), f"round {n}, the next call: {after!r}"
            assert took_next <= RECOVERY, f"round {n}: the next call took {took_next:.3f}s"
            nexts.append(took_next)
            assert after.version == 1 and after.title == "frozen", "the frozen update was applied"
            with server.admin(dbname) as conn:
                steps = [row[0] for row in conn.execute(
                    "SELECT count(st.id) FROM stories s LEFT JOIN story_steps st ON st.story_id = s.id "
                    "WHERE s.title = %s GROUP BY s.id", (title,))]
            assert steps in ([], [3 if state == "commit" else 0]), f"round {n}: {title} has {steps}"
            applied += len(steps)
    report(capsys, scale, summary_of(f"frozen backend ({state}, deadline {deadline:g}s)",
                                     rounds=len(waits), error=expected.__name__,
                                     raised_after=quantiles(waits), next_call=quantiles(nexts),
                                     writes_applied_after_thaw=applied))


def _freeze_at_commit(server: FaultServer, db: Database, app: str, title: str) -> tuple[Any, float]:
    """A transaction writing a story and 3 steps whose backend is frozen just before COMMIT;
    what the transaction raised, and how long the COMMIT took."""
    pid = None
    start = time.monotonic()
    try:
        with db.transaction() as tx:
            created = tx.stories.create(title)
            for i in range(3):
                tx.story_steps.add(created.id, name=f"step {i}", capability="code")
            [(pid, _, _)] = server.backends(app)
            os.kill(pid, signal.SIGSTOP)
            start = time.monotonic()
    except Exception as exc:
        return exc, time.monotonic() - start
    finally:
        if pid is not None:
            thaw(pid)
    return None, time.monotonic() - start


def _freeze_a_waiting_update(server: FaultServer, db: Database, app: str, pid: int, story_id: Any,
                             dbname: str, deadline: float) -> tuple[Any, float]:
    """Run an update that waits for a row lock another session holds, freeze its backend while
    it waits, and return what the update raised (or returned) and when. The lock is held until
    the thawed backend has gone, so the cancelled update cannot slip through."""
    box: list[tuple[Any, float]] = []
    with server.admin(dbname) as locker:
        locker.execute("BEGIN")
        locker.execute("SELECT 1 FROM stories WHERE id = %s FOR UPDATE", (story_id,))
        writer = threading.Thread(target=lambda: box.append(timed(
            lambda: db.stories.update(story_id, version=1, title="never"))), daemon=True)
        writer.start()
        try:
            wait_until(lambda: server.backends(app) == [(pid, "active", "Lock")], 0.6,
                       "the update to wait for the row lock")
            with frozen(pid):
                writer.join(deadline + 5)
            # thawed, it meets the cancel and the closed socket, still without the lock
            wait_until(lambda: pid not in [p for p, _, _ in server.backends(app)], 10,
                       "the thawed backend to exit")
        finally:
            locker.execute("ROLLBACK")
            writer.join(10)
    assert box, "the update never returned"
    return box[0]


# -- 5. pool exhaustion ------------------------------------------------------------------------------


@pytest.mark.parametrize("scale", SCALES)
def test_exhausted_pool_says_so_after_pool_wait(server: FaultServer, url: str, scale: Scale,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """Both connections of a pool of 2 held: a read, a write and a transaction each get
    PoolExhausted after pool_wait (not much later); a borrower waiting when a connection comes
    back gets it; once released the pool serves at once."""
    app = "aura-faults-exhausted"
    wait = 0.5
    waited: list[float] = []
    with open_database(url, app, min_size=2, max_size=2, pool_wait=wait) as db:
        story = db.stories.create("held")

        def in_transaction() -> None:
            with db.transaction() as tx:
                tx.stories.get(story.id)

        borrowers: list[Callable[[], Any]] = [lambda: db.stories.get(story.id),
                                              lambda: db.stories.create("never"), in_transaction]
        for n in range(scale.exhaustion_rounds):
            with contextlib.ExitStack() as held:
                for _ in range(2):
                    held.enter_context(db.connection())
                calls = borrowers * (2 if scale.full else 1)
                for result, took in race(calls):
                    assert isinstance(result, PoolExhausted), f"round {n}: {type(result).__name__}: {result}"
                    assert wait - 0.05 <= took <= wait + 0.5, f"round {n}: PoolExhausted after {took:.3f}s"
                    waited.append(took)
            result, took = timed(lambda: db.stories.get(story.id))
            assert not isinstance(result, Exception) and took <= 0.2, (result, took)

        # a borrower that waits while a connection comes back gets it
        with contextlib.ExitStack() as held:
            first = contextlib.ExitStack()
            first.enter_context(db.connection())
            held.enter_context(db.connection())
            box: list[tuple[Any, float]] = []
            waiter = threading.Thread(target=lambda: box.append(timed(lambda: db.stories.get(story.id))),
                                      daemon=True)
            waiter.start()
            wait_until(lambda: db._pool.stats().get("requests_waiting", 0) >= 1, wait / 2,
                       "the third borrower to queue")
            first.close()
            waiter.join(5)
        assert box and not isinstance(box[0][0], Exception), box
        assert box[0][1] < wait, box  # served when the connection came back, not refused
        assert db.stories.count() == 1
    report(capsys, scale, summary_of("pool exhaustion (max_size 2, pool_wait 0.5s)",
                                     borrowers_refused=len(waited), refused_after=quantiles(waited)))


# -- 6. racing optimistic updates ----------------------------------------------------------------------


@pytest.mark.parametrize("kills", [False, True], ids=["clean", "with-kills"])
@pytest.mark.parametrize("scale", SCALES)
def test_racing_updates_lose_nothing(server: FaultServer, url: str, kills: bool, scale: Scale,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    """8 threads read a story and update it at the version they read, as fast as they can (and,
    ``with-kills``, while its backends are terminated): the story's final version is one more
    than the number of successful updates, its counter (the description) was never lost, and
    every loser got ConcurrencyConflict (or, under kills, a typed connection-loss error)."""
    app = f"aura-faults-race-{'kills' if kills else 'clean'}"
    outcomes: Counter[str] = Counter()
    odd: list[str] = []
    stop = threading.Event()
    with open_database(url, app, min_size=8, max_size=10, pool_wait=5) as db:
        story = db.stories.create("contended", description="0")

        def worker() -> None:
            while not stop.is_set():
                try:
                    row = db.stories.get(story.id)
                except AuraError as exc:
                    outcomes["read failed"] += 1
                    if not (kills and isinstance(exc, ConnectionLost)):
                        odd.append(f"get: {type(exc).__name__}: {exc}")
                    continue
                except Exception as exc:
                    odd.append(f"get: {type(exc).__name__}: {exc}")
                    continue
                try:
                    db.stories.update(story.id, version=row.version, description=str(int(row.description) + 1))
                except ConcurrencyConflict:
                    outcomes["conflict"] += 1
                except CommitOutcomeUnknown as exc:
                    outcomes["unknown"] += 1
                    if not kills:
                        odd.append(f"update: {type(exc).__name__}: {exc}")
                except Exception as exc:
                    odd.append(f"update: {type(exc).__name__}: {exc}")
                else:
                    outcomes["won"] += 1

        threads = [threading.Thread(target=worker, daemon=True) for _ in range(8)]
        killer = Killer(server.admin_url, app) if kills else contextlib.nullcontext()
        with killer:
            for thread in threads:
                thread.start()
            try:
                time.sleep(scale.load_seconds if scale.full else 1.0)
            finally:
                stop.set()
                for thread in threads:
                    thread.join(30)
        assert not any(t.is_alive() for t in threads)
        final = db.stories.get(story.id)
    report(capsys, scale, summary_of(f"racing updates ({'with kills' if kills else 'clean'})",
                                     final_version=final.version, outcomes=outcomes,
                                     kills=getattr(killer, "killed", 0)))
    assert not odd, odd[:10]
    assert final.description == str(final.version - 1), "an update was lost"
    if kills:
        assert outcomes["won"] <= final.version - 1 <= outcomes["won"] + outcomes["unknown"], outcomes
    else:
        assert final.version - 1 == outcomes["won"], outcomes
    assert outcomes["won"] >= 10 and outcomes["conflict"] >= 1, outcomes
