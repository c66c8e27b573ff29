"""Progress of long work: bulk ingest, HNSW builds, backup, restore, search calibration.

Every long operation takes ``progress=``: a callable that receives :class:`ProgressEvent`\\ s
(what, how far, of how much, in which unit and phase), at most a few times a second and once
more when the work ends. Pass your own (a web UI, a metric), or one of:

- :func:`bar`: a `tqdm <https://tqdm.github.io>`_ bar per task on a terminal, with rate and ETA;
- :func:`log_lines`: one log line every ``every`` seconds and one at the end (for logs, CI);
- :func:`auto`: the bar when stderr is a terminal, log lines otherwise (what the CLI uses).

A callback that raises does not stop the work: the error is logged once and the callback is
not called again for that task.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TextIO, TypeVar

from .errors import InvalidValue

__all__ = ["Progress", "ProgressEvent", "Tracker", "auto", "bar", "check_progress", "log_lines"]

logger = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ProgressEvent:
    """How far one task is: ``done`` of ``total`` (None: unknown) ``unit``\\ s."""

    task: str  # "ingest into workspace ws-1", "build ix_rag_chunks_embedding_768", "backup aura"
    done: int
    total: int | None
    unit: str  # "chunks", "tuples", "MB", "tables", "steps"
    phase: str | None = None  # e.g. the index build's phase ("building index: loading tuples")
    elapsed: float = 0.0  # seconds since the task started
    finished: bool = False

    @property
    def fraction(self) -> float | None:
        return None if not self.total else min(self.done / self.total, 1.0)

    def line(self) -> str:
        """``ingest into workspace ws-1: 40000/100000 chunks (40%), 2500 chunks/s, ETA 24s``."""
        of = f"/{self.total}" if self.total is not None else ""
        pct = f" ({self.fraction:.0%})" if self.fraction is not None else ""
        rate = self.done / self.elapsed if self.elapsed > 0 else 0.0
        text = f"{self.task}: {self.done}{of} {self.unit}{pct}"
        if self.phase:
            text += f" [{self.phase}]"
        if self.finished and self.phase == "failed":
            return text + f", failed after {self.elapsed:.1f}s"
        if self.finished:
            return text + f", done in {self.elapsed:.1f}s ({rate:,.0f} {self.unit}/s)"
        if rate > 0:
            text += f", {rate:,.0f} {self.unit}/s"
            if self.total:
                text += f", ETA {max(self.total - self.done, 0) / rate:.0f}s"
        return text


Progress = Callable[[ProgressEvent], None]


def check_progress(value: object, table: str) -> None:
    """:class:`InvalidValue` unless ``value`` is None or callable (checked before any work)."""
    if value is not None and not callable(value):
        raise InvalidValue(f"{table}.progress: expected a callable taking a ProgressEvent (or None), "
                           f"got {type(value).__name__}")


class Tracker:
    """Reports one task to a :data:`Progress` callback, throttled to ``interval`` seconds; a
    no-op without a callback. ``with Tracker(...) as t: t.update(n)`` reports the end too."""

    def __init__(self, callback: Progress | None, task: str, total: int | None, unit: str, *,
                 interval: float = 0.2) -> None:
        check_progress(callback, task)
        self.callback, self.task, self.total, self.unit = callback, task, total, unit
        self.interval = interval
        self.done = 0
        self.phase: str | None = None
        self._start = time.monotonic()
        self._last = float("-inf")

    def __enter__(self) -> Tracker:
        self._emit(False)
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is not None:
            self.phase = "failed"
            self._emit(True)
            self.callback = None
        else:
            self.finish()

    def update(self, done: int, *, phase: str | None = None, total: int | None = None) -> None:
        """Set how far the task is; reported when ``interval`` passed since the last report or
        the phase changed."""
        self.done = done
        moved_on = phase is not None and phase != self.phase
        if phase is not None:
            self.phase = phase
        if total is not None:
            self.total = total
        if moved_on or time.monotonic() - self._last >= self.interval:
            self._emit(False)

    def finish(self) -> None:
        if self.total is not None:
            self.done = max(self.done, self.total)
        self.phase = None
        self._emit(True)
        self.callback = None

    def iterate(self, items: Iterable[T], *, every: int = 1000) -> Iterator[T]:
        """``items``, counting them as they are consumed (reported every ``every``)."""
        n = 0
        for item in items:
            yield item
            n += 1
            if n % every == 0:
                self.update(n)
        self.done = n

    def _emit(self, finished: bool) -> None:
        if self.callback is None:
            return
        self._last = time.monotonic()
        event = ProgressEvent(self.task, self.done, self.total, self.unit, self.phase,
                              self._last - self._start, finished)
        try:
            self.callback(event)
        except Exception:  # a broken progress display never breaks the work
            logger.exception("the progress callback of %r failed; no more progress for it", self.task)
            self.callback = None


def bar(stream: TextIO | None = None) -> Progress:
    """A tqdm bar per task (rate and ETA), written to ``stream`` (default stderr)."""
    from tqdm import tqdm

    bars: dict[str, Any] = {}

    def show(event: ProgressEvent) -> None:
        b = bars.get(event.task)
        if b is None:
            b = bars[event.task] = tqdm(total=event.total, desc=event.task, unit=f" {event.unit}",
                                        file=stream or sys.stderr, dynamic_ncols=True,
                                        unit_scale=event.unit in ("chunks", "tuples"))
        if event.total is not None and b.total != event.total:
            b.total = event.total
        b.update(event.done - b.n)
        if event.phase:
            b.set_postfix_str(event.phase, refresh=False)
        if event.finished:
            b.close()
            del bars[event.task]
    return show


def log_lines(log: logging.Logger | Callable[[str], None] | None = None, *, every: float = 10.0) -> Progress:
    """One line per task every ``every`` seconds, and one when it ends: to ``log`` (a logger, at
    INFO; or a function taking the line), default aura_db's logger."""
    last: dict[str, float] = {}
    emit: Callable[[str], None]
    if log is None or isinstance(log, logging.Logger):
        target = log or logging.getLogger("aura_db")
        emit = target.info
    else:
        emit = log

    def show(event: ProgressEvent) -> None:
        now = time.monotonic()
        if event.finished or now - last.get(event.task, float("-inf")) >= every:
            last[event.task] = now
            emit(event.line())
    return show


def auto(stream: TextIO | None = None, *, every: float = 10.0) -> Progress:
    """:func:`bar` when ``stream`` (default stderr) is a terminal; :func:`log_lines` printing to
    it otherwise."""
    out = stream or sys.stderr
    if out.isatty():
        return bar(out)
    return log_lines(lambda line: print(line, file=out, flush=True), every=every)
