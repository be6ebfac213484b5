"""How long the GUI event loop stalls while the Train tab trains (target: longest gap < 20 ms).

A 5 ms QTimer (PreciseTimer) records the gaps between its ticks while the real window,
offscreen, trains digits-cnn on digits through the panel and its live curves. Every run
trains in a child process of its own, so every run includes the child's cold start (Python,
TensorFlow, tracing and XLA compilation). Each run has two phases: "training" from pressing
Train until the child has ended, and "result" while the window loads the trained model for
the inspection views (on the worker thread) until the run is in the runs list. The window's
own TensorFlow is loaded before measuring (it is not needed to train). The reference is the
same timer with the window idle, measured before and after the runs (the machine's load
changes); ratios are against the first one's 99th percentile. The child runs at a lower CPU
priority than the window (``training_process.NICENESS``).

    .venv/bin/python benchmarks/bench_gui_stall.py [--epochs 3] [--repeat 4] [--idle 2]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

TICK_MS = 5


class GapRecorder:
    """Gaps in milliseconds between the ticks of a 5 ms timer, while ``recording``."""

    def __init__(self):
        from PySide6.QtCore import Qt, QTimer

        self.gaps: list[float] = []
        self.ends: list[float] = []
        self.recording = False
        self._last = None
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self._tick)
        self.timer.start()

    def _tick(self) -> None:
        now = time.perf_counter()
        if self.recording and self._last is not None:
            self.gaps.append((now - self._last) * 1000)
            self.ends.append(now - self.t0)
        self._last = now

    def start(self) -> None:
        self.gaps = []
        self.ends = []
        self.t0 = self._last = time.perf_counter()
        self.recording = True

    def stop(self) -> list[float]:
        self.recording = False
        return self.gaps


class CollectionTimer:
    """Durations of Python's garbage collections (any thread): a long one holds the GIL."""

    def __init__(self):
        import gc

        self.durations: list[float] = []
        self._start = None
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase, info) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        elif self._start is not None:
            self.durations.append((time.perf_counter() - self._start) * 1000)

    def take(self) -> str:
        values, self.durations = self.durations, []
        longest = max(values, default=0.0)
        return f"{len(values)} collections, longest {longest:.0f} ms"


class StackSampler:
    """Samples the GUI thread's Python stack every millisecond from a helper thread, so that a
    long gap can be explained: ``during(start, end)`` gives the samples' innermost frames."""

    def __init__(self):
        import sys
        import threading

        self.samples: list[tuple[float, str]] = []
        self._main = threading.main_thread().ident
        self._stop = threading.Event()
        sys.setswitchinterval(0.001)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import sys

        while not self._stop.wait(0.001):
            frame = sys._current_frames().get(self._main)
            names = []
            while frame is not None and len(names) < 6:
                code = frame.f_code
                names.append(f"{os.path.basename(code.co_filename)}:{frame.f_lineno}:{code.co_name}")
                frame = frame.f_back
            self.samples.append((time.perf_counter(), " < ".join(names)))

    def during(self, start: float, end: float) -> list[str]:
        from collections import Counter

        counts = Counter(stack for when, stack in self.samples if start <= when <= end)
        return [f"{count:3d} x {stack}" for stack, count in counts.most_common(4)]

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


def summary(gaps) -> tuple[float, float, float, int, int]:
    """max, 99th percentile and median gap, the tick count and how many gaps passed 25 ms: the
    max alone is one sample, so the count tells a lucky run from a better one."""
    import numpy as np

    values = np.asarray(gaps)
    return (float(values.max()), float(np.percentile(values, 99)), float(np.median(values)), len(values),
            int((values > 25).sum()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=1, help="train this many more runs after the first")
    parser.add_argument("--idle", type=float, default=2.0, help="seconds of idle reference")
    parser.add_argument("--explain", type=float, metavar="MS",
                        help="sample the GUI thread's stack and print what it ran during gaps over MS ms")
    args = parser.parse_args()

    from PySide6.QtCore import QEventLoop, QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    from ui.garbage import GuiThreadCollector

    GuiThreadCollector(app)  # as ui.app starts the studio
    from cnnstudio.network import presets
    from cnnstudio.workspace.document import NetworkDocument
    from ui.main_window import QtMainWindow
    from ui.training.tab import install_training

    folder = tempfile.mkdtemp(prefix="bench_gui_stall_")
    window = QtMainWindow(NetworkDocument(presets.get("digits-cnn")),
                          settings=QSettings(os.path.join(folder, "s.ini"), QSettings.Format.IniFormat),
                          recovery_dir=os.path.join(folder, "recovery"))
    panel = install_training(window)
    window.resize(1400, 900)
    window.show()
    window.tabs.setCurrentWidget(panel)
    panel.epochs_spin.setValue(args.epochs)

    loop = QEventLoop()
    window.tensorflow_loader.sig_ready.connect(loop.quit)
    window.tensorflow_loader.ensure()
    if window.tensorflow_loader.is_loading:
        loop.exec()
    import keras  # noqa: F401  (loaded by the window's loader; only the training is measured)

    recorder = GapRecorder()
    collections = CollectionTimer()
    sampler = StackSampler() if args.explain else None

    def wait(ms):
        QTimer.singleShot(ms, loop.quit)
        loop.exec()

    wait(200)
    recorder.start()
    wait(int(args.idle * 1000))
    idle = summary(recorder.stop())

    rows = [("idle (reference)", idle, None)]
    panel.sig_finished.connect(lambda _outcome: loop.quit())
    marks = {}
    panel.sig_started.connect(lambda: panel.worker.sig_trained.connect(
        lambda: marks.setdefault("trained", time.perf_counter() - recorder.t0)))
    training_gaps = []
    for run in range(1 + args.repeat):
        marks.clear()
        recorder.start()
        started = time.perf_counter()
        panel.start_training()
        loop.exec()
        seconds = time.perf_counter() - started
        gaps = recorder.stop()
        cut = marks.get("trained", float("inf"))
        during = [g for g, end in zip(gaps, recorder.ends, strict=True) if end <= cut]
        after = [g for g, end in zip(gaps, recorder.ends, strict=True) if end > cut]
        training_gaps += during
        rows.append((f"run {run + 1}: training", summary(during), cut))
        if after:
            rows.append((f"run {run + 1}: result", summary(after), seconds - cut))
        status = panel.message.text().splitlines()[0]
        worst = sorted(zip(gaps, recorder.ends, strict=True), reverse=True)[:5]
        where = ", ".join(f"{gap:.0f} ms ending at {end:.2f} s" for gap, end in worst)
        print(f"# run {run + 1}: {status} Child ended at {cut:.2f} s. Longest gaps: {where}. "
              f"Garbage collections: {collections.take()}")
        if sampler is not None:
            for gap, end in zip(gaps, recorder.ends, strict=True):
                if gap > args.explain:
                    stop = recorder.t0 + end
                    print(f"  gap {gap:.0f} ms ending at {end:.2f} s:")
                    for line in sampler.during(stop - gap / 1000, stop):
                        print(f"    {line}")

    recorder.start()
    wait(int(args.idle * 1000))
    rows.append(("idle again (after)", summary(recorder.stop()), None))

    print(f"{'phase':<22} {'max ms':>8} {'p99 ms':>8} {'median':>8} {'ticks':>7} {'>25 ms':>7} {'p99/idle':>9} "
          f"{'secs':>8}")
    for name, (gap_max, p99, median, ticks, over), seconds in rows:
        ratio = p99 / idle[1]
        print(f"{name:<22} {gap_max:8.1f} {p99:8.1f} {median:8.1f} {ticks:7d} {over:7d} {ratio:9.2f} "
              f"{'' if seconds is None else f'{seconds:8.1f}'}")
    worst = max(training_gaps)
    print(f"longest stall while training: {worst:.1f} ms, p99 {summary(training_gaps)[1]:.1f} ms, idle max "
          f"{idle[0]:.1f} ms p99 {idle[1]:.1f} ms (target < 20 ms: {'met' if worst < 20 else 'MISSED'})")
    if sampler is not None:
        sampler.close()
    window.document.reset(window.document.spec)
    window.close()


if __name__ == "__main__":
    main()
