"""Python's garbage collector runs on the GUI thread only, from a timer.

Automatic collection runs in whichever thread allocates past the threshold: a view's task
thread building or running a Keras model would then destroy the Qt objects held in garbage
cycles (widgets, graphics items, connections) off the GUI thread while the GUI thread may be
painting them, which crashes Qt (a full-suite run segfaulted in the GUI thread's event loop
while a task thread ran a model). pyqtgraph's ``GarbageCollector`` does the same, for the same
reason; this one can also be stopped, which tests need.
"""

from __future__ import annotations

import gc
import time

from PySide6.QtCore import QObject, QTimer

INTERVAL_MS = 200
FULL_EVERY_S = 10.0


class GuiThreadCollector(QObject):
    """Turns automatic collection off and collects on the GUI thread as often as it would have."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._thresholds = gc.get_threshold()
        self._was_enabled = gc.isenabled()
        self._last_full = time.monotonic()
        gc.disable()
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.collect)
        self._timer.start(INTERVAL_MS)

    def collect(self) -> None:
        """Collect the generations the automatic collector would have collected by now; the
        oldest at most every ``FULL_EVERY_S`` (Python's own collector, too, walks every object
        only when the old ones have grown by a quarter: a big network is many objects)."""
        counts = gc.get_count()
        generation = -1
        for level, (count, threshold) in enumerate(zip(counts, self._thresholds, strict=True)):
            if count <= threshold:
                break
            generation = level
        if generation == 2:
            now = time.monotonic()
            if now - self._last_full < FULL_EVERY_S:
                generation = 1
            else:
                self._last_full = now
        if generation >= 0:
            gc.collect(generation)

    def stop(self) -> None:
        """Collection back to automatic (as it was), after one last collection here."""
        self._timer.stop()
        gc.collect()
        if self._was_enabled:
            gc.enable()
