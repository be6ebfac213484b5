"""What a convolution channel detects: the input patches that excite it most, and an image made for it.

The course's "What do these layers learn?": a filter is a template, and a unit fires where
its receptive field matches it. :func:`top_patches` finds, over a data set, the units of one
channel that respond most (the strongest unit of each image, best images first) and crops
their receptive fields from the input. :func:`synthesize` runs gradient ascent on the input
to make an image the channel responds to strongly.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

from cnnstudio.analysis.shapes import Summary
from cnnstudio.inspection import pictures, probes

TOP_PATCHES = 9


@dataclass(frozen=True)
class Patch:
    """The receptive field of the strongest unit of one image, with the unit's activation."""

    image_index: int
    position: tuple[int, ...]
    activation: float
    box: probes.ReceptiveBox
    pixels: np.ndarray
    """The input under ``box``, zeros where the box runs into the padding."""


def channel_model(model: keras.Model, layer_name: str) -> keras.Model:
    """A model from the input to ``layer_name``'s output (one spatial layer)."""
    layer = model.get_layer(layer_name)
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    return keras.Model(inputs, layer.output, name=f"{model.name}_{layer_name}_probe")


def _check_channel(model: keras.Model, layer_name: str, channel: int) -> int:
    names = [layer.name for layer in model.layers]
    if layer_name not in names:
        raise ValueError(f"The model has no layer named {layer_name!r}. Expected one of: "
                         f"{', '.join(names[1:])}. Received: layer={layer_name!r}")
    shape = model.get_layer(layer_name).output.shape
    if len(shape) < 3:
        raise ValueError(f"Layer {layer_name!r} has no spatial positions (its output is {tuple(shape[1:])}). "
                         f"Expected a convolution or pooling layer. Received: layer={layer_name!r}")
    channels = int(shape[-1])
    if not isinstance(channel, (int, np.integer)) or isinstance(channel, bool) or not 0 <= channel < channels:
        raise ValueError(f"Layer {layer_name!r} has {channels} channels. Expected 0 <= channel < {channels}. "
                         f"Received: channel={channel!r}")
    return channels


def top_patches(model: keras.Model, summary: Summary, layer_name: str, channel: int, images: np.ndarray,
                k: int = TOP_PATCHES, batch_size: int = 256) -> list[Patch]:
    """The ``k`` images of ``images`` whose strongest unit of ``channel`` fires most, strongest first."""
    _check_channel(model, layer_name, channel)
    images = np.asarray(images, dtype=np.float32)
    probe = channel_model(model, layer_name)
    best_values, best_positions = [], []
    for i in range(0, len(images), batch_size):
        with probes.MODEL_LOCK:
            maps = keras.ops.convert_to_numpy(probe(images[i:i + batch_size], training=False))[..., channel]
        flat = maps.reshape(len(maps), -1)
        where = np.argmax(flat, axis=1)
        best_values.append(flat[np.arange(len(flat)), where])
        best_positions.append(np.stack(np.unravel_index(where, maps.shape[1:]), axis=1))
    if not best_values:
        return []
    values = np.concatenate(best_values)
    positions = np.concatenate(best_positions)
    order = np.argsort(-values, kind="stable")[:k]
    return [_patch(summary, layer_name, images[j], int(j), tuple(int(p) for p in positions[j]), float(values[j]))
            for j in order]


def _patch(summary: Summary, layer_name: str, image: np.ndarray, index: int, position, value) -> Patch:
    box = probes.receptive_box(summary, layer_name, *position)
    size = box.size
    pixels = np.zeros(tuple(size) + image.shape[-1:], dtype=image.dtype)
    clipped = box.clipped()
    source = tuple(slice(a, b) for a, b in zip(clipped.start, clipped.stop, strict=True))
    target = tuple(slice(a - s, b - s) for a, b, s in zip(clipped.start, clipped.stop, box.start, strict=True))
    pixels[target] = image[source]
    return Patch(index, position, value, box, pixels)


@dataclass(frozen=True)
class Synthesis:
    """An input made by gradient ascent, and the channel's mean activation before and after each step."""

    image: np.ndarray
    activations: list[float]


def synthesize(model: keras.Model, layer_name: str, channel: int, steps: int = 60, step_size: float = 0.05,
               value_range: tuple[float, float] = (0.0, 1.0), seed: int = 0,
               start: np.ndarray | None = None) -> Synthesis:
    """Gradient ascent on the input to raise ``channel``'s mean activation in ``layer_name``.

    Each step moves every pixel by ``step_size`` times the gradient normalised to unit RMS,
    then clips to ``value_range`` (the data's range), so the image stays a valid input.
    Starts from ``start`` or from low-amplitude noise around the middle of the range.
    """
    _check_channel(model, layer_name, channel)
    lo, hi = value_range
    if not hi > lo:
        raise ValueError(f"The value range must be increasing. Expected low < high. Received: value_range={value_range}")
    probe = channel_model(model, layer_name)
    shape = tuple(model.input_shape[1:])
    if start is None:
        rng = np.random.default_rng(seed)
        start = (lo + hi) / 2 + 0.05 * (hi - lo) * rng.standard_normal(shape)
    x = np.clip(np.asarray(start, dtype=np.float32).reshape((1,) + shape), lo, hi)

    def objective(inputs):
        return keras.ops.mean(probe(inputs, training=False)[..., channel])

    history = []
    for _ in range(steps):
        with probes.MODEL_LOCK:
            value, grad = _value_and_input_gradient(objective, x)
        history.append(value)
        rms = float(np.sqrt(np.mean(grad ** 2)))
        if rms == 0.0:
            break
        x = np.clip(x + step_size * (hi - lo) * grad / rms, lo, hi).astype(np.float32)
    with probes.MODEL_LOCK:
        history.append(float(keras.ops.convert_to_numpy(objective(x))))
    return Synthesis(x[0], history)


def _value_and_input_gradient(objective, x: np.ndarray) -> tuple[float, np.ndarray]:
    """``objective(x)`` and its gradient with respect to the input, on the active Keras backend.

    Keras' ops have no gradient function, so this is the one backend-specific step.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        tensor = tf.convert_to_tensor(x)
        with tf.GradientTape() as tape:
            tape.watch(tensor)
            value = objective(tensor)
        return float(value), tape.gradient(value, tensor).numpy()
    if backend == "jax":
        import jax

        value, grad = jax.value_and_grad(objective)(x)
        return float(value), np.asarray(grad)
    if backend == "torch":
        import torch

        tensor = torch.tensor(x, requires_grad=True)
        value = objective(tensor)
        value.backward()
        return float(value.detach()), tensor.grad.numpy()
    raise RuntimeError(f"Gradient ascent needs the TensorFlow, JAX or PyTorch backend. "
                       f"Received: KERAS_BACKEND={backend!r}")


def patches_picture(patches: list[Patch], value_range: tuple[float, float] | None = None, scale: int = 4,
                    columns: int = 3) -> np.ndarray:
    """The patches as one RGB grid, strongest first, on one value scale (default: theirs)."""
    if not patches:
        raise ValueError("No patches to draw. Expected at least one image in the data set.")
    if value_range is None:
        value_range = (min(float(p.pixels.min()) for p in patches), max(float(p.pixels.max()) for p in patches))
    tiles = [pictures.input_picture(p.pixels, *value_range) for p in patches]
    return pictures.grid(tiles, columns=columns, scale=scale, gap=2)


@dataclass(frozen=True)
class ChannelReport:
    """What a view shows for one channel: its top patches (none without data) and a synthetic image."""

    layer: str
    channel: int
    patches: list[Patch]
    synthesis: Synthesis
    value_range: tuple[float, float]


def channel_report(state, model: keras.Model, summary: Summary, layer_name: str, channel: int,
                   images: np.ndarray | None, steps: int = 60) -> ChannelReport:
    """Top patches over ``images`` (may be None) and a gradient-ascent image, for a task runner.

    ``state`` is a :class:`cnnstudio.tasks.TaskState`: progress is reported and a cancel is
    honoured between the two parts.
    """
    value_range = (0.0, 1.0) if images is None or not len(images) else \
        (float(np.min(images)), float(np.max(images)))
    state.set_progress(0.0, "Finding the patches that excite it most")
    patches = [] if images is None else top_patches(model, summary, layer_name, channel, images)
    state.check()
    state.set_progress(0.5, "Making an image by gradient ascent")
    synthesis = synthesize(model, layer_name, channel, steps=steps, value_range=value_range)
    state.check()
    return ChannelReport(layer_name, channel, patches, synthesis, value_range)
