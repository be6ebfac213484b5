"""Training in a child process and weight loading off the GUI thread: QObjects moved to a QThread.

The Qt-free engine does the work (``cnnstudio.workspace.training_process`` runs ``train`` in a
child process, ``cnnstudio.models.builder`` builds models); these workers only relay it from
their thread with queued signals. They catch their own exceptions and always emit
``sig_finished``, so the panel never waits on a dead thread. TensorFlow, Keras and the data
loaders are imported inside ``run``, never at module level.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QObject, Qt, QThread, Signal

from cnnstudio.network.spec import NetworkSpec


@dataclass
class TrainingJob:
    """What to train: the spec as it was when Train was pressed, the data and the settings.

    ``data`` is a built-in data set name or a path; ``dataset`` the data already loaded from
    it, if any; ``initial_weights`` a list of arrays or a ``.weights.h5`` path to continue from;
    ``init_from`` a ``.keras`` file whose layers of the same names and shapes give their weights
    (fine-tuning: the others start fresh, and the run's notes list which).
    """

    spec: NetworkSpec
    data: str
    settings: Any
    initial_weights: Any = None
    resumed_from: str | None = None
    validation_split: float = 0.2
    dataset: Any = None
    init_from: str | None = None


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
    """Runs one :class:`TrainingJob` in a child process and relays what it streams.

    ``state`` is a TrainingState in the window fed with the child's updates: the panel polls
    ``state.snapshot()`` for the curves. :meth:`request_stop` reaches the child at once. Once
    the child has ended (with a result, or dead), this thread loads the data set and the
    final (or last checkpointed) weights into a model for the inspection views, waiting for
    the window's TensorFlow loader first (``tensorflow_ready``): training itself needs no
    TensorFlow in the window.
    """

    sig_dataset = Signal(str)
    """The data set loaded: its one-line description."""
    sig_epoch = Signal(int, dict)
    """An epoch ended: (epoch from 1, its metrics); its timeline snapshot is already in."""
    sig_model_built = Signal(object, object)
    """The run began: (None, its live Timeline): the model itself lives in the child."""
    sig_trained = Signal()
    """The child process has ended (with a result or not); the window now loads the model."""
    sig_finished = Signal(object)
    """Always emitted last, with a :class:`TrainingOutcome`."""

    def __init__(self, job: TrainingJob):
        super().__init__()
        from cnnstudio.training.loop import TrainingState

        self.job = job
        self.state = TrainingState()
        self.process = None
        self.tensorflow_ready = threading.Event()
        self.tensorflow_error: str | None = None
        self._stop_sent = False
        self._loaded = None
        """The data file once :meth:`_read_data` has read it."""

    def request_stop(self) -> None:
        """Stop the run after its current batch (callable from the GUI thread)."""
        self.state.request_stop()
        if self.process is not None and not self._stop_sent:
            self._stop_sent = self.process.request_stop()

    def skip_model(self) -> None:
        """Do not load the trained model into the window (it is closing)."""
        self.tensorflow_error = "the window closed"
        self.tensorflow_ready.set()

    def run(self) -> None:
        from cnnstudio.workspace.runs import now

        outcome = TrainingOutcome(job=self.job, started=now())
        folder = tempfile.mkdtemp(prefix="cnnstudio-run-")
        try:
            self._train(outcome, folder)
        except Exception as exc:  # a failure is a report in the panel, never a crash
            outcome.error = f"Training failed: {type(exc).__name__}: {exc}"
            if self.process is not None:
                self.process.kill()
        finally:
            if self.process is not None:
                self.process.close()  # no child outlives its run
            shutil.rmtree(folder, ignore_errors=True)
            self.sig_finished.emit(outcome)

    def _train(self, outcome: TrainingOutcome, folder: str) -> None:
        from cnnstudio.inspection.timeline import Timeline
        from cnnstudio.workspace.training_process import ChildJob, TrainingProcess

        job = self.job
        refusal = self._refuse_data()
        if refusal is not None:
            outcome.error = refusal
            return
        child_job = ChildJob(spec=job.spec.to_dict(), data=job.data, settings=job.settings.to_dict(),
                             folder=folder, initial_weights=job.initial_weights,
                             validation_split=job.validation_split, init_from=job.init_from)
        self.process = process = TrainingProcess(child_job)
        process.start()
        if self.state.stop_requested:  # Stop pressed while the child was starting
            self._stop_sent = process.request_stop()
        timeline = result = None
        for kind, payload in process.messages():
            if kind == "update":
                self.state._publish(payload)
                if payload.kind == "epoch" and payload.epoch_logs is not None:
                    self.sig_epoch.emit(payload.epoch, dict(payload.epoch_logs))
            elif kind == "snapshot":
                epoch, kernels, acts, fixed_input, color_layers = payload
                if timeline is None:
                    timeline = Timeline(fixed_input=fixed_input, color_layers=color_layers)
                    outcome.timeline = timeline
                    self.sig_model_built.emit(None, timeline)
                timeline.record(epoch, kernels, acts)
            elif kind == "dataset":
                self.sig_dataset.emit(payload)
            elif kind == "refused":
                outcome.error = payload
                return
            elif kind == "result":
                result = payload
        weights = process.final_path if result is not None else process.checkpoint_path
        if result is None:
            result = self._died(process)
        outcome.result = result
        process.close()
        self.sig_trained.emit()
        self.tensorflow_ready.wait()
        if self.tensorflow_error:
            outcome.notes.append(f"The trained weights are not shown: TensorFlow is not loaded in the window "
                                 f"({self.tensorflow_error}).")
            return
        outcome.dataset = job.dataset if job.dataset is not None else self._load_dataset()
        if weights is not None:
            from cnnstudio.training.loop import build_for_training

            model = build_for_training(job.spec, job.settings)
            model.load_weights(str(weights))
            result.model, result.weights = model, model.get_weights()

    def _refuse_data(self) -> str | None:
        """Why the data does not fit the network, found here before a child process spends seconds
        importing TensorFlow to say so; None when it fits or only the child can tell (an image folder)."""
        from cnnstudio.analysis.shapes import infer_shapes
        from cnnstudio.training.data import BUILTIN_SHAPES, DataError, check_network_fits

        job = self.job
        output = infer_shapes(job.spec).output
        try:
            if job.dataset is not None:
                data_shape, classes = job.dataset.input_shape, job.dataset.num_classes
            elif job.data in BUILTIN_SHAPES:
                data_shape, classes = BUILTIN_SHAPES[job.data], None
            elif os.path.isfile(job.data):
                loaded = self._read_data()
                data_shape, classes = loaded.input_shape, loaded.num_classes
            else:
                return None
            check_network_fits(job.spec.input_shape, output.output_shape if output else None, data_shape, classes,
                               resize=job.settings.resize_images)
        except DataError as exc:
            return str(exc)
        return None

    def _died(self, process):
        """The result of a child that ended without one: failed, with the history so far."""
        from cnnstudio.training.loop import TrainingResult

        latest, _, history = self.state.snapshot()
        epochs = process.checkpoint_epoch
        return TrainingResult(
            status="failed", error=process.death_report(), history=history, epochs_completed=epochs,
            seconds=0.0, images_per_second=latest.images_per_second if latest else 0.0,
            device=latest.device if latest else self.job.settings.device, settings=self.job.settings,
            batches=(latest.epoch - 1) * latest.batches + latest.batch if latest else 0,
        )

    def _load_dataset(self):
        """The run's data as the child trained on it (smaller images padded to the input)."""
        from cnnstudio.training.data import fit_to_input

        return fit_to_input(self._read_data(), self.job.spec.input_shape, resize=self.job.settings.resize_images)[0]

    def _read_data(self):
        """The job's data file, read once: to check it fits before training and to show the results on."""
        from cnnstudio.training.data import load_dataset

        if self._loaded is None:
            job = self.job
            self._loaded = load_dataset(job.data, validation_split=job.validation_split, seed=job.settings.seed,
                                        input_shape=job.spec.input_shape)
        return self._loaded


def start_in_thread(worker: QObject, parent: QObject) -> QThread:
    """Move ``worker`` to a new QThread that runs ``worker.run`` and quits on ``sig_finished``."""
    thread = QThread(parent)
    worker.moveToThread(thread)
    thread.started.connect(worker.run)
    worker.sig_finished.connect(thread.quit, Qt.ConnectionType.DirectConnection)
    thread.start()
    return thread
