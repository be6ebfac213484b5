"""Max, average and global pooling written with ``keras.ops`` (pad, slice, maximum, add).

Max pooling with windows that do not overlap (the usual stride == pool size) takes every
tap once, remembers which one won and routes the gradient with one select. Overlapping
windows are reduced one axis at a time (width, then height): a k x k window costs 2k taps
instead of k*k. Either way, on ties the gradient goes to the first maximum in row-major
order, as TensorFlow's max pooling does, and no tensor has more than 5 dimensions.

Padding: "same" ignores the padded cells, like Keras (max pads with -inf, average divides
by the number of real cells). An explicit int P pads P cells on each side: max pooling pads
with -inf, so padded cells never win; average pooling pads with zeros and counts them
(divides by the full window), as PyTorch's ``AvgPool2d`` does by default.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from layers.arithmetic import (
    AXIS_NAMES,
    normalize_padding,
    normalize_tuple,
    pool_output_shape,
)
from layers.formats import (
    from_channels_last,
    resolve_data_format,
    shape_from_channels_last,
    shape_to_channels_last,
    to_channels_last,
)
from layers.windows import axis_taps, pad_for_windows, untap, window_geometry


class _Pool(keras.layers.Layer):
    """Shared body of the windowed poolings; subclasses set ``rank`` and ``reduction``."""

    rank = 2
    reduction = "max"

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        label = self._label
        self.data_format = resolve_data_format(data_format, label)
        self.pool_size = normalize_tuple(pool_size, self.rank, "pool_size", label)
        self.strides = (
            self.pool_size
            if strides is None
            else normalize_tuple(strides, self.rank, "strides", label)
        )
        self.padding = normalize_padding(padding, self.rank, label)
        pool_output_shape(
            (None,) * (self.rank + 2), self.pool_size, self.strides, self.padding, label
        )
        self.input_spec = keras.InputSpec(ndim=self.rank + 2)
        self._build_at_init()

    @property
    def _label(self):
        return f"{type(self).__name__} '{self.name}'"

    def compute_output_shape(self, input_shape):
        shape = pool_output_shape(
            shape_to_channels_last(input_shape, self.data_format),
            self.pool_size,
            self.strides,
            self.padding,
            self._label,
        )
        return shape_from_channels_last(shape, self.data_format)

    def call(self, inputs):
        self.compute_output_shape(inputs.shape)
        inputs = to_channels_last(inputs, self.data_format)
        if self.rank == 1:
            x = ops.expand_dims(inputs, 1)
            window, strides = (1, *self.pool_size), (1, *self.strides)
            padding = self.padding if isinstance(self.padding, str) else (0, *self.padding)
        else:
            x, window, strides, padding = inputs, self.pool_size, self.strides, self.padding
        outputs = _pool(x, window, strides, padding, self.reduction)
        outputs = ops.squeeze(outputs, 1) if self.rank == 1 else outputs
        return from_channels_last(outputs, self.data_format)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "pool_size": self.pool_size,
                "strides": self.strides,
                "padding": self.padding,
                "data_format": self.data_format,
            }
        )
        return config


def _pool(x, window, strides, padding, reduction):
    """Pool x (N, H, W, C) with ``reduction`` "max" or "avg", one spatial axis at a time."""
    lengths = ops.shape(x)[1:-1]
    pads, out_sizes = window_geometry(x, window, strides, (1, 1), padding)
    value = float("-inf") if reduction == "max" else 0.0
    divisor = None
    if reduction == "avg" and padding == "same":
        divisor = _real_cells(x, lengths, window, strides, pads, out_sizes)
    x = pad_for_windows(x, pads, window, strides, (1, 1), out_sizes, value)
    if reduction == "max" and all(s >= k for s, k in zip(strides, window, strict=True)):
        return _max_pool_disjoint(x, window, strides, out_sizes)
    if reduction == "max":
        for axis in (1, 0):
            if window[axis] > 1 or strides[axis] > 1:
                x = _max_along(x, axis, window[axis], strides[axis], out_sizes[axis])
        return x
    x = _sum_or_max(x, window, strides, out_sizes, ops.add)
    if divisor is not None:
        return ops.divide(x, ops.cast(divisor, x.dtype))
    return ops.divide(x, ops.cast(window[0] * window[1], x.dtype))


def _max_along(x, axis, window, stride, out):
    """Max over overlapping windows along one axis of a padded ``x``, with a routed gradient.

    The gradient goes to the first maximum of each window: one compare and one select per
    tap, added back once (``untap``), where differentiating ``maximum`` tap by tap chains a
    select and a pad through every tap (measured 2x faster in training with XLA on
    3x3/stride-2 pooling). Width first, then height, the first maximum of each is the first
    in row-major order, as TensorFlow's max pooling has it.
    """
    length = ops.shape(x)[axis + 1]

    @ops.custom_gradient
    def reduce(x):
        taps = axis_taps(x, axis, window, stride, 1, out)
        best = taps[0]
        for tap in taps[1:]:
            best = ops.maximum(best, tap)

        def grad(*args, upstream=None):
            if upstream is None:
                (upstream,) = args
            zeros = ops.zeros_like(upstream)
            routed, taken = [], None
            for tap in taps:
                hit = ops.equal(tap, best)
                if taken is not None:
                    hit = ops.logical_and(hit, ops.logical_not(taken))
                taken = hit if taken is None else ops.logical_or(taken, hit)
                routed.append(ops.where(hit, upstream, zeros))
            return untap(routed, axis, length, stride, out)

        return best, grad

    return reduce(x)


def _sum_or_max(x, window, strides, out_sizes, combine):
    """Reduce the windows of a padded ``x`` with ``combine``, the width first, then the height."""
    for axis in (1, 0):
        if window[axis] == 1 and strides[axis] == 1:
            continue
        taps = axis_taps(x, axis, window[axis], strides[axis], 1, out_sizes[axis])
        x = taps[0]
        for tap in taps[1:]:
            x = combine(x, tap)
    return x


def _max_pool_disjoint(x, window, strides, out_sizes):
    """Max over windows that do not overlap (stride >= pool size), with a one-pass gradient.

    Each row of windows is one block of the batch: x (N, H, W, C) is viewed as
    (N*out_h, sh, out_w, sw, C), five dimensions, as LiteRT allows. The forward pass keeps,
    per output, the row-major index of the first maximum in its window; the gradient is the
    upstream value wherever a cell's index matches, a single broadcast select instead of the
    pads and sums that slicing's gradient would add up.
    """
    (kh, kw), (sh, sw), (out_h, out_w) = window, strides, out_sizes
    channels = x.shape[-1]
    cell_index = np.full((1, sh, 1, sw, 1), -1, dtype="int32")
    cell_index[:, :kh, :, :kw, :] = np.arange(kh * kw).reshape(1, kh, 1, kw, 1)

    @ops.custom_gradient
    def pool(x):
        blocks = ops.reshape(x, (-1, sh, out_w, sw, channels))
        rows = ops.shape(blocks)[0]
        best, winner = None, None
        for i in range(kh):
            for j in range(kw):
                tap = ops.slice(blocks, [0, i, 0, j, 0], [rows, 1, out_w, 1, channels])
                if best is None:
                    best, winner = tap, ops.zeros_like(tap, dtype="int32")
                    continue
                better = ops.greater(tap, best)
                winner = ops.where(better, i * kw + j, winner)
                best = ops.maximum(best, tap)

        def grad(*args, upstream=None):
            if upstream is None:
                (upstream,) = args
            upstream = ops.reshape(upstream, (-1, 1, out_w, 1, channels))
            cells = ops.where(ops.equal(cell_index, winner), upstream, 0.0)
            return ops.reshape(cells, (-1, *ops.shape(x)[1:]))

        return ops.reshape(best, (-1, out_h, out_w, channels)), grad

    return pool(x)


def _real_cells(x, lengths, window, strides, pads, out_sizes):
    """How many input cells (not padding) each output's window covers, shaped (1, H, W, 1).

    Known lengths count in numpy; unknown ones pool a map of ones padded with zeros.
    """
    if all(isinstance(n, int) for n in lengths):
        counts = []
        for length, k, s, (before, _), out in zip(lengths, window, strides, pads, out_sizes, strict=True):
            starts = np.arange(out) * s - before
            counts.append(np.minimum(starts + k, length) - np.maximum(starts, 0))
        return ops.convert_to_tensor(np.outer(*counts)[None, :, :, None].astype("float32"))
    ones = ops.ones_like(ops.slice(x, [0, 0, 0, 0], [1, *lengths, 1]))
    ones = pad_for_windows(ones, pads, window, strides, (1, 1), out_sizes)
    return _sum_or_max(ones, window, strides, out_sizes, ops.add)


class _GlobalPool(keras.layers.Layer):
    """Shared body of the global poolings: one value per channel over every spatial cell."""

    rank = 2
    reduction = "max"

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = resolve_data_format(data_format, f"{type(self).__name__} '{self.name}'")
        self.keepdims = bool(keepdims)
        self.input_spec = keras.InputSpec(ndim=self.rank + 2)
        self._build_at_init()

    def compute_output_shape(self, input_shape):
        input_shape = shape_to_channels_last(input_shape, self.data_format)
        if len(input_shape) != self.rank + 2:
            axes = ", ".join(("batch", *AXIS_NAMES[self.rank], "channels"))
            raise ValueError(
                f"{type(self).__name__} '{self.name}' takes inputs of rank {self.rank + 2} "
                f"({axes}). Expected an input shape with {self.rank + 2} entries. "
                f"Received: input_shape={input_shape}"
            )
        if self.keepdims:
            return shape_from_channels_last(
                (input_shape[0], *(1,) * self.rank, input_shape[-1]), self.data_format
            )
        return (input_shape[0], input_shape[-1])

    def call(self, inputs, mask=None):
        inputs = to_channels_last(inputs, self.data_format)
        axes = tuple(range(1, self.rank + 1))
        if self.reduction == "max":
            outputs = ops.max(inputs, axis=axes, keepdims=self.keepdims)
        elif mask is not None and self.supports_masking:
            kept = ops.expand_dims(ops.cast(mask, "bool"), -1)
            weights = ops.cast(kept, inputs.dtype)
            total = ops.sum(ops.where(kept, inputs, 0), axis=axes, keepdims=self.keepdims)
            outputs = ops.divide(total, ops.sum(weights, axis=axes, keepdims=self.keepdims))
        else:
            outputs = ops.mean(inputs, axis=axes, keepdims=self.keepdims)
        return from_channels_last(outputs, self.data_format) if self.keepdims else outputs

    def get_config(self):
        config = super().get_config()
        config.update({"data_format": self.data_format, "keepdims": self.keepdims})
        return config


@keras.saving.register_keras_serializable(package="cnnstudio")
class MaxPool1D(_Pool):
    """Max over windows of ``pool_size`` steps; padded cells never win."""

    rank, reduction = 1, "max"


@keras.saving.register_keras_serializable(package="cnnstudio")
class MaxPool2D(_Pool):
    """Max over ``pool_size`` windows; padded cells never win."""

    rank, reduction = 2, "max"


@keras.saving.register_keras_serializable(package="cnnstudio")
class AvgPool1D(_Pool):
    """Mean over windows of ``pool_size`` steps ("same": real cells only; int P: zeros count)."""

    rank, reduction = 1, "avg"


@keras.saving.register_keras_serializable(package="cnnstudio")
class AvgPool2D(_Pool):
    """Mean over ``pool_size`` windows ("same": real cells only; int P: zeros count)."""

    rank, reduction = 2, "avg"


@keras.saving.register_keras_serializable(package="cnnstudio")
class GlobalMaxPool1D(_GlobalPool):
    """Max over the whole length, per channel."""

    rank, reduction = 1, "max"


@keras.saving.register_keras_serializable(package="cnnstudio")
class GlobalMaxPool2D(_GlobalPool):
    """Max over height and width, per channel."""

    rank, reduction = 2, "max"


@keras.saving.register_keras_serializable(package="cnnstudio")
class GlobalAvgPool1D(_GlobalPool):
    """Mean over the whole length, per channel; a mask (e.g. from padding) leaves steps out."""

    rank, reduction = 1, "avg"

    def compute_mask(self, inputs, mask=None):
        """The steps are averaged away, and their mask with them (Keras sets supports_masking)."""
        return None


@keras.saving.register_keras_serializable(package="cnnstudio")
class GlobalAvgPool2D(_GlobalPool):
    """Mean over height and width, per channel."""

    rank, reduction = 2, "avg"
