"""The one way the GUI runs long work: a Qt-free function on its own thread, reported by queued signals.

In the style of Orange3's ``ConcurrentMixin`` and superqt's ``thread_worker``: the work is an
engine function taking a :class:`cnnstudio.tasks.TaskState` first (``work(state, *args)``);
:class:`Task` runs it on a thread of its own and turns what it reports into signals that
reach the GUI thread through the event loop, in order: any ``sig_progress``/``sig_partial``,
then exactly one of ``sig_done(result)``, ``sig_error(exception)`` or ``sig_cancelled``, and
always ``sig_finished`` last, whatever happened (an unstarted task that is cancelled too).
After :meth:`Task.cancel` returns, the task ends in ``sig_cancelled``: no result, partial
result or error of the abandoned work is delivered.

:class:`LatestRunner` serves a view whose requests supersede each other (the Activations view
as its spin box turns): one task at a time, a new request cancels the running one and
replaces any waiting one, so only the latest result is shown and no work piles up.
:func:`shutdown` cancels every running task and waits for them with a time limit: the
window calls it when it closes, so no thread outlives it for long.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal

from cnnstudio.tasks import Cancelled, TaskState

REPORT_INTERVAL_S = 0.1
"""Progress and partial results reach the GUI at most this often (the latest one; the last always)."""
SHUTDOWN_TIMEOUT_S = 10.0
"""How long closing the window waits for running work before leaving it behind."""

_live: set[Task] = set()
"""Tasks started and not yet finished: kept alive here until their ``sig_finished`` is delivered."""
_live_lock = threading.Lock()


class Task(QObject):
    """``work(state, *args, **kwargs)`` on a thread of its own; see the module docstring for the signals."""

    sig_progress = Signal(float, str)
    """(fraction done in [0, 1], message), as the work reported it."""
    sig_partial = Signal(object)
    """A result so far."""
    sig_done = Signal(object)
    """The work returned: its result."""
    sig_error = Signal(object)
    """The work raised: the exception (its message says what went wrong)."""
    sig_cancelled = Signal()
    """The work was cancelled before it returned (or before it started)."""
    sig_finished = Signal()
    """Always emitted last, once."""

    _report = Signal(str, object)
    """(kind, value) from the working thread, delivered to the GUI thread by the event loop."""

    def __init__(self, work: Callable[..., Any], *args, name: str | None = None,
                 report_interval: float = REPORT_INTERVAL_S, **kwargs):
        super().__init__()
        self.name = name or getattr(work, "__name__", "task")
        self._work, self._args, self._kwargs = work, args, kwargs
        self.report_interval = report_interval
        self.state = TaskState(on_progress=lambda fraction, message: self._offer("progress", (fraction, message)),
                               on_partial=lambda value: self._offer("partial", value))
        self._reports_lock = threading.Lock()
        self._unsent: dict[str, Any] = {}
        """The latest progress and partial result not delivered yet, by kind."""
        self._in_flight: set[str] = set()
        self._sent_at: dict[str, float] = {}
        self._report.connect(self._deliver, Qt.ConnectionType.QueuedConnection)
        self._thread: threading.Thread | None = None
        self._claimed = False
        self._finished = False
        self.outcome: str | None = None
        """"done", "error" or "cancelled", once delivered."""
        self.result: Any = None
        self.exception: BaseException | None = None
        self.handlers: dict[str, Callable | None] = {}
        """What a :class:`LatestRunner` calls for this request."""

    # -- controlling -----------------------------------------------------------------------------

    def start(self) -> Task:
        """Start the work on its thread (once; a cancelled task stays unstarted and only finishes)."""
        if self._claimed:
            return self
        self._claimed = True
        with _live_lock:
            _live.add(self)
        self._thread = threading.Thread(target=self._run, name=f"task {self.name}", daemon=True)
        self._thread.start()
        return self

    def cancel(self) -> None:
        """Ask the work to stop; from now on no result or partial result is delivered."""
        self.state.cancel()
        if not self._claimed:  # never started: it still tells it ended
            self._claimed = True
            with _live_lock:
                _live.add(self)
            self._report.emit("cancelled", None)
            self._report.emit("finished", None)

    @property
    def is_running(self) -> bool:
        """Started (or cancelled) and ``sig_finished`` not delivered yet."""
        return self._claimed and not self._finished

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the work's thread has ended (at most ``timeout`` seconds); True if it has.

        The signals still come through the event loop afterwards.
        """
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    # -- the working thread -----------------------------------------------------------------------

    def _offer(self, kind: str, value: Any, last: bool = False) -> None:
        """Pass a progress or partial report on, unless one is on its way or was sent just now.

        A report held back is replaced by the next one, so a slow window sees the latest
        report rather than a queue of old ones; ``last`` sends what is held back (the work ended).
        """
        now = time.monotonic()
        with self._reports_lock:
            if not last:
                self._unsent[kind] = value
            if kind not in self._unsent or kind in self._in_flight:
                return
            if not last and now - self._sent_at.get(kind, -math.inf) < self.report_interval:
                return
            self._in_flight.add(kind)
            self._sent_at[kind] = now
        self._report.emit(kind, None)

    def _run(self) -> None:
        try:
            result = self._work(self.state, *self._args, **self._kwargs)
        except Cancelled:
            outcome, result = "cancelled", None
        except Exception as exc:  # delivered as sig_error: a failure is shown, never lost in a thread
            outcome, result = "error", exc
        else:
            outcome = "cancelled" if self.state.is_cancelled else "done"
        for kind in ("progress", "partial"):
            self._offer(kind, None, last=True)
        self._report.emit(outcome, result)
        self._report.emit("finished", None)

    # -- the GUI thread ------------------------------------------------------------------------------

    def _deliver(self, kind: str, value: Any) -> None:
        cancelled = self.state.is_cancelled
        if kind in ("progress", "partial"):
            with self._reports_lock:
                value = self._unsent.pop(kind)
                self._in_flight.discard(kind)
        if kind == "progress" and not cancelled:
            self.sig_progress.emit(*value)
        elif kind == "partial" and not cancelled:
            self.sig_partial.emit(value)
        elif kind == "done" and not cancelled:
            self.outcome, self.result = "done", value
            self.sig_done.emit(value)
        elif kind == "error" and not cancelled:
            self.outcome, self.exception = "error", value
            self.sig_error.emit(value)
        elif kind in ("done", "error", "cancelled"):
            self.outcome = "cancelled"
            self.sig_cancelled.emit()
        elif kind == "finished":
            self._finished = True
            with _live_lock:
                _live.discard(self)
            self.sig_finished.emit()


class LatestRunner(QObject):
    """One task at a time for one view; a new request cancels the running one and replaces the waiting one.

    Handlers given to :meth:`submit` hear only from their own request, and a superseded request
    is cancelled, so the view shows the latest answer only. ``sig_idle`` says nothing is left to do.
    """

    sig_idle = Signal()

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._running: Task | None = None
        self._waiting: Task | None = None

    @property
    def latest(self) -> Task | None:
        """The request that will be answered: the waiting one, else the running one."""
        return self._waiting or self._running

    @property
    def busy(self) -> bool:
        return self._running is not None or self._waiting is not None

    def submit(self, work: Callable[..., Any], *args, on_done=None, on_error=None, on_partial=None,
               on_progress=None, **kwargs) -> Task:
        """Ask for ``work(state, *args, **kwargs)``; it starts once the running request has ended."""
        task = Task(work, *args, **kwargs)
        # Through the runner's own slots, so that a closed view (and its runner) hears nothing more.
        task.handlers = {"done": on_done, "error": on_error, "partial": on_partial, "progress": on_progress}
        task.sig_done.connect(self._on_done)
        task.sig_error.connect(self._on_error)
        task.sig_partial.connect(self._on_partial)
        task.sig_progress.connect(self._on_progress)
        task.sig_finished.connect(self._on_finished)
        if self._waiting is not None:
            self._waiting.cancel()
        self._waiting = task
        if self._running is None:
            self._start_waiting()
        else:
            self._running.cancel()
        return task

    def cancel(self) -> None:
        """Cancel the running request and drop the waiting one."""
        if self._waiting is not None:
            self._waiting.cancel()
            self._waiting = None
        if self._running is not None:
            self._running.cancel()

    def shutdown(self, timeout: float = SHUTDOWN_TIMEOUT_S) -> bool:
        """Cancel everything and wait up to ``timeout`` seconds for the running work; True if it ended."""
        self.cancel()
        return self._running.wait(timeout) if self._running is not None else True

    def _start_waiting(self) -> None:
        self._running, self._waiting = self._waiting, None
        self._running.start()

    def _handle(self, kind: str, *args) -> None:
        handler = self.sender().handlers[kind]
        if handler is not None:
            handler(*args)

    def _on_done(self, result) -> None:
        self._handle("done", result)

    def _on_error(self, exc) -> None:
        self._handle("error", exc)

    def _on_partial(self, value) -> None:
        self._handle("partial", value)

    def _on_progress(self, fraction: float, message: str) -> None:
        self._handle("progress", fraction, message)

    def _on_finished(self) -> None:
        finished = self.sender()
        if finished is not self._running:
            return  # a request dropped before it started
        self._running = None
        if self._waiting is not None:
            self._start_waiting()
        else:
            self.sig_idle.emit()


def running() -> list[Task]:
    """The tasks started and not finished yet."""
    with _live_lock:
        return list(_live)


def shutdown(timeout: float = SHUTDOWN_TIMEOUT_S) -> list[Task]:
    """Cancel every task and wait for their threads, ``timeout`` seconds in all; returns those still running."""
    deadline = time.monotonic() + timeout
    tasks = running()
    for task in tasks:
        task.cancel()
    return [task for task in tasks if not task.wait(max(0.0, deadline - time.monotonic()))]
