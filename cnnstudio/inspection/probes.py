"""Looking inside a network: kernels, activations, predictions, receptive fields, errors.

Qt-free, so the GUI's views, the ``inspect`` command and the tests share it. Arrays come
back as numpy; pictures as RGB uint8 ready for a QImage or ``pictures.write_png``.

Conventions: a *sample* is one input without the batch axis, shaped like
``model.input_shape[1:]``; a *batch* has the batch axis first. Functions taking ``x`` accept
either and answer in kind (a sample in, per-sample arrays out).
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass, field
from typing import NamedTuple

import keras
import numpy as np

from cnnstudio.analysis import fields
from cnnstudio.analysis.analyze import infer
from cnnstudio.inspection import pictures
from cnnstudio.inspection.timeline import Timeline
from cnnstudio.network import catalog, tasks
from cnnstudio.network.spec import INPUT, NetworkSpec
from cnnstudio.tasks import TaskState
from layers import arithmetic

# ---------------------------------------------------------------------------- kernels


def conv_layers(model: keras.Model) -> list[str]:
    """Names of the layers with a convolution kernel (rank 3 for 1D, rank 4 for 2D), in order."""
    names = []
    for layer in model.layers:
        kernel = getattr(layer, "kernel", None)
        if kernel is not None and len(kernel.shape) in (3, 4):
            names.append(layer.name)
    return names


def _get_layer(model: keras.Model, layer_name: str) -> keras.layers.Layer:
    try:
        return model.get_layer(layer_name)
    except ValueError:
        names = ", ".join(layer.name for layer in model.layers)
        raise ValueError(
            f"The model has no layer named {layer_name!r}. Expected one of: {names}. "
            f"Received: layer_name={layer_name!r}"
        ) from None


def kernels(model: keras.Model, layer_name: str) -> np.ndarray:
    """A convolution layer's filters, one per row: (filters, kh, kw, cin), or (filters, k, cin) in 1D.

    A copy of the layer's ``kernel`` weight (Keras stores it filters-last).
    """
    layer = _get_layer(model, layer_name)
    if layer_name not in conv_layers(model):
        raise ValueError(
            f"Layer {layer_name!r} ({type(layer).__name__}) has no convolution kernel. "
            f"Expected a convolution layer: {', '.join(conv_layers(model)) or 'the model has none'}. "
            f"Received: layer_name={layer_name!r}"
        )
    kernel = layer.kernel.numpy()
    return np.moveaxis(kernel, -1, 0).copy()


SCALINGS = ("shared", "per_filter")


@dataclass
class KernelImages:
    """Kernels ready to draw.

    ``tiles`` is float32 RGB in [0, 1] shaped (filters, views, kh, kw, 3): one view per
    filter when ``color`` (an RGB first-layer kernel composed in colour), else one view per
    input channel, each drawn with a diverging colormap (blue < 0 < red, white at 0).
    1D kernels are drawn as (cin, k) pictures, one view per filter. ``limits`` gives the
    value range mapped to the ends of the colour scale, per filter (all equal when shared).
    """

    layer: str
    tiles: np.ndarray
    color: bool
    scaling: str
    limits: np.ndarray

    def picture(self, scale: int = 8, gap: int = 1) -> np.ndarray:
        """All tiles in one RGB uint8 grid: a row of views per filter, or near-square with one view each."""
        filters, views = self.tiles.shape[:2]
        flat = [pictures.to_uint8(t) for t in self.tiles.reshape(-1, *self.tiles.shape[2:])]
        columns = None if views == 1 else views
        return pictures.grid(flat, columns=columns, scale=scale, gap=gap)


def kernel_images(
    model: keras.Model, layer_name: str, scaling: str = "shared", color: bool | None = None,
    kernel: np.ndarray | None = None,
) -> KernelImages:
    """A conv layer's kernels as pictures; see ``KernelImages``.

    ``scaling`` "shared" maps every filter with the same range (compare filters), "per_filter"
    stretches each one (see each filter's pattern). ``color`` defaults to True for a 2D layer
    reading 3 channels straight from the input, where the channels are R, G and B.
    ``kernel`` draws other values of the layer's kernel (a ``Timeline`` snapshot) instead.
    """
    if scaling not in SCALINGS:
        raise ValueError(f"Unknown kernel scaling. Expected one of {', '.join(SCALINGS)}. Received: scaling={scaling!r}")
    k = kernels(model, layer_name) if kernel is None else np.asarray(kernel, dtype=np.float32)
    if k.ndim == 3:  # 1D: (filters, k, cin) drawn as (cin, k)
        k = np.transpose(k, (0, 2, 1))[..., None]
        color = False
    if color is None:
        color = k.shape[-1] == 3 and _reads_input(model, layer_name)
    if color and k.shape[-1] != 3:
        raise ValueError(
            f"Layer {layer_name!r} reads {k.shape[-1]} channels; colour kernels need 3 (RGB). "
            f"Received: color={color!r}"
        )
    axes = tuple(range(1, k.ndim))
    if color:
        lo = k.min(axis=axes) if scaling == "per_filter" else np.full(len(k), k.min())
        hi = k.max(axis=axes) if scaling == "per_filter" else np.full(len(k), k.max())
        tiles = np.stack([pictures.normalize(f, a, b) for f, a, b in zip(k, lo, hi, strict=True)])[:, None]
        limits = np.stack([lo, hi], axis=1)
    else:
        bound = np.abs(k).max(axis=axes) if scaling == "per_filter" else np.full(len(k), np.abs(k).max())
        views = []
        for f, b in zip(k, bound, strict=True):
            unit = pictures.normalize(np.moveaxis(f, -1, 0), -b, b)  # (cin, kh, kw)
            views.append(pictures.colorize(unit, "diverging").astype(np.float32) / 255.0)
        tiles = np.stack(views)
        limits = np.stack([-bound, bound], axis=1)
    return KernelImages(layer_name, tiles.astype(np.float32), bool(color), scaling, limits.astype(np.float32))


def _reads_input(model: keras.Model, layer_name: str) -> bool:
    layer = model.get_layer(layer_name)
    for node in layer._inbound_nodes:
        for tensor in node.input_tensors:
            source = tensor._keras_history.operation
            if not isinstance(source, keras.layers.InputLayer):
                return False
    return True


# ---------------------------------------------------------------------------- activations

_PROBES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_PROBES_LOCK = threading.Lock()
MODEL_LOCK = threading.RLock()
"""Held while a model runs. Two views' tasks running TensorFlow's eager ops at once crashed
the process here ("none_dealloc: deallocating None", TF 2.21 on Python 3.11), so they take turns."""


def _probe(model: keras.Model) -> tuple[keras.Model, list[str]]:
    """One model returning every layer's output, built once per model and cached."""
    with _PROBES_LOCK:
        cached = _PROBES.get(model)
        if cached is None:
            layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
            inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
            probe = keras.Model(inputs, [layer.output for layer in layers], name=f"{model.name}_probe")
            cached = (probe, [layer.name for layer in layers])
            _PROBES[model] = cached
        return cached


def _as_batch(model: keras.Model, x) -> tuple[np.ndarray, bool]:
    x = np.asarray(x, dtype=np.float32)
    sample_rank = len(model.input_shape) - 1
    if x.ndim == sample_rank:
        return x[None], True
    if x.ndim == sample_rank + 1:
        return x, False
    raise ValueError(
        f"Expected one sample shaped {tuple(model.input_shape[1:])} or a batch of them. "
        f"Received: x.shape={x.shape}"
    )


def activations(model: keras.Model, x) -> dict[str, np.ndarray]:
    """Every layer's output for ``x`` (a sample or a batch), keyed by layer name, in layer order.

    Runs in inference mode (dropout off, batch norm on its moving statistics).
    """
    batch, single = _as_batch(model, x)
    probe, names = _probe(model)
    with MODEL_LOCK:
        outputs = probe(batch, training=False)
    if not isinstance(outputs, (list, tuple)):
        outputs = [outputs]
    result = {}
    for name, out in zip(names, outputs, strict=True):
        array = keras.ops.convert_to_numpy(out)
        result[name] = array[0] if single else array
    return result


def activation_picture(activation: np.ndarray, scale: int = 4, colormap: str = "viridis", gap: int = 1) -> np.ndarray:
    """One sample's layer output as one RGB uint8 picture of its ``pictures.activation_tiles``.

    (h, w, c): a grid of the c feature maps; (l, c): one row per channel; (n,): cells in rows
    of ``pictures.VECTOR_ROW``, drawn at least 8 pixels a side.
    """
    a = np.asarray(activation)
    tiles = pictures.activation_tiles(a, colormap)
    if a.ndim == 3:
        return pictures.grid(tiles, scale=scale, gap=gap)
    return pictures.upscale(tiles[0], scale if a.ndim == 2 else max(scale, 8))


# ---------------------------------------------------------------------------- predictions


BATCH_VALUES = 2**24
"""Values (about 64 MB of float32) the largest layer output of one inference batch may hold."""


def inference_batch_size(model: keras.Model) -> int:
    """Examples per inference call: as many as keep the largest layer output near ``BATCH_VALUES``.

    Few large calls spend less time in Python per example than many small ones, which keeps
    the GIL free for the window; a tiny network takes up to 4096 examples at once, a VGG16 a few.
    """
    largest = 1
    for layer in model.layers:
        try:
            shape = layer.output.shape
        except (AttributeError, ValueError):  # a layer used more than once has no single output
            continue
        largest = max(largest, int(np.prod([d or 1 for d in shape[1:]])))
    return int(np.clip(BATCH_VALUES // largest, 1, 4096))


def probabilities(model: keras.Model, x, batch_size: int | None = None) -> np.ndarray:
    """Class probabilities for ``x`` (a sample or a batch), ``batch_size`` examples per call
    (default: ``inference_batch_size``).

    Outputs that are not already a distribution (a last layer without softmax) go through one.
    """
    batch, single = _as_batch(model, x)
    batch_size = batch_size or inference_batch_size(model)
    with MODEL_LOCK:
        out = np.concatenate(
            [keras.ops.convert_to_numpy(model(batch[i : i + batch_size], training=False))
             for i in range(0, len(batch), batch_size)]
        ) if len(batch) else np.zeros((0, model.output_shape[-1]), np.float32)
    out = as_probabilities(out.reshape(len(batch), -1))
    return out[0] if single else out


def as_probabilities(outputs) -> np.ndarray:
    """A model's outputs (one vector or a batch of rows) as class probabilities.

    Outputs that are already a distribution (a softmax last layer) stay as they are; others
    (logits) go through a softmax.
    """
    out = np.asarray(outputs, dtype=np.float64)
    single = out.ndim == 1
    out = out.reshape(1, -1) if single else out.reshape(len(out), -1)
    is_distribution = np.all(out >= 0) and np.allclose(out.sum(axis=1), 1.0, atol=1e-3)
    if not is_distribution and out.size:
        out = np.exp(out - out.max(axis=1, keepdims=True))
        out /= out.sum(axis=1, keepdims=True)
    return out[0] if single else out


def predict_topk(model: keras.Model, x, k: int = 3, class_names=None) -> list[tuple[str | int, float]]:
    """The ``k`` most probable classes for one sample, best first: [(class, probability)].

    The class is its name when ``class_names`` is given, else its index.
    """
    batch, _ = _as_batch(model, x)
    if len(batch) != 1:
        raise ValueError(f"predict_topk takes one sample. Expected a batch of 1. Received: x.shape={np.shape(x)}")
    p = probabilities(model, batch)[0]
    if class_names is not None and len(class_names) != len(p):
        raise ValueError(
            f"The model predicts {len(p)} classes but {len(class_names)} class names were given. "
            f"Expected {len(p)} names. Received: class_names={list(class_names)!r}"
        )
    order = np.argsort(-p, kind="stable")[: max(1, int(k))]
    return [(class_names[i] if class_names is not None else int(i), float(p[i])) for i in order]


# ---------------------------------------------------------------------------- errors


def _labels(y) -> np.ndarray:
    y = np.asarray(y)
    return y.argmax(axis=1) if y.ndim == 2 else y.astype(np.int64).reshape(-1)


def confusion(model: keras.Model, x_val, y_val, num_classes: int, probs: np.ndarray | None = None) -> np.ndarray:
    """(num_classes, num_classes) counts: row = true class, column = predicted class.

    ``y_val`` holds class indices or one-hot rows. Pass ``probs`` (from ``probabilities``)
    to reuse predictions already made.
    """
    truth = _labels(y_val)
    probs = probabilities(model, x_val) if probs is None else np.asarray(probs)
    predicted = probs.argmax(axis=1)
    matrix = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(matrix, (truth, predicted), 1)
    return matrix


class Misclassified(NamedTuple):
    index: int
    true: int
    predicted: int
    confidence: float
    """The probability the model gave its (wrong) prediction."""


def misclassified(model: keras.Model, x, y, limit: int = 20, probs: np.ndarray | None = None) -> list[Misclassified]:
    """The wrongly predicted examples, most confidently wrong first, at most ``limit``."""
    truth = _labels(y)
    probs = probabilities(model, x) if probs is None else np.asarray(probs)
    predicted = probs.argmax(axis=1)
    confidence = probs.max(axis=1)
    wrong = np.flatnonzero(predicted != truth)
    wrong = wrong[np.argsort(-confidence[wrong], kind="stable")][:limit]
    return [Misclassified(int(i), int(truth[i]), int(predicted[i]), float(confidence[i])) for i in wrong]


@dataclass
class Evaluation:
    """A model on labelled examples: ``matrix`` (row = true class, column = predicted) and
    the ``wrong`` predictions, most confidently wrong first."""

    matrix: np.ndarray
    wrong: list[Misclassified]
    predicted: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    """Every example's predicted class, in order (empty when not kept)."""
    confidence: np.ndarray = field(default_factory=lambda: np.zeros(0))
    """The probability each example's prediction got."""
    truth: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def examples(self, true: int, predicted: int) -> list[int]:
        """The indices of the examples of class ``true`` predicted as ``predicted`` (one cell of the
        matrix), most confident first."""
        found = np.flatnonzero((self.truth == true) & (self.predicted == predicted))
        return [int(i) for i in found[np.argsort(-self.confidence[found], kind="stable")]]

    @property
    def total(self) -> int:
        return int(self.matrix.sum())

    @property
    def right(self) -> int:
        return int(np.trace(self.matrix))


def evaluate(model: keras.Model, x, y, num_classes: int, limit: int = 20, batch_size: int | None = None,
             state: TaskState | None = None) -> Evaluation:
    """Predict ``x`` batch by batch: the confusion matrix and the ``limit`` most confident mistakes.

    The matrix has a row and column per class, or per output unit if the model has more. With
    a ``state``, each batch reports its progress and the matrix so far (a partial result), and
    a cancel takes effect between batches.
    """
    batch, _ = _as_batch(model, x)
    batch_size = batch_size or inference_batch_size(model)
    truth = _labels(y)
    size = max(int(num_classes), int(model.output_shape[-1]))
    matrix = np.zeros((size, size), np.int64)
    probs = []
    for start in range(0, len(batch), batch_size):
        if state is not None:
            state.check()
        stop = min(start + batch_size, len(batch))
        p = probabilities(model, batch[start:stop], batch_size=batch_size)
        probs.append(p)
        matrix += confusion(model, None, truth[start:stop], size, probs=p)
        if state is not None:
            state.set_progress(stop / len(batch), f"Predicted {stop} of {len(batch)} examples")
            state.set_partial(matrix.copy())
    probs = np.concatenate(probs) if probs else np.zeros((0, size))
    return Evaluation(matrix, misclassified(model, None, truth, limit=limit, probs=probs),
                      predicted=probs.argmax(axis=1) if len(probs) else np.zeros(0, np.int64),
                      confidence=probs.max(axis=1) if len(probs) else np.zeros(0), truth=np.asarray(truth))


@dataclass
class Reconstruction:
    """A denoising network on clean images: mean squared errors and the first examples.

    ``noisy_error`` is the noisy inputs' error against the clean images, ``error`` the
    reconstructions'; a network that denoises has ``error < noisy_error``. ``clean``,
    ``noisy`` and ``rebuilt`` hold the shown examples, ``example_errors`` their errors.
    """

    noisy_error: float
    error: float
    clean: np.ndarray
    noisy: np.ndarray
    rebuilt: np.ndarray
    example_errors: np.ndarray


def reconstruct(model: keras.Model, x, limit: int = 24, batch_size: int = 256,
                state: TaskState | None = None) -> Reconstruction:
    """Denoise noisy copies of the clean images ``x`` (the training's validation noise) batch by batch."""
    clean, _ = _as_batch(model, x)
    noisy = tasks.noisy(clean, tasks.VALIDATION_SEED)
    noisy_total = rebuilt_total = 0.0
    shown = []
    for start in range(0, len(clean), batch_size):
        if state is not None:
            state.check()
        stop = min(start + batch_size, len(clean))
        rebuilt = np.asarray(model.predict(noisy[start:stop], batch_size=batch_size, verbose=0), np.float32)
        axes = tuple(range(1, clean.ndim))
        rebuilt_total += float(np.sum(np.mean((rebuilt - clean[start:stop]) ** 2, axis=axes)))
        noisy_total += float(np.sum(np.mean((noisy[start:stop] - clean[start:stop]) ** 2, axis=axes)))
        if sum(len(b) for b in shown) < limit:
            shown.append(rebuilt[: limit - sum(len(b) for b in shown)])
        if state is not None:
            state.set_progress(stop / len(clean), f"Reconstructed {stop} of {len(clean)} examples")
    count = max(len(clean), 1)
    rebuilt = np.concatenate(shown) if shown else np.zeros((0, *clean.shape[1:]), np.float32)
    n = len(rebuilt)
    errors = np.mean((rebuilt - clean[:n]) ** 2, axis=tuple(range(1, clean.ndim))) if n else np.zeros(0)
    return Reconstruction(noisy_total / count, rebuilt_total / count, clean[:n], noisy[:n], rebuilt, errors)


# ---------------------------------------------------------------------------- receptive fields


@dataclass(frozen=True)
class ReceptiveBox:
    """The input positions one unit can see, per spatial axis, as half-open ranges.

    ``start``/``stop`` are unclipped: they run into the zero padding (negative, or past the
    input). ``clipped()`` keeps the part inside the input. ``rect()`` gives
    (top, left, bottom, right) in 2D or (start, stop) in 1D, stops exclusive.
    """

    start: tuple[int, ...]
    stop: tuple[int, ...]
    input_size: tuple[int, ...]

    @property
    def size(self) -> tuple[int, ...]:
        return tuple(b - a for a, b in zip(self.start, self.stop, strict=True))

    def clipped(self) -> ReceptiveBox:
        start = tuple(max(0, a) for a in self.start)
        stop = tuple(min(n, b) for b, n in zip(self.stop, self.input_size, strict=True))
        return ReceptiveBox(start, stop, self.input_size)

    def rect(self, clipped: bool = True) -> tuple[int, ...]:
        box = self.clipped() if clipped else self
        if len(box.start) == 2:
            return (box.start[0], box.start[1], box.stop[0], box.stop[1])
        return (box.start[0], box.stop[0])


def receptive_box(spec_or_summary, layer_name: str, row: int, col: int | None = None) -> ReceptiveBox:
    """The box of input pixels the unit at (row, col) of ``layer_name`` depends on.

    Takes a ``NetworkSpec`` or the ``Summary`` that ``inference.infer`` made of it (the GUI
    already has one). In 1D, ``row`` is the position and ``col`` stays None. The box
    follows every path back to the input through the layers' windows: a unit at index i of
    a layer with stride S, effective kernel F and ``before`` zeros of padding reads input
    indices i*S - before ... i*S - before + F - 1 (``layers.arithmetic.axis_padding`` gives
    ``before``, as in the layers themselves). Along a chain its size is the summary's
    receptive field and the next unit's box is shifted by the summary's jump. Layers that
    see everything (Flatten, Dense, global pooling) give the whole input.
    """
    summary = infer(spec_or_summary) if isinstance(spec_or_summary, NetworkSpec) else spec_or_summary
    infos = {info.name: info for info in summary.layers}
    if layer_name not in infos:
        names = ", ".join(infos)
        raise ValueError(f"The network has no layer named {layer_name!r}. Expected one of: {names}. "
                         f"Received: layer_name={layer_name!r}")
    rank = len(summary.input_shape) - 1
    if rank == 1 and col is not None:
        raise ValueError(f"A 1D network has one position per unit. Expected col=None. Received: col={col!r}")
    if rank == 2 and col is None:
        raise ValueError("A 2D network needs a row and a column. Expected an integer col. Received: col=None")
    position = (row,) if rank == 1 else (row, col)
    shapes = {INPUT: tuple(summary.input_shape)}
    shapes.update({name: info.output_shape for name, info in infos.items()})
    if shapes[layer_name] is None:
        raise ValueError(
            f"Layer {layer_name!r} has no known output shape: the network has errors up to it. "
            f"Expected a network that builds; fix the errors its summary lists first."
        )
    spatial = len(shapes[layer_name]) == rank + 1
    if spatial:
        for axis, (p, n) in enumerate(zip(position, shapes[layer_name], strict=False)):
            what = "row" if rank == 1 else ("row", "col")[axis]
            if not isinstance(p, (int, np.integer)) or isinstance(p, bool) or not 0 <= p < n:
                raise ValueError(
                    f"Layer {layer_name!r} has {n} positions along its {arithmetic.AXIS_NAMES[rank][axis]}. "
                    f"Expected 0 <= {what} < {n}. Received: {what}={p!r}"
                )
    start, stop = [], []
    for axis in range(rank):
        index = int(position[axis]) if spatial else None
        lo, hi = _trace(infos, shapes, rank, layer_name, axis, index, index)
        start.append(lo)
        stop.append(hi + 1)
    return ReceptiveBox(tuple(start), tuple(stop), tuple(summary.input_shape[:rank]))


def _trace(infos, shapes, rank: int, name: str, axis: int, lo: int | None, hi: int | None) -> tuple[int, int]:
    """Input range [lo, hi] (inclusive, unclipped) that units lo..hi of ``name`` see on ``axis``.

    ``lo`` None stands for a layer without spatial axes: it sees all of its input.
    """
    if name == INPUT:
        return (lo, hi)
    info = infos[name]
    ranges = []
    for source in info.inputs:
        in_shape = shapes[source]
        if in_shape is None:
            raise ValueError(f"Layer {source!r} has no known output shape. Expected a network that builds.")
        if len(in_shape) != rank + 1:  # reading a vector, which already sees everything
            ranges.append(_trace(infos, shapes, rank, source, axis, None, None))
            continue
        if lo is None:
            a, b = 0, in_shape[axis] - 1
        elif (axes := fields.windows(catalog.get(info.type), info.config, rank)) is not None:
            a, b = axes[axis].span(lo, hi, in_shape[axis])
        else:  # element-wise layers and merges keep positions
            a, b = lo, hi
        ranges.append(_trace(infos, shapes, rank, source, axis, a, b))
    return (min(r[0] for r in ranges), max(r[1] for r in ranges))


# ---------------------------------------------------------------------------- timeline


class TimelineCallback(keras.callbacks.Callback):
    """Fills a ``Timeline`` during ``model.fit``: a snapshot at the start and after each epoch.

    Cheap: one forward pass of one sample and a copy of the conv kernels per epoch.
    ``layers`` limits the activations kept (default: every layer).
    """

    def __init__(self, model: keras.Model, fixed_input, layers: list[str] | None = None):
        super().__init__()
        batch, single = _as_batch(model, fixed_input)
        if not single:
            raise ValueError(
                f"The timeline follows one input. Expected a sample shaped {tuple(model.input_shape[1:])}. "
                f"Received: fixed_input.shape={np.shape(fixed_input)}"
            )
        self._inspected = model
        self._layers = layers
        color = {name for name in conv_layers(model)
                 if len(model.get_layer(name).kernel.shape) == 4 and model.get_layer(name).kernel.shape[-2] == 3
                 and _reads_input(model, name)}
        self.timeline = Timeline(fixed_input=batch[0].copy(), color_layers=color)

    def _snapshot(self, epoch: int) -> None:
        model = self._inspected
        kernels_by_layer = {name: kernels(model, name) for name in conv_layers(model)}
        acts = activations(model, self.timeline.fixed_input)
        if self._layers is not None:
            acts = {name: acts[name] for name in self._layers}
        self.timeline.record(epoch, kernels_by_layer, acts)

    def on_train_begin(self, logs=None):
        if len(self.timeline) == 0:
            self._snapshot(0)

    def on_epoch_end(self, epoch, logs=None):
        self._snapshot(epoch + 1)
