"""A training run in a child process of its own, streaming its progress to the window.

Why a process: training on a thread of the window held the GIL while Keras traced and XLA
compiled (35-51 ms event-loop stalls), a crash in TensorFlow or XLA, an out-of-memory kill
or a CUDA error took the window and its unsaved project down, and GPU memory stayed held
until the window closed. A child ends with its run, so all of that ends with it.

The child is forked from a fork server that imported the engine and Keras once
(``python -m cnnstudio.workspace.training_process --fork-server FD``, see
:mod:`cnnstudio.workspace.fork_server`), or where there is none a fresh
``python -m cnnstudio.workspace.training_process FD``; either imports the engine and Keras,
never Qt or the window's modules. It sits in ``workspace`` because it composes training with
the inspection timeline.

The protocol, over one ``multiprocessing`` connection (length-prefixed pickles on a socket
pair). The parent sends one :class:`ChildJob`, then at most ``STOP``. The child sends
``(kind, payload)`` tuples:

- ``("dataset", description)``: the data set loaded.
- ``("refused", message)``: the data or the network were refused before training; the end.
- ``("snapshot", (epoch, kernels, activations, fixed_input, color_layers))``: a timeline
  snapshot (epoch 0 before training, then after each epoch), sent before that epoch's update.
- ``("checkpoint", epoch)``: the weights after that completed epoch are in ``CHECKPOINT``.
- ``("update", TrainingUpdate)``: batch and epoch progress, as ``train()`` reports it.
- ``("result", TrainingResult)``: the end. The result holds no arrays; the final weights are
  in ``FINAL`` in the job's folder.

A child that dies sends no result: :meth:`TrainingProcess.death_report` says how it ended
and the window keeps the last checkpoint. The child writes only into the job's folder; it
never touches a project.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, replace
from multiprocessing import Pipe
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from cnnstudio.workspace import fork_server

STOP = "stop"
CHECKPOINT = "checkpoint.weights.h5"
FINAL = "final.weights.h5"
LOG = "child.log"
NICENESS = 10
"""How much lower the child's CPU priority is than the window's: on a busy CPU the window's
event loop (drawing) goes first, and training takes the rest; on a GPU it costs nothing."""


@dataclass
class ChildJob:
    """What the child trains: the spec as a dict, the data source, the settings as a dict.

    ``initial_weights`` is a list of arrays or a ``.weights.h5`` path; ``init_from`` a ``.keras``
    file to fine-tune from (see ``train``); ``folder`` is where the child writes its checkpoint,
    its final weights and its log.
    """

    spec: dict
    data: str
    settings: dict
    folder: str
    initial_weights: Any = None
    validation_split: float = 0.2
    update_interval: float = 0.05
    init_from: str | None = None


def child_environment() -> dict[str, str]:
    """The window's environment as a child trains in it: TensorFlow quiet, and no ``TF_CONFIG``
    (the window trains on this machine: workers are the command line's)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
    env.pop("TF_CONFIG", None)
    return env


def start_fork_server() -> None:
    """Start the fork server now, so that the first run does not wait for its imports."""
    fork_server.start_server(_command("--fork-server"), child_environment())


def _command(*options: str) -> list[str]:
    return [sys.executable, "-m", "cnnstudio.workspace.training_process", *options]


def import_child_side() -> None:
    """Import what a child imports before its first batch (the fork server does it once)."""
    import importlib

    import layers
    from cnnstudio.training.data import import_loaders

    import_loaders()
    layers.load_all()
    for name in ("keras", "cnnstudio.inspection.probes", "cnnstudio.training.loop", "cnnstudio.workspace.runs"):
        importlib.import_module(name)


def import_parent_side() -> None:
    """Import what the parent of a run uses when the run streams and ends (the timeline and the
    probes the Filters view draws it with, the data loaders, the model builder, the weights' HDF5
    reader), so that a window can do it in the background before its first run: a first import
    during a run holds the GIL (C extensions load under it) and stalls the window's event loop by
    tens of milliseconds."""
    import importlib

    import_child_side()
    for name in ("cnnstudio.inspection.timeline", "cnnstudio.models.builder", "cnnstudio.models.export", "h5py"):
        importlib.import_module(name)


class TrainingProcess:
    """The parent's handle on one child: start it, read its messages, stop or kill it.

    Qt-free: the window's worker thread calls :meth:`messages`; :meth:`request_stop` may be
    called from any thread (the connection's two directions are independent).
    """

    def __init__(self, job: ChildJob):
        self.job = job
        self.process: subprocess.Popen | None = None
        self._conn: Connection | None = None
        self._send_lock = threading.Lock()
        self.checkpoint_epoch = 0
        """The last epoch whose weights the child checkpointed (0: none yet)."""

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def start(self) -> None:
        """Fork the child from the fork server (Linux), or start a fresh interpreter for it."""
        ours, theirs = Pipe(duplex=True)
        Path(self.job.folder).mkdir(parents=True, exist_ok=True)
        log = str(Path(self.job.folder) / LOG)
        env = child_environment()
        self.process = fork_server.start_child(_command("--fork-server"), env, theirs, log)
        if self.process is None:  # a new connection: a fork that half-happened keeps nothing of this run
            ours.close()
            theirs.close()
            ours, theirs = Pipe(duplex=True)
            with open(log, "wb") as output:
                self.process = subprocess.Popen(
                    [*_command(), str(theirs.fileno())], pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL,
                    stdout=output, stderr=subprocess.STDOUT, env=env, close_fds=True,
                )
        theirs.close()
        self._conn = ours
        self._send(self.job)

    def _send(self, message) -> bool:
        with self._send_lock:
            if self._conn is None:
                return False
            try:
                self._conn.send(message)
                return True
            except (OSError, EOFError):  # the child is gone: nothing to tell it
                return False

    def request_stop(self) -> bool:
        """Ask the child to stop after its current batch; False if it is already gone."""
        return self._send(STOP)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()

    def messages(self, poll_seconds: float = 0.5):
        """Yield the child's messages until it sends its result, refuses the job or dies."""
        while True:
            try:
                if not self._conn.poll(poll_seconds):
                    if self.process.poll() is not None and not self._conn.poll(0):
                        return
                    continue
                kind, payload = self._conn.recv()
            except (EOFError, OSError):
                return
            if kind == "checkpoint":
                self.checkpoint_epoch = int(payload)
            yield kind, payload
            if kind in ("result", "refused"):
                return

    def close(self, timeout: float = 30.0) -> int | None:
        """Wait for the child to exit (killing it after ``timeout``) and close the connection."""
        code = None
        if self.process is not None:
            try:
                code = self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                code = self.process.wait()
        with self._send_lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
        return code

    def death_report(self) -> str:
        """Why the child ended without a result, in words, with the tail of its log."""
        code = self.process.wait() if self.process is not None else None
        if code is not None and code < 0:
            name = signal.Signals(-code).name
            why = {
                "SIGKILL": "it was killed (SIGKILL: out of memory, or ended by another program)",
                "SIGSEGV": "it crashed (SIGSEGV, a segmentation fault inside TensorFlow or XLA)",
                "SIGABRT": "it aborted (SIGABRT, an internal error in TensorFlow or XLA)",
            }.get(name, f"it was ended by signal {name}")
        elif getattr(self.process, "status_lost", False):
            why = "its exit status is unknown (the fork server that started it ended before it)"
        else:
            why = f"it exited with code {code} before reporting a result"
        kept = (f"The weights after epoch {self.checkpoint_epoch} were kept." if self.checkpoint_epoch
                else "No epoch had completed, so there are no trained weights to keep.")
        tail = self.log_tail()
        return (f"The training process ended unexpectedly: {why}. The window is unaffected. {kept}"
                + (f"\nLast output: {tail}" if tail else ""))

    def log_tail(self, lines: int = 3) -> str:
        try:
            text = (Path(self.job.folder) / LOG).read_text(errors="replace")
        except OSError:
            return ""
        kept = [line for line in text.splitlines() if line.strip()]
        return " | ".join(kept[-lines:])

    @property
    def checkpoint_path(self) -> Path | None:
        path = Path(self.job.folder) / CHECKPOINT
        return path if self.checkpoint_epoch and path.exists() else None

    @property
    def final_path(self) -> Path:
        return Path(self.job.folder) / FINAL


# ------------------------------------------------------------------------------ the child


def _child_callbacks(send, model, dataset, folder: Path):
    """The timeline, a sender of its snapshots and the per-epoch checkpoint, in that order."""
    import keras

    from cnnstudio.inspection.probes import TimelineCallback
    from cnnstudio.workspace.runs import save_weights_atomic

    timeline = TimelineCallback(model, dataset.x_val[0] if len(dataset.x_val) else dataset.x_train[0])

    class SnapshotSender(keras.callbacks.Callback):
        """Sends each new timeline snapshot, before the epoch's update reaches the window."""

        sent = 0

        def _send_new(self):
            t = timeline.timeline
            while self.sent < len(t):
                epoch, kernels, acts = t.at(self.sent)
                send(("snapshot", (epoch, kernels, acts, t.fixed_input, set(t.color_layers))))
                self.sent += 1

        def on_train_begin(self, logs=None):
            self._send_new()

        def on_epoch_end(self, epoch, logs=None):
            self._send_new()

    class Checkpoint(keras.callbacks.Callback):
        """Keeps the weights of each completed epoch with a finite loss, written atomically."""

        def on_epoch_begin(self, epoch, logs=None):
            self.reached = 0

        def on_train_batch_end(self, batch, logs=None):
            # With several batches per call Keras reports each group once, by its last batch.
            self.reached = max(self.reached, batch + 1)

        def on_epoch_end(self, epoch, logs=None):
            steps = self.params.get("steps")
            finite = all(math.isfinite(float(v)) for v in (logs or {}).values())
            if finite and (steps is None or self.reached >= steps) and not self.model.stop_training:
                save_weights_atomic(model, folder / CHECKPOINT)
                send(("checkpoint", epoch + 1))

    return [timeline, SnapshotSender(), Checkpoint()]


def child_main(conn: Connection) -> int:
    """Run the job read from ``conn``; every outcome is a message, never a traceback alone."""
    send_lock = threading.Lock()

    def send(message) -> None:
        with send_lock:
            conn.send(message)

    job: ChildJob = conn.recv()
    folder = Path(job.folder)

    from cnnstudio.network.spec import NetworkSpec
    from cnnstudio.training.data import DataError, check_model_fits, fit_to_input, load_dataset
    from cnnstudio.training.loop import TrainingSettings, TrainingState, build_for_training, train

    state = TrainingState(listener=lambda update: send(("update", update)), min_interval=job.update_interval)

    def listen_for_stop() -> None:
        """Stop on request, and also when the window is gone (the connection closes)."""
        try:
            while conn.recv() != STOP:
                pass
        except (EOFError, OSError):
            pass
        state.request_stop()

    threading.Thread(target=listen_for_stop, name="stop-listener", daemon=True).start()
    settings = TrainingSettings.from_dict(job.settings)
    spec = NetworkSpec.from_dict(job.spec)
    try:
        dataset = load_dataset(job.data, validation_split=job.validation_split, seed=settings.seed,
                               input_shape=spec.input_shape)
    except DataError as exc:
        send(("refused", str(exc)))
        return 0
    model = build_for_training(spec, settings)
    try:
        dataset, fitted = fit_to_input(dataset, model.input_shape[1:], resize=settings.resize_images)
    except DataError as exc:
        send(("refused", str(exc)))
        return 0
    send(("dataset", dataset.describe() + (f" ({fitted})" if fitted else "")))
    try:
        check_model_fits(model, dataset)
    except DataError as exc:
        send(("refused", str(exc)))
        return 0
    result = train(model, dataset, settings, state, initial_weights=job.initial_weights, init_from=job.init_from,
                   callbacks=_child_callbacks(send, model, dataset, folder))
    if result.model is not None:
        from cnnstudio.workspace.runs import save_weights_atomic

        save_weights_atomic(result.model, folder / FINAL)
    send(("result", replace(result, model=None, weights=[], last_good_weights=None, best_weights=None)))
    return 0


def run_on(conn: Connection) -> int:
    """The child's work on its connection to the window, in a fresh interpreter or a fork."""
    try:
        return child_main(conn)
    except Exception as exc:  # reported to the window, which shows it in the Train tab
        with contextlib.suppress(EOFError, OSError):
            conn.send(("refused", f"Training failed: {type(exc).__name__}: {exc}"))
        raise
    finally:
        conn.close()


def main(argv: list[str]) -> int:
    """``FD``: one run on that connection; ``--fork-server FD``: fork a run per request on it."""
    if hasattr(os, "nice"):
        os.nice(NICENESS)
    if argv[1] == "--fork-server":
        import_child_side()
        return fork_server.serve(int(argv[2]), run_on)
    return run_on(Connection(int(argv[1])))


if __name__ == "__main__":
    from cnnstudio.process_exit import exit_now

    exit_now(main(sys.argv))  # the result and the weights are written: skip finalising TensorFlow
