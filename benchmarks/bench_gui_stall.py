"""How long the GUI event loop stalls while the Train tab trains (target: longest gap < 50 ms).

A 5 ms QTimer (PreciseTimer) records the gaps between its ticks while the real window,
offscreen, trains digits-cnn on digits through the panel's worker thread and live curves.
Each run is timed twice: "cold" (the first fit, with Keras tracing the TensorFlow graph) and
"warm" (a second fit in the same process). The reference is the same timer with the window
idle for as long, measured in the same run; ratios are against its 99th percentile.

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
    parser.add_argument("--repeat", type=int, default=1, help="train this many warm runs after the cold one")
    parser.add_argument("--idle", type=float, default=2.0, help="seconds of idle reference")
    args = parser.parse_args()

    from PySide6.QtCore import QEventLoop, QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])  # noqa: F841  (kept alive for the run)
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

    def wait(ms):
        QTimer.singleShot(ms, loop.quit)
        loop.exec()

    wait(200)
    recorder.start()
    wait(int(args.idle * 1000))
    idle = summary(recorder.stop())

    rows = [("idle (reference)", idle, None)]
    panel.sig_finished.connect(lambda _outcome: loop.quit())
    for run in range(1 + args.repeat):
        recorder.start()
        started = time.perf_counter()
        panel.start_training()
        loop.exec()
        seconds = time.perf_counter() - started
        gaps = recorder.stop()
        rows.append(("cold (graph tracing)" if run == 0 else f"warm run {run}", summary(gaps), seconds))
        status = panel.message.text().splitlines()[0]
        worst = sorted(zip(gaps, recorder.ends, strict=True), reverse=True)[:5]
        where = ", ".join(f"{gap:.0f} ms ending at {end:.2f} s" for gap, end in worst)
        print(f"# run {run}: {status} Longest gaps: {where}")

    print(f"{'phase':<22} {'max ms':>8} {'p99 ms':>8} {'median':>8} {'ticks':>7} {'>25 ms':>7} {'p99/idle':>9} "
          f"{'train s':>8}")
    for name, (gap_max, p99, median, ticks, over), seconds in rows:
        ratio = p99 / idle[1]
        print(f"{name:<22} {gap_max:8.1f} {p99:8.1f} {median:8.1f} {ticks:7d} {over:7d} {ratio:9.2f} "
              f"{'' if seconds is None else f'{seconds:8.1f}'}")
    worst = max(r[1][0] for r in rows[1:])
    print(f"longest stall while training: {worst:.1f} ms (target < 50 ms: {'met' if worst < 50 else 'MISSED'})")
    window.document.reset(window.document.spec)
    window.close()


if __name__ == "__main__":
    main()
