"""Training off the GUI thread: a QObject moved to a QThread.

The Qt-free engine does the work (``cnnstudio.training.loop.train``); the worker only runs it on
its thread and reports back with queued signals. It catches its own exceptions and always
emits ``sig_finished``, so the panel never waits on a dead thread.
TensorFlow, Keras and the data loaders are imported inside ``run``, never at module level.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QObject, Qt, QThread, Signal

from cnnstudio.network.spec import NetworkSpec


@dataclass
class TrainingJob:
    """What to train: the spec as it was when Train was pressed, the data and the settings.

    ``data`` is a built-in data set name or a path; ``dataset`` the data already loaded from
    it, if any; ``initial_weights`` a list of arrays or a ``.weights.h5`` path to continue from.
    """

    spec: NetworkSpec
    data: str
    settings: Any
    initial_weights: Any = None
    resumed_from: str | None = None
    validation_split: float = 0.2
    dataset: Any = None


@dataclass
class TrainingOutcome:
    """What a run left: the engine's result (None if it never started), the data set and the
    per-epoch timeline, or ``error`` when the data or the network were refused first."""

    job: TrainingJob
    started: str
    result: Any = None
    dataset: Any = None
    timeline: Any = None
    error: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def message(self) -> str | None:
        """The failure to show, from the engine's result or from the checks before it."""
        if self.error:
            return self.error
        return self.result.error if self.result is not None else None


class TrainingWorker(QObject):
    """Runs one :class:`TrainingJob`. ``state`` is the engine's thread-safe TrainingState: the
    panel polls ``state.snapshot()`` for the curves and calls ``state.request_stop()``."""

    sig_dataset = Signal(str)
    """The data set loaded: its one-line description."""
    sig_epoch = Signal(int, dict)
    """An epoch ended: (epoch from 1, its metrics), emitted from the training thread."""
    sig_model_built = Signal(object, object)
    """The model is built and about to train: (keras model, its Timeline)."""
    sig_finished = Signal(object)
    """Always emitted last, with a :class:`TrainingOutcome`."""

    def __init__(self, job: TrainingJob):
        super().__init__()
        from cnnstudio.training.loop import TrainingState

        self.job = job
        self.state = TrainingState(listener=self._on_update, min_interval=0.05)

    def run(self) -> None:
        from cnnstudio.workspace.runs import now

        outcome = TrainingOutcome(job=self.job, started=now())
        # Python's full garbage collections hold the GIL, and so stall the window, for as long
        # as they take to walk every Keras and TensorFlow object alive (100-300 ms after a few
        # runs). Freezing what is alive now limits them to what this run creates.
        gc.freeze()
        try:
            self._train(outcome)
        except Exception as exc:  # a failure is a report in the panel, never a crash
            outcome.error = f"Training failed: {type(exc).__name__}: {exc}"
        finally:
            gc.unfreeze()
            self.sig_finished.emit(outcome)

    def _train(self, outcome: TrainingOutcome) -> None:
        from cnnstudio.inspection.probes import TimelineCallback
        from cnnstudio.training.data import DataError, check_compatible, load_dataset
        from cnnstudio.training.loop import train

        job = self.job
        dataset = job.dataset
        if dataset is None:
            try:
                dataset = load_dataset(job.data, validation_split=job.validation_split,
                                       seed=job.settings.seed, input_shape=job.spec.input_shape)
            except DataError as exc:
                outcome.error = str(exc)
                return
        outcome.dataset = dataset
        self.sig_dataset.emit(dataset.describe())
        model = build_for_training(job.spec, job.settings)
        try:
            check_compatible(dataset, model.input_shape[1:], model.output_shape[-1])
        except DataError as exc:
            outcome.error = str(exc)
            return
        timeline = TimelineCallback(model, dataset.x_val[0] if len(dataset.x_val) else dataset.x_train[0])
        timeline.async_safe = True  # it acts on epoch ends only, so batches need not wait for it
        outcome.timeline = timeline.timeline
        self.sig_model_built.emit(model, timeline.timeline)
        outcome.result = train(model, dataset, job.settings, self.state,
                               initial_weights=job.initial_weights, callbacks=[timeline])

    def _on_update(self, update) -> None:
        """Called on the training thread: only emit; the panel polls the rest."""
        if update.kind == "epoch" and update.epoch_logs is not None:
            self.sig_epoch.emit(update.epoch, dict(update.epoch_logs))


def build_for_training(spec: NetworkSpec, settings):
    """A fresh model of ``spec`` with the settings' seed, in mixed precision when asked."""
    import keras

    from cnnstudio.models.builder import build_model

    previous = keras.config.dtype_policy()
    if settings.mixed_precision:
        keras.config.set_dtype_policy("mixed_float16")
    try:
        return build_model(spec, seed=settings.seed)
    finally:
        keras.config.set_dtype_policy(previous)


def start_in_thread(worker: QObject, parent: QObject) -> QThread:
    """Move ``worker`` to a new QThread that runs ``worker.run`` and quits on ``sig_finished``."""
    thread = QThread(parent)
    worker.moveToThread(thread)
    thread.started.connect(worker.run)
    worker.sig_finished.connect(thread.quit, Qt.ConnectionType.DirectConnection)
    thread.start()
    return thread
