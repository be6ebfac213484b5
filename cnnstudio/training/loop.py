"""Training: settings, a thread-safe state to watch and stop a run, and ``train()``.

``train()`` is a plain, Qt-free function in the style of Orange3's TaskState and napari's
thread_worker: the caller (the GUI's worker thread, the CLI, a test) gives it a
:class:`TrainingState`, reads progress from the state's listener or :meth:`TrainingState.snapshot`,
and calls :meth:`TrainingState.request_stop` from any thread to stop after the current batch
(or group of batches, where several run per call: ``cnnstudio.training.groups``).
``train()`` never raises for a training failure: a NaN loss, running out of memory, data
the network refuses or any other error comes back as a :class:`TrainingResult` with status
"failed", a message saying what to change, and the last good weights restored in the model.

Only ``model.fit``, a Keras callback and ``keras.ops``-level APIs are used here, so training
runs on any Keras backend; device placement and ``tf.distribute`` live in ``cnnstudio.training.devices``.
"""

from __future__ import annotations

import functools
import gc
import json
import math
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np

from cnnstudio.network import tasks
from cnnstudio.network.spec import suggest
from cnnstudio.training import devices, groups
from cnnstudio.training.data import (
    DataError,
    Dataset,
    ImageFiles,
    batches,
    check_model_fits,
    fit_to_input,
)

OPTIMIZERS = ("sgd", "adam", "adamw")
"""SGD with momentum, Adam, AdamW."""

STATUSES = ("completed", "stopped", "failed")


class SettingsError(ValueError):
    """A training setting out of range, naming the setting and what it accepts."""

    def __init__(self, setting: str, message: str):
        self.setting = setting
        super().__init__(message)


INT_LIMIT = 2**31 - 1
"""The largest whole-number setting (what a spin box, a JSON reader and TensorFlow all hold)."""


@dataclass(frozen=True)
class Setting:
    """What one training setting means: its label and help, the values it accepts, its option.

    The single description the checks, the command line (``cnnstudio train --FLAG``) and the
    Train form are made from. ``low``/``high`` bound a number (``low_open``/``high_open``
    exclude the bound itself); ``choices`` lists a text setting's values (``open_choices``:
    others are allowed too, checked by ``normalize``); ``expected`` says in words what is
    accepted; ``step`` and ``decimals`` are the form's increments and precision.
    """

    label: str
    help: str
    expected: str = ""
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple[str, ...] = ()
    open_choices: bool = False
    normalize: Callable[[Any], Any] | None = None
    step: float = 1.0
    decimals: int = 0
    flag: str | None = None
    """The command-line option without dashes (default: the name with dashes for underscores)."""

    def option(self, name: str) -> str:
        """The command-line option of the setting called ``name``."""
        return "--" + (self.flag or name.replace("_", "-"))

    def check(self, name: str, value: Any, kind: type) -> Any:
        """``value`` normalised, or SettingsError naming the setting and what it accepts."""
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if self.normalize is not None:
            try:
                value = self.normalize(value)
            except ValueError as exc:
                raise SettingsError(name, str(exc)) from None
        if kind is bool:
            if not isinstance(value, bool):
                raise SettingsError(name, f"Expected true or false. Received: {name}={value!r}")
        elif kind is str:
            if self.choices and not self.open_choices and value not in self.choices:
                raise SettingsError(
                    name, f"Unknown {self.label.lower()}. Expected one of {list(self.choices)}."
                    f"{suggest(str(value), self.choices)} Received: {name}={value!r}")
        elif not self._in_range(value, kind):
            raise SettingsError(name, f"Bad {name.replace('_', ' ')}. Expected {self.expected}. "
                                f"Received: {name}={value!r}")
        return value

    def _in_range(self, value: Any, kind: type) -> bool:
        if not isinstance(value, kind) or isinstance(value, bool):
            return False
        if kind is float and not math.isfinite(value):
            return False
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return self.high is None or (value < self.high if self.high_open else value <= self.high)


def _setting(default: Any, **description) -> Any:
    return field(default=default, metadata={"setting": Setting(**description)})


def _lower(text: Any) -> Any:
    return text.strip().lower() if isinstance(text, str) else text


@dataclass
class TrainingSettings:
    """How to train. Round-trips through JSON (``to_dict``/``from_dict``); checked on creation.

    Each field carries a :class:`Setting` (see :func:`setting_fields`): the checks here, the
    ``train`` command's options and the window's Train form all come from it.
    ``jit_compile`` is on by default: the hand-written layers in ``layers/`` are slices and
    matmuls that XLA fuses (benchmarks/bench_layers.py measures both ways); Keras' random
    augmentation layers cannot be compiled, so a run with augmentation goes without it.
    Images smaller than the network's input are padded with zeros; larger ones are refused
    unless ``resize_images`` (see ``cnnstudio.training.data.fit_to_input``).
    ``device`` is "auto", "cpu", "gpu:K", a list like "gpu:0,gpu:1" (mirrored) or "workers"
    (multi-worker, from TF_CONFIG); see ``cnnstudio.training.devices``.
    """

    optimizer: str = _setting(
        "adam", label="Optimizer", choices=OPTIMIZERS, normalize=_lower,
        help="sgd: plain gradient steps with momentum; adam: steps scaled per weight; adamw: adam "
             "with decoupled weight decay")
    learning_rate: float = _setting(
        1e-3, label="Learning rate", low=0.0, low_open=True, step=0.0005, decimals=12, flag="lr",
        expected="a positive number such as 0.001", help="How far each step moves the weights")
    batch_size: int = _setting(
        32, label="Batch size", low=1, high=INT_LIMIT, expected="a whole number >= 1",
        help="Examples per training step")
    epochs: int = _setting(
        5, label="Epochs", low=1, high=INT_LIMIT, expected="a whole number >= 1",
        help="Passes over the training data")
    seed: int = _setting(
        0, label="Seed", low=0, high=INT_LIMIT, expected="a whole number >= 0",
        help="Random seed: the same seed and settings give the same run")
    momentum: float = _setting(
        0.9, label="Momentum", low=0.0, high=1.0, high_open=True, step=0.05, decimals=12,
        expected="a number in [0, 1)", help="SGD only: the share of the last step kept in the next one")
    weight_decay: float = _setting(
        1e-4, label="Weight decay", low=0.0, step=0.0001, decimals=12, expected="a number >= 0",
        help="AdamW only: how much each step shrinks the weights towards zero")
    augment_shift: float = _setting(
        0.0, label="Augment shift", low=0.0, high=0.5, step=0.05, decimals=12,
        expected="a fraction in [0, 0.5] (0 = off)",
        help="Random shifts of training images, as a fraction of their height and width (0 = off)")
    augment_flip: bool = _setting(
        False, label="Random left-right flips", help="Flip training images left-right at random")
    mixed_precision: bool = _setting(
        False, label="Mixed precision (float16)", help="Compute in float16 and keep the weights in float32")
    jit_compile: bool = _setting(
        True, label="XLA compilation", flag="xla",
        help="Compile the training step with XLA (default: on; our layers train faster)")
    device: str = _setting(
        "auto", label="Device", choices=("auto", "cpu"), open_choices=True, normalize=devices.check_device,
        help="auto, cpu, gpu:K, a list like gpu:0,gpu:1, or workers")

    resize_images: bool = _setting(
        False, label="Resize images larger than the input", flag="resize",
        help="Resize images larger than the network's input down to it (smaller ones are always padded)")

    def __post_init__(self):
        for f, description in setting_fields():
            setattr(self, f.name, description.check(f.name, getattr(self, f.name), type(f.default)))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> TrainingSettings:
        """Settings from JSON data; unknown keys are refused with the nearest known one."""
        if not isinstance(data, dict):
            raise SettingsError("settings", f"Expected an object of settings. Received: {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        for key in data:
            if key not in known:
                raise SettingsError(
                    key, f"Unknown training setting.{suggest(key, known)} Expected one of {sorted(known)}. "
                    f"Received: {key!r}"
                )
        return cls(**data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> TrainingSettings:
        return cls.from_dict(json.loads(text))


def setting_fields() -> list[tuple[Any, Setting]]:
    """Every training setting in order: (its dataclass field, with ``name`` and ``default``; its Setting)."""
    return [(f, f.metadata["setting"]) for f in fields(TrainingSettings)]


@dataclass(frozen=True)
class TrainingUpdate:
    """What a listener receives, at most every ``min_interval`` seconds and at each epoch end.

    ``kind``: "batch" (progress within an epoch) or "epoch" (``epoch_logs`` holds the epoch's
    metrics). ``epoch`` counts from 1. ``new_batch_losses`` are each batch's own loss since the
    previous update, as (global batch index, loss); ``loss`` is Keras' running epoch mean.
    Speed and time left leave out the run's first batch (compilation).
    """

    kind: str
    epoch: int
    epochs: int
    batch: int
    batches: int
    loss: float | None
    images_per_second: float
    eta_seconds: float | None
    device: str
    new_batch_losses: tuple[tuple[int, float], ...] = ()
    epoch_logs: dict[str, float] | None = None
    compiling: bool = False
    """True until the run's first batch has ended: that batch includes tracing and XLA
    compilation, so ``images_per_second`` is 0 and ``eta_seconds`` None until it is done."""


class TrainingState:
    """Shared between ``train()`` and whoever watches it; every method is thread-safe.

    ``listener(update)`` is called from the training thread or a Keras callback thread, never
    the GUI thread: a Qt worker should only emit a queued signal from it.
    """

    def __init__(self, listener: Callable[[TrainingUpdate], None] | None = None, min_interval: float = 0.1):
        self.listener = listener
        self.min_interval = float(min_interval)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._model = None
        self._latest: TrainingUpdate | None = None
        self._batch_losses: list[tuple[int, float]] = []
        self._history: dict[str, list[float]] = {}
        self.batches_started = 0
        """Batches the run has begun so far (counted before each batch on the training thread,
        or at the end of each group of batches when several run per call)."""
        self.batches_at_stop: int | None = None
        """``batches_started`` when Stop was first requested: the run ends within one batch of it,
        or with the group of batches in progress where several run per call."""
        self._trained: Callable[[], int] | None = None

    def request_stop(self) -> None:
        """Stop after the batch being trained now (or the group of batches, where several run per
        call: ``cnnstudio.training.groups``), without a validation pass; the weights trained so
        far are kept."""
        with self._lock:
            if self.batches_at_stop is None:
                # Within a group of batches the one in progress is the next after those trained.
                self.batches_at_stop = self._trained() + 1 if self._trained else self.batches_started
            self._stop.set()
            if self._model is not None:
                self._model.stop_training = True

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def snapshot(self) -> tuple[TrainingUpdate | None, list[tuple[int, float]], dict[str, list[float]]]:
        """The latest update, every batch loss so far and the per-epoch history (copies)."""
        with self._lock:
            return self._latest, list(self._batch_losses), {k: list(v) for k, v in self._history.items()}

    def _attach(self, model) -> None:
        with self._lock:
            self._model = model
        if self.stop_requested:
            model.stop_training = True

    def _group(self, trained: Callable[[], int]) -> None:
        """Several batches run per call; ``trained()`` counts the batches trained so far."""
        with self._lock:
            self._trained = trained

    def _detach(self) -> None:
        with self._lock:
            self._model = None
            self._trained = None

    def _publish(self, update: TrainingUpdate) -> None:
        with self._lock:
            self._latest = update
            self._batch_losses.extend(update.new_batch_losses)
            if update.epoch_logs is not None:
                for key, value in update.epoch_logs.items():
                    self._history.setdefault(key, []).append(value)
        if self.listener is not None:
            self.listener(update)


@dataclass
class TrainingResult:
    """How a run ended. ``model`` holds ``weights``: the final ones, or the last good ones
    restored after a failure. ``history`` has one entry per epoch end (the last one partial
    when stopped mid-epoch); ``epochs_completed`` counts whole epochs."""

    status: str
    error: str | None
    history: dict[str, list[float]]
    epochs_completed: int
    seconds: float
    images_per_second: float
    device: str
    settings: TrainingSettings
    model: Any = None
    weights: list[np.ndarray] = field(default_factory=list)
    last_good_weights: list[np.ndarray] | None = None
    best_weights: list[np.ndarray] | None = None
    best_epoch: int | None = None
    notes: list[str] = field(default_factory=list)
    """What the run did differently from the settings, and why."""
    batches: int = 0
    """Batches trained in all (the last one possibly cut short by Stop)."""
    batches_at_stop: int | None = None
    """Batches begun when Stop was requested, None if it was not."""
    replicas: int = 1
    """Copies of the model that trained in step (devices or workers)."""

    @property
    def ok(self) -> bool:
        return self.status != "failed"

    def metrics(self) -> dict[str, float | None]:
        """The last epoch's loss, accuracy, val_loss and val_accuracy (None where absent)."""
        keys = ("loss", "accuracy", "val_loss", "val_accuracy")
        return {k: (self.history[k][-1] if self.history.get(k) else None) for k in keys}


@functools.cache
def _callback_class():
    """The Keras callback that feeds the state, honours Stop, catches NaN and keeps the last
    good weights. Built on first use so that importing this module does not load Keras.

    Keras may call ``on_train_batch_end`` on a helper thread (``async_safe``), so the training
    loop never waits for it; per batch it only records the loss scalar Keras already made.
    """
    import keras
    import numpy as np

    class StudioCallback(keras.callbacks.Callback):
        async_safe = True

        def __init__(self, state, inner_model, settings, num_examples, device, recorder=None):
            super().__init__()
            self.recorder = recorder
            if recorder is not None:
                # The group's losses are read from the recorder before the next group overwrites them.
                self.async_safe = False
            self.state = state
            self.inner = inner_model
            self.settings = settings
            self.num_examples = num_examples
            self.device = device
            self.lock = threading.Lock()
            self.failure: str | None = None
            self.last_good = inner_model.get_weights()
            self.best = None
            self.best_epoch = None
            self.best_val = math.inf
            self.full_epochs = 0
            self.train_seconds = 0.0
            self.images = 0

        def on_train_begin(self, logs=None):
            self.batches = int(self.params.get("steps") or math.ceil(self.num_examples / self.settings.batch_size))
            self.epochs = int(self.params.get("epochs") or self.settings.epochs)
            self.state._attach(self.model)
            self.t_begin = time.perf_counter()
            self.compiled = False
            self.skipped_images = 0
            self.untimed = 1  # batches before the timing starts: the compiling batch or group

        def on_train_batch_begin(self, batch, logs=None):
            # Called in order on the training thread (only batch ends may be dispatched
            # asynchronously), so Stop can count the batches a run takes after it. A group of
            # batches is counted at its end, from the recorder.
            if self.recorder is None:
                self.state.batches_started += 1

        def on_epoch_begin(self, epoch, logs=None):
            with self.lock:
                self.epoch = epoch
                self.done = 0
                self.pending: list[tuple[int, float]] = []
                self.means: dict[int, float] = {}
                self.resolved = 0
                self.last_push = time.perf_counter()
                self.t_epoch = time.perf_counter()
                self.t_batches_end = self.t_epoch
                if self.compiled:
                    self.skipped_images = 0
                if self.recorder is not None:
                    self.epoch_start, _ = self.recorder.recorded()
                    self.seen = self.epoch_start

        def on_train_batch_end(self, batch, logs=None):
            if self.recorder is not None:
                self._group_end(logs)
                return
            loss = (logs or {}).get("loss")
            now = time.perf_counter()
            with self.lock:
                if batch + 1 > self.done:
                    self.done = batch + 1
                    self.t_batches_end = now
                if not self.compiled:
                    # The first batch traced and compiled the step: time from its end.
                    self.compiled = True
                    self.t_epoch = now
                    self.skipped_images = self._examples_through(batch)
                if loss is None:
                    return
                loss = float(loss)
                self._add_batch_mean(batch, loss)
                if self.failure is None and (not math.isfinite(loss) or not self._first_weights_finite()):
                    self.failure = self._nan_message(batch + 1, loss)
                    self.model.stop_training = True
                if now - self.last_push < self.state.min_interval:
                    return
                update = self._update("batch", now, loss)
            self.state._publish(update)

        def _group_end(self, logs):
            """The batches of a group: each one's loss from the recorder, in order."""
            now = time.perf_counter()
            trained, ring = self.recorder.recorded()
            self.state.batches_started = trained
            with self.lock:
                if trained == self.seen:
                    return
                self.done = trained - self.epoch_start
                self.t_batches_end = now
                if not self.compiled:
                    # The first group traced and compiled the step: time from its end.
                    self.compiled = True
                    self.t_epoch = now
                    self.skipped_images = self._examples_through(self.done - 1)
                    self.untimed = self.done
                for index in range(max(self.seen, trained - len(ring)), trained):
                    loss = ring[index % len(ring)]
                    batch = index - self.epoch_start
                    self.pending.append((self.epoch * self.batches + batch, loss))
                    if self.failure is None and not math.isfinite(loss):
                        self.failure = self._nan_message(batch + 1, loss)
                        self.model.stop_training = True
                self.seen = trained
                if self.failure is None and not self._first_weights_finite():
                    self.failure = self._nan_message(self.done, self.pending[-1][1])
                    self.model.stop_training = True
                if now - self.last_push < self.state.min_interval:
                    return
                update = self._update("batch", now, float((logs or {}).get("loss", math.nan)))
            self.state._publish(update)

        def on_epoch_end(self, epoch, logs=None):
            logs = {k: float(v) for k, v in (logs or {}).items()}
            with self.lock:
                seconds = self.t_batches_end - self.t_epoch
                self.train_seconds += seconds
                self.images += self._epoch_images()
                if self.done >= self.batches:
                    self.full_epochs += 1
                weights = self.inner.get_weights() if self.failure is None else None
                if self.failure is None and not (all(math.isfinite(v) for v in logs.values())
                                                 and all(np.isfinite(w).all() for w in weights)):
                    self.failure = self._nan_message(self.done, logs.get("loss", math.nan))
                    self.model.stop_training = True
                if self.failure is None:
                    self.last_good = weights
                    val = logs.get("val_loss", logs.get("loss", math.inf))
                    if val < self.best_val:
                        self.best_val, self.best, self.best_epoch = val, self.last_good, epoch + 1
                update = self._update("epoch", time.perf_counter(), logs.get("loss"), logs)
            self.state._publish(update)
            if self.state.stop_requested:
                self.model.stop_training = True

        def on_train_end(self, logs=None):
            if self.recorder is not None:
                self.state.batches_started, _ = self.recorder.recorded()
            self.state._detach()

        def _add_batch_mean(self, batch, mean):
            """Turn Keras' running epoch mean into each batch's own loss, in batch order.

            Keras reports the mean over the epoch's batches so far, weighted by batch size, so
            batch b's loss is (n_0..b * mean_b - n_0..b-1 * mean_b-1) / n_b. Batches may be
            reported out of order (the callback runs on a thread pool), so a batch waits here
            until the one before it is known.
            """
            self.means[batch] = mean
            while self.resolved in self.means:
                b = self.resolved
                seen = self._examples_through(b)
                loss = self.means[b]
                if b > 0:
                    before = self._examples_through(b - 1)
                    loss = (seen * loss - before * self.means.pop(b - 1)) / (seen - before)
                self.pending.append((self.epoch * self.batches + b, loss))
                self.resolved += 1

        def _examples_through(self, batch):
            """How many training examples batches 0..batch of an epoch hold (the last may be short)."""
            return min((batch + 1) * self.settings.batch_size, self.num_examples)

        def _epoch_images(self) -> int:
            """Images of this epoch's batches so far, less the compiling batch in the first."""
            images = min(self.num_examples, self.done * self.settings.batch_size) - self.skipped_images
            return max(images, 0)

        def images_per_second(self) -> float:
            return self.images / self.train_seconds if self.train_seconds > 0 else 0.0

        def _first_weights_finite(self) -> bool:
            """Whether the first trainable weights hold only numbers. Without XLA a loss can stay
            finite on NaN outputs (TensorFlow's kernels drop NaN in places where XLA's keep it), so
            the loss alone would let a diverged run complete; NaN weights anywhere reach the first
            layer's through the gradients within a batch or two, and this one is small to read.
            Every weight is checked at each epoch's end."""
            trainable = self.inner.trainable_weights
            return not trainable or bool(np.isfinite(keras.ops.convert_to_numpy(trainable[0])).all())

        def _nan_message(self, batch, loss):
            what = f"The loss became {loss}" if not math.isfinite(loss) else \
                f"The weights became NaN or infinite (the loss read {loss:.3g})"
            return (
                f"{what} at epoch {self.epoch + 1}, batch {batch}, so training stopped "
                f"and the weights from the last good epoch were restored. Lower the learning rate "
                f"(now {self.settings.learning_rate:g}) or check the data for NaN values."
            )

        def _update(self, kind, now, loss, logs=None):
            in_epoch = (self.t_batches_end - self.t_epoch) if kind == "batch" else 0.0
            seconds = self.train_seconds + in_epoch
            images = self.images + (self._epoch_images() if kind == "batch" else 0)
            compiling = images <= 0 or seconds <= 0
            rate = 0.0 if compiling else images / seconds
            batches_done = self.epoch * self.batches + self.done
            remaining = self.epochs * self.batches - batches_done
            timed = batches_done - self.untimed  # the compiling batch (or group) is not timed
            eta = None if compiling or timed <= 0 else remaining * seconds / timed
            pending, self.pending = tuple(self.pending), []
            self.last_push = now
            return TrainingUpdate(
                kind=kind, epoch=self.epoch + 1, epochs=self.epochs, batch=self.done,
                batches=self.batches, loss=loss, images_per_second=rate, eta_seconds=eta,
                device=self.device, new_batch_losses=pending, epoch_logs=logs, compiling=compiling,
            )

    return StudioCallback


def train(
    model_or_spec,
    dataset: Dataset,
    settings: TrainingSettings | None = None,
    state: TrainingState | None = None,
    initial_weights=None,
    callbacks=(),
    init_from=None,
) -> TrainingResult:
    """Train a ``keras.Model`` or a ``NetworkSpec`` (built with ``settings.seed``) on ``dataset``.

    ``initial_weights`` (a list of arrays or a ``.weights.h5`` path) resumes an earlier run.
    ``init_from`` (a ``.keras`` path, or weights by layer name) starts the layers whose names and
    weight shapes match from it and the others fresh; the notes list which (see
    ``cnnstudio.training.transfer``). Layers whose spec says ``trainable`` False stay frozen.
    ``callbacks`` (Keras callbacks, such as the inspection timeline) run before the studio's
    own, so what they record is ready when an epoch's update is published.
    Never raises for a failed run: see :class:`TrainingResult`. Blocks until done; call it on a
    worker thread to keep a window responsive.
    """
    settings = settings if settings is not None else TrainingSettings()
    state = state if state is not None else TrainingState()
    started = time.perf_counter()
    model = original = fit_model = callback = placement = None
    stopped_elsewhere = False
    label = settings.device
    notes: list[str] = []
    try:
        import keras

        placement = devices.resolve(settings.device)
        label = placement.label
        keras.utils.set_random_seed(settings.seed)
        with _precision(settings.mixed_precision), placement.scope():
            model, original = _prepare_model(model_or_spec, settings, placement)
            if initial_weights is not None:
                _load_weights(model, initial_weights)
            if init_from is not None:
                notes.extend(_start_from(model, init_from))
            dataset, fitted = fit_to_input(dataset, model.input_shape[1:], resize=settings.resize_images)
            if fitted:
                notes.append(fitted)
            check_model_fits(model, dataset)
            denoise = tasks.model_task(model) == tasks.DENOISE
            if denoise and (settings.augment_shift or settings.augment_flip):
                raise SettingsError(
                    "augment_shift",
                    "A denoising network learns to give back its own input, so shifting or flipping only "
                    "the input would teach it a different image. Expected augmentation off for an "
                    "image-to-image network.",
                )
            fit_model = _with_augmentation(model, settings, dataset.input_shape)
            no_xla = None
            if settings.jit_compile and fit_model is not model:
                no_xla = "Keras' random augmentation layers cannot be compiled"
            if no_xla:
                notes.append(f"XLA was off for this run: {no_xla}.")
            optimizer = make_optimizer(settings)
            loss = (keras.losses.MeanSquaredError() if denoise else
                    keras.losses.SparseCategoricalCrossentropy(from_logits=not _outputs_probabilities(model)))
            feed, validation = _fit_data(dataset, denoise, settings)
            per_call = 1
            if groups.applies(feed, distributed=placement.strategy is not None):
                per_call = groups.batches_per_call(fit_model, settings.batch_size)
            grouped = per_call > 1
            if placement.strategy is None:
                compiled = {"optimizer": optimizer, "loss": loss, "metrics": [] if denoise else ["accuracy"],
                            "jit_compile": settings.jit_compile and not no_xla}
                fit_model.compile(**compiled)
            if grouped:  # the model handed back stays compiled as above
                fit_model = groups.recording_model(fit_model, per_call)
                fit_model.compile(**compiled, steps_per_execution=per_call)
        callback = _callback_class()(state, model, settings, len(dataset.x_train), label,
                                     recorder=fit_model if grouped else None)
        if grouped:
            state._group(lambda: fit_model.recorded()[0])
        if placement.strategy is not None:
            # Keras' fit cannot train under MultiWorkerMirroredStrategy (see distributed.py).
            from cnnstudio.training import distributed

            if settings.mixed_precision:
                raise SettingsError("mixed_precision", "Mixed precision is not supported across several "
                                    "devices or workers yet. Turn mixed precision off for this run.")
            if "y" not in feed:
                raise DataError(f'The "{dataset.name}" image folder is read a batch at a time, which training '
                                "across several devices or workers does not support yet. Expected one device "
                                "(device auto, cpu or gpu:K) for an image folder.")
            stopped_elsewhere = distributed.fit(
                fit_model, (feed["x"], feed["y"]), validation, settings, placement.strategy, loss, optimizer,
                [*callbacks, callback], jit_compile=settings.jit_compile and not no_xla, classify=not denoise,
            )
        else:
            with placement.fit_scope():
                fit_model.fit(
                    **feed,
                    epochs=settings.epochs,
                    validation_data=validation,
                    validation_freq=_EpochsUnlessStopped(state, settings.epochs),
                    callbacks=[*callbacks, callback],
                    verbose=0,
                )
        error = callback.failure
    except Exception as exc:  # a failed run is a report, never a crash
        error = _explain(exc, settings)
    finally:
        state._detach()
    if model is not None and callback is not None and error is not None:
        model.set_weights(callback.last_good)
    if model is not None and original is not model:
        original.set_weights(model.get_weights())
        model = original
    status = "failed" if error else ("stopped" if state.stop_requested or stopped_elsewhere else "completed")
    if status != "completed":
        # A fit that ends early leaves Keras' epoch iterator in a reference cycle with its suspended
        # generator. The tf.data iterator inside runs an autotune thread whose sleep grows towards
        # 60 s, and destroying it in a later full collection waited for that thread (16-40 s, seen
        # in the test suite with py-spy: ~LogicalThreadWrapper). Collected now, it goes in milliseconds.
        gc.collect()
    _, _, history = state.snapshot()
    return TrainingResult(
        status=status,
        error=error,
        history=history,
        epochs_completed=callback.full_epochs if callback else 0,
        seconds=time.perf_counter() - started,
        images_per_second=callback.images_per_second() if callback else 0.0,
        device=label,
        settings=settings,
        model=model,
        weights=model.get_weights() if model is not None else [],
        last_good_weights=callback.last_good if callback else None,
        best_weights=callback.best if callback else None,
        best_epoch=callback.best_epoch if callback else None,
        notes=notes,
        batches=state.batches_started,
        batches_at_stop=state.batches_at_stop,
        replicas=placement.replicas if placement is not None else 1,
    )


def _fit_data(dataset: Dataset, denoise: bool, settings: TrainingSettings):
    """(``fit`` keyword arguments for the training data, validation data or None): labels, or for
    denoising the clean images as targets of noisy copies (the validation copies drawn as the
    Results tab draws them). An image folder's files are read a batch at a time."""
    seed, batch_size = settings.seed, settings.batch_size
    if isinstance(dataset.x_train, ImageFiles):
        if denoise:
            raise DataError(f'The "{dataset.name}" image folder is read a batch at a time, which denoising '
                            "does not support yet. Expected a .npz or .csv of images for an image-to-image network.")
        validation = batches(dataset.x_val, dataset.y_val, batch_size) if len(dataset.x_val) else None
        return {"x": batches(dataset.x_train, dataset.y_train, batch_size, True, seed)}, validation
    if not denoise:
        validation = (dataset.x_val, dataset.y_val) if len(dataset.x_val) else None
        x_train, y_train = dataset.x_train, dataset.y_train
    else:
        validation = (tasks.noisy(dataset.x_val, tasks.VALIDATION_SEED), dataset.x_val) if len(dataset.x_val) else None
        x_train, y_train = tasks.noisy(dataset.x_train, seed + tasks.VALIDATION_SEED + 1), dataset.x_train
    feed = {"x": x_train, "y": y_train, "batch_size": batch_size, "shuffle": True}
    if validation is not None:
        feed["validation_batch_size"] = validation_batch_size(len(dataset.x_val), batch_size)
    return feed, validation


def validation_batch_size(count: int, batch_size: int) -> int:
    """The batch size that splits ``count`` validation images into equal batches, nearest to the
    training one (from half to twice it), or the training one when no such divisor exists.

    With XLA (the default) each new batch shape compiles the test step again: a last, smaller
    batch cost the digits network ~0.4 s of CPU in its first epoch (median of four runs, 360
    validation images). Validation runs in inference mode and averages over images, so its
    figures do not depend on how the images are batched.
    """
    candidates = [size for size in range(max(1, batch_size // 2), 2 * batch_size + 1) if count % size == 0]
    return min(candidates, key=lambda size: (abs(size - batch_size), -size), default=batch_size)


class _EpochsUnlessStopped(list):
    """Keras' ``validation_freq`` as a list of the epochs to validate after: every epoch,
    except once Stop was pressed, so a stopped run ends after its batch, not after a whole
    validation pass (Keras validates even when a callback stops the fit)."""

    def __init__(self, state: TrainingState, epochs: int):
        super().__init__(range(1, epochs + 1))
        self.state = state

    def __contains__(self, epoch) -> bool:
        return not self.state.stop_requested and super().__contains__(epoch)


def make_optimizer(settings: TrainingSettings):
    """The Keras optimizer the settings name."""
    import keras

    if settings.optimizer == "sgd":
        return keras.optimizers.SGD(settings.learning_rate, momentum=settings.momentum)
    if settings.optimizer == "adamw":
        return keras.optimizers.AdamW(settings.learning_rate, weight_decay=settings.weight_decay)
    return keras.optimizers.Adam(settings.learning_rate)


def _explain(exc: Exception, settings: TrainingSettings) -> str:
    from cnnstudio.training.transfer import TransferError

    if isinstance(exc, DataError | SettingsError | TransferError):
        return str(exc)
    if devices.is_out_of_memory(exc):
        return (
            f"Ran out of memory training with batch size {settings.batch_size}. Try a smaller batch "
            f"size such as {max(1, settings.batch_size // 2)}, or a smaller network or image size. "
            f"The weights from the last good epoch were kept."
        )
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"Training failed: {type(exc).__name__}: {first_line}"


@contextmanager
def _precision(mixed: bool):
    """Build layers in mixed_float16 inside, restoring the global policy after."""
    if not mixed:
        yield
        return
    import keras

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def build_for_training(spec, settings: TrainingSettings, dataset: Dataset | None = None):
    """A fresh model of ``spec`` with the settings' seed and precision, as ``train`` builds one.

    With a ``dataset``, a network that cannot train on it is refused first (DataError): a
    caller that wants the model before training (to watch it) builds it here.
    """
    from cnnstudio.models.builder import build_model

    with _precision(settings.mixed_precision):
        model = build_model(spec, seed=settings.seed)
    if dataset is not None:
        check_model_fits(model, dataset)
    return model



def _prepare_model(model_or_spec, settings: TrainingSettings, placement):
    """(model to train, model to hand back): a spec is built here; a model under a
    distribution strategy is cloned into its scope and its weights copied back afterwards."""
    import keras

    from cnnstudio.network.spec import NetworkSpec

    if isinstance(model_or_spec, NetworkSpec):
        model = build_for_training(model_or_spec, settings)
        return model, model
    if not isinstance(model_or_spec, keras.Model):
        raise TypeError(f"Expected a keras.Model or a NetworkSpec. Received: {type(model_or_spec).__name__}")
    model = model_or_spec
    if settings.mixed_precision and model.dtype_policy.name != "mixed_float16":
        raise SettingsError(
            "mixed_precision",
            "Mixed precision applies when the network is built for training. Pass the network spec "
            "instead of a built model, or turn mixed precision off.",
        )
    if placement.strategy is None:
        return model, model
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    return clone, model


def _load_weights(model, weights) -> None:
    if isinstance(weights, list | tuple):
        model.set_weights(list(weights))
    else:
        model.load_weights(str(weights))


def _outputs_probabilities(model) -> bool:
    """Whether the last layer ends in softmax (else the outputs are treated as logits)."""
    import keras

    last = model.layers[-1]
    if isinstance(last, keras.layers.Softmax):
        return True
    activation = getattr(last, "activation", None)
    return getattr(activation, "__name__", "") == "softmax"


def _with_augmentation(model, settings: TrainingSettings, input_shape):
    """The model to fit: ``model`` itself, or random shifts/flips in front of it.

    The random layers act only in training mode, so validation and the returned model see
    the images unchanged; they hold no weights, so the weights are the model's alone.
    """
    if not settings.augment_shift and not settings.augment_flip:
        return model
    if len(input_shape) != 3:
        raise SettingsError(
            "augment_shift",
            f"Shifts and flips apply to images. Expected augmentation off for "
            f"{'x'.join(map(str, input_shape))} sequences.",
        )
    import keras

    inputs = keras.Input(shape=input_shape)
    x = inputs
    if settings.augment_shift:
        x = keras.layers.RandomTranslation(
            settings.augment_shift, settings.augment_shift, fill_mode="constant", seed=settings.seed
        )(x)
    if settings.augment_flip:
        x = keras.layers.RandomFlip("horizontal", seed=settings.seed)(x)
    return keras.Model(inputs, model(x), name=f"{model.name}_augmented")


def _start_from(model, source) -> list[str]:
    from cnnstudio.training import transfer

    if isinstance(source, dict):
        weights, label = source, "the given weights"
    else:
        weights, label = transfer.read_weights(source), str(source)
    return transfer.transfer_weights(model, weights, label).lines()
