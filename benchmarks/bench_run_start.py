"""How soon a run from the window trains: its child forked from the fork server, or a fresh interpreter.

Each round starts one run of digits-cnn on digits (one epoch, no XLA) through
``TrainingProcess`` both ways, in turn (rotating which goes first), and times from ``start()``
to the first batch's update and to the result. The fork server is started and warmed before
the rounds, as the window does while the user edits. Medians; the ratio is fork / fresh
(below 1: the fork is sooner). Linux only (elsewhere there is no fork server).

Usage: ``python benchmarks/bench_run_start.py [--rounds N]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cnnstudio  # noqa: E402,F401  (Keras' import guard first)
from cnnstudio.network import presets  # noqa: E402
from cnnstudio.training.loop import TrainingSettings  # noqa: E402
from cnnstudio.workspace import fork_server  # noqa: E402
from cnnstudio.workspace.training_process import ChildJob, TrainingProcess, start_fork_server  # noqa: E402


def one_run(folder: str, forked: bool) -> tuple[float, float]:
    """Seconds from start() to the first batch's update, and to the result."""
    supported = fork_server.supported
    if not forked:
        fork_server.supported = lambda: False
    try:
        job = ChildJob(spec=presets.get("digits-cnn").to_dict(), data="digits",
                       settings=TrainingSettings(epochs=1, jit_compile=False).to_dict(), folder=folder)
        process = TrainingProcess(job)
        started = time.perf_counter()
        process.start()
        first = None
        for kind, payload in process.messages():
            if first is None and kind == "update" and payload.kind == "batch":
                first = time.perf_counter() - started
            if kind == "result":
                assert payload.status == "completed", payload.error
        process.close()
        return first, time.perf_counter() - started
    finally:
        fork_server.supported = supported


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    if not fork_server.supported():
        print("no fork server on this platform: every run starts a fresh interpreter")
        return
    start_fork_server()
    times = {True: [], False: []}
    with tempfile.TemporaryDirectory() as tmp:
        one_run(f"{tmp}/warm", forked=True)  # waits for the server's imports, as a first run might
        for index in range(args.rounds):
            for forked in ((True, False) if index % 2 == 0 else (False, True)):
                times[forked].append(one_run(f"{tmp}/{index}-{forked}", forked))
    fork_server.shutdown()
    print(f"{'start':8} {'first batch s':>14} {'whole run s':>12}")
    for forked, name in ((False, "fresh"), (True, "fork")):
        firsts, wholes = zip(*times[forked], strict=True)
        print(f"{name:8} {statistics.median(firsts):14.2f} {statistics.median(wholes):12.2f}")
    ratios = [f[0] / p[0] for f, p in zip(times[True], times[False], strict=True)]
    print(f"first batch, fork / fresh: {statistics.median(ratios):.2f} (rounds {min(ratios):.2f}-{max(ratios):.2f})")


if __name__ == "__main__":
    main()
