"""Start-up of the studio window against ``python -c "import tensorflow"`` on this machine.

Each run is a fresh subprocess (offscreen Qt) of the real start path, ``cnnstudio gui
--screenshot``: it opens the window on the default project with every installed view, shows
it, renders it to a PNG and exits, so the figure is an upper bound on "until the window is
shown". The reference imports TensorFlow.
Medians of a few runs; the target is a ratio under 0.5 (the window appears before
TensorFlow could even be imported).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time

RUNS = 5

def timed(args: list[str]) -> float:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "TF_CPP_MIN_LOG_LEVEL": "3"}
    start = time.perf_counter()
    subprocess.run(args, check=True, env=env, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        window_cmd = [sys.executable, "-m", "ui", "gui", "--screenshot", os.path.join(tmp, "shot.png")]
        tf_cmd = [sys.executable, "-c", "import tensorflow"]
        timed(window_cmd)
        timed(tf_cmd)
        window = [timed(window_cmd) for _ in range(RUNS)]
        tensorflow = [timed(tf_cmd) for _ in range(RUNS)]
    w, t = statistics.median(window), statistics.median(tensorflow)
    print(f"window shown:       median {w:.3f} s over {RUNS} runs")
    print(f"import tensorflow:  median {t:.3f} s over {RUNS} runs")
    print(f"ratio window/tensorflow: {w / t:.2f} (target < 0.50)")


if __name__ == "__main__":
    main()
