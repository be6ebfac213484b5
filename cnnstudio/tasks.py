"""What long work shares with whoever runs it: progress, partial results and a cancel flag.

A long engine function (predicting a validation set, importing a model, exporting) takes a
:class:`TaskState` as its first argument, in the style of Orange3's ``TaskState``: it calls
:meth:`TaskState.set_progress` and :meth:`TaskState.set_partial` as it goes and
:meth:`TaskState.check` between steps, which raises :class:`Cancelled` once someone asked it
to stop. The engine never learns who listens: the GUI's ``ui.tasks.Task`` turns the calls
into queued Qt signals, the command line and the tests pass a plain ``TaskState()``.
Every method is thread-safe; the listeners are called on the working thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


class Cancelled(Exception):
    """The work stopped early because :meth:`TaskState.cancel` was called."""


class TaskState:
    """Progress (a fraction in [0, 1] and a message), partial results and cancellation of one piece of work."""

    def __init__(self, on_progress: Callable[[float, str], None] | None = None,
                 on_partial: Callable[[Any], None] | None = None):
        self._on_progress = on_progress
        self._on_partial = on_partial
        self._cancelled = threading.Event()
        self._lock = threading.Lock()
        self._progress = 0.0
        self._message = ""

    def cancel(self) -> None:
        """Ask the work to stop at its next :meth:`check`; safe from any thread, any number of times."""
        self._cancelled.set()

    @property
    def is_cancelled(self) -> bool:
        return self._cancelled.is_set()

    def check(self) -> None:
        """Raise :class:`Cancelled` if the work was asked to stop: call it between steps."""
        if self._cancelled.is_set():
            raise Cancelled("The work was cancelled before it finished.")

    @property
    def progress(self) -> tuple[float, str]:
        """The last (fraction done, message) reported."""
        with self._lock:
            return self._progress, self._message

    def set_progress(self, fraction: float, message: str = "") -> None:
        """Report how far the work is: ``fraction`` is clipped to [0, 1]."""
        fraction = min(1.0, max(0.0, float(fraction)))
        with self._lock:
            self._progress, self._message = fraction, message
        if self._on_progress is not None:
            self._on_progress(fraction, message)

    def set_partial(self, value: Any) -> None:
        """Hand over a result so far (a confusion matrix of the batches predicted yet)."""
        if self._on_partial is not None:
            self._on_partial(value)
