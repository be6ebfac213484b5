"""Max, average and global pooling written with ``keras.ops`` (pad, slice, maximum, add).

Max pooling whose windows reach at most one block past their own (windows that do not
overlap, the usual stride == pool size, and overlapping ones such as 3x3 at stride 2)
takes every tap once as a slice of whole blocks, remembers which one won and routes the
gradient in one pass (``max_pool_form``); where the input is whole blocks padded only after
its end (3x3/2 "same" on even sizes), the last windows are cut short instead of padded. Other overlapping windows (an axis at stride 1, or
a window more than twice the stride) are reduced one axis at a time (width, then height): a k x k
window costs 2k taps instead of k*k. Either way, on ties the gradient goes to the first
maximum in row-major order, as TensorFlow's max pooling does, and no tensor has more than 5
dimensions.

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
from layers.windows import axis_taps, joined, pad_for_windows, untap, window_geometry


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
    form = max_pool_form(window, strides) if reduction == "max" else None
    if form == "blocks" and _cut_at_the_end(lengths, pads, strides, out_sizes):
        return _max_pool_cut_blocks(x, window, strides, out_sizes)
    x = pad_for_windows(x, pads, window, strides, (1, 1), out_sizes, value)
    if form == "blocks":
        return _max_pool_blocks(x, window, strides, out_sizes)
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


def max_pool_form(window, strides) -> str:
    """Which form max pooling takes: "blocks" (``_max_pool_blocks``: windows that do not
    overlap, or that reach at most one block past their own at a stride of 2 or more on
    every axis) or "per-axis" (``_max_along``, width then height: windows that reach further,
    or overlapping windows with an axis at stride 1, such as 3x3/1, 2x2/1 or (3, 1)/(2, 1)).

    Measured on a 2-core CPU (training step with XLA against Keras' pooling), per-axis ->
    blocks: 3x3/2 "same" on 64x32x32x64 1.84-1.89x -> 1.48-1.55x, the same on 56x56x64
    1.84 -> 1.55, 3x3/2 "valid" on 31x31x32 1.32-1.37 -> 1.14-1.28, (3, 2)/(2, 3) 1.33-1.42
    -> 1.11-1.21, 5x5/3 1.95-2.26 -> 1.43-1.51; but 2x2/1 1.33 -> 1.66 and (3, 1)/(2, 1) 1.20
    -> 1.38, where one axis has nothing to skip and the per-axis form makes one pass only.
    """
    if all(s >= k for s, k in zip(strides, window, strict=True)):
        return "blocks"
    if all(s >= 2 and k <= 2 * s for s, k in zip(strides, window, strict=True)):
        return "blocks"
    return "per-axis"


def _max_pool_blocks(x, window, strides, out_sizes):
    """Max over windows no longer than twice the stride, with a one-pass gradient.

    The padded x (N, H, W, C) is viewed as (N*blocks_h, s_h, blocks_w, s_w, C), five
    dimensions as LiteRT allows: a block per stride along each axis, so every tap is one slice
    of whole blocks at one phase, and a window covers its own block and (when it is longer
    than the stride) the next. The image's rows of blocks follow each other along the first
    axis, so the next block row of an image's last one is the next image's first: that
    output row is computed and dropped. The forward pass keeps, per output, the row-major
    index of the first maximum in its window. The gradient of cell (block b, phase p) along
    an axis comes from output b (tap p) and output b - 1 (tap s + p): per pair of block
    shifts, one broadcast select of the shifted upstream where its winner is that tap, the
    (at most four) selections added in one pass, instead of a routed gradient per axis with
    a full-size pad per tap.

    Where windows overlap the winners are kept as int8 (a quarter of the bytes to write and read
    back): 3x3/2 "same" on 64x32x32x64 1.63x Keras' time -> 1.52x, on 32x56x56x64 1.65 -> 1.59,
    on 64x32x32x32 1.49 -> 1.43. Windows side by side keep int32: 2x2/2 was slower with int8
    (1.11-1.17 -> 1.17-1.25).

    The input is padded once (a copy) rather than each tap sliced from it with its own -inf
    pad for the block past the last: XLA then writes every padded tap as a buffer of its own
    and recomputes the winner's chain of compares inside each term of the gradient (3x3/2
    "same" on 64x32x32x64: 1.63-1.65x Keras' time -> 3.64-4.26x).
    """
    (kh, kw), (sh, sw), (out_h, out_w) = window, strides, out_sizes
    reach_h, reach_w = (kh - 1) // sh, (kw - 1) // sw  # 1 where a window reaches the next block
    index_dtype = _winner_dtype(window, strides)
    blocks_h, blocks_w = out_h + reach_h, out_w + reach_w
    channels = x.shape[-1]
    taps_of_shift = _taps_of_shifts(window, strides, index_dtype)

    def shifted(t, shift_h, shift_w, value):
        """``t`` (N*blocks_h, 1, out_w, 1, C), per output, moved ``shift_h`` block rows down
        and ``shift_w`` block columns right, onto the (N*blocks_h, 1, blocks_w, 1, C) grid."""
        widths = [(shift_h, 0), (0, 0), (shift_w, reach_w - shift_w), (0, 0), (0, 0)]
        if not any(before or after for before, after in widths):
            return t
        t = ops.pad(t, widths, constant_values=value)
        if shift_h:
            t = ops.slice(t, [0] * 5, [ops.shape(t)[0] - 1, 1, blocks_w, 1, channels])
        return t

    @ops.custom_gradient
    def pool(x):
        blocks = ops.reshape(x, (-1, sh, blocks_w, sw, channels))
        rows = ops.shape(blocks)[0] - reach_h
        best, winner = _first_maximum(
            [
                (i * kw + j, ops.slice(blocks, [i // sh, i % sh, j // sw, j % sw, 0], [rows, 1, out_w, 1, channels]))
                for i in range(kh)
                for j in range(kw)
            ],
            index_dtype,
        )
        if reach_h:  # the row past each image's last: computed from the next image, dropped
            best = ops.pad(best, [(0, 1), (0, 0), (0, 0), (0, 0), (0, 0)])
            winner = ops.pad(winner, [(0, 1), (0, 0), (0, 0), (0, 0), (0, 0)], constant_values=-1)
        outputs = ops.reshape(best, (-1, blocks_h, out_w, channels))
        if reach_h:
            outputs = ops.slice(outputs, [0, 0, 0, 0], [ops.shape(outputs)[0], out_h, out_w, channels])

        def grad(*args, upstream=None):
            if upstream is None:
                (upstream,) = args
            if reach_h:  # zeros for the dropped rows: they send nothing back
                upstream = ops.pad(upstream, [(0, 0), (0, 1), (0, 0), (0, 0)])
            upstream = ops.reshape(upstream, (-1, 1, out_w, 1, channels))
            total = _route_to_winners(winner, upstream, taps_of_shift, shifted)
            return ops.reshape(total, ops.shape(x))

        return outputs, grad

    return pool(x)


def _cut_at_the_end(lengths, pads, strides, out_sizes):
    """Whether every axis is exactly ``stride * out`` long and padded only after its end, so
    that its blocks are the input's own and only the last output's window reaches past it
    (3x3/2 "same" on even sizes, as in ResNet): ``_max_pool_cut_blocks`` applies."""
    return all(
        isinstance(length, int) and isinstance(out, int) and before == 0 and length == s * out
        for length, (before, _), s, out in zip(lengths, pads, strides, out_sizes, strict=True)
    )


def _max_pool_cut_blocks(x, window, strides, out_sizes):
    """``_max_pool_blocks`` on an input whose blocks need no padding: the windows of the last
    block row and column, which reach past the input, take only the taps inside it.

    The outputs are computed in up to four regions (windows inside the input, the last row,
    the last column, the corner), each a chain over the taps it has, joined; no padded copy
    of the input is written. The gradient is ``_max_pool_blocks``' one pass on the input's
    own blocks: an image's first block row receives from the row before, which is the
    previous image's last output row, whose winner is never a tap of the next block.

    Measured (``benchmarks/ab_layers.py``, training step with XLA against Keras' pooling, the
    padded blocks -> cut): 3x3/2 "same" on 64x32x32x64 1.60x Keras' time -> 1.11x, on
    ResNet-18's 32x56x56x64 1.59 -> 1.19, on 64x32x32x32 1.55 -> 1.09, on 8x112x112x64 1.72
    -> 1.39; 2x2/2 on 64x32x32x64 (nothing to cut, already unpadded) 1.06 -> 1.03.
    """
    (kh, kw), (sh, sw), (out_h, out_w) = window, strides, out_sizes
    reach_h, reach_w = (kh - 1) // sh, (kw - 1) // sw
    index_dtype = _winner_dtype(window, strides)
    channels = x.shape[-1]
    taps_of_shift = _taps_of_shifts(window, strides, index_dtype)

    def spans(out, reach):
        """(first output, outputs) of the regions along an axis: whole windows, then cut."""
        inside = out - reach
        return [(0, inside)] * (inside > 0) + [(inside, out - inside)] * (reach > 0)

    @ops.custom_gradient
    def pool(x):
        blocks = ops.reshape(x, (-1, out_h, sh, out_w, sw * channels))
        batch = ops.shape(blocks)[0]
        best_rows, winner_rows = [], []
        for first_h, rows in spans(out_h, reach_h):
            best_parts, winner_parts = [], []
            for first_w, cols in spans(out_w, reach_w):
                best, winner = _first_maximum(
                    [
                        (i * kw + j, ops.slice(
                            blocks,
                            [0, first_h + i // sh, i % sh, first_w + j // sw, (j % sw) * channels],
                            [batch, rows, 1, cols, channels],
                        ))
                        for i in range(kh)
                        for j in range(kw)
                        # taps past the input's end are left out
                        if first_h + i // sh + rows <= out_h and first_w + j // sw + cols <= out_w
                    ],
                    index_dtype,
                )
                best_parts.append(best)
                winner_parts.append(winner)
            best_rows.append(joined(best_parts, axis=3))
            winner_rows.append(joined(winner_parts, axis=3))
        outputs = ops.reshape(joined(best_rows, axis=1), (-1, out_h, out_w, channels))
        winner = ops.reshape(joined(winner_rows, axis=1), (-1, 1, out_w, 1, channels))

        def grad(*args, upstream=None):
            if upstream is None:
                (upstream,) = args
            upstream = ops.reshape(upstream, (-1, 1, out_w, 1, channels))

            def shifted(t, shift_h, shift_w, value):
                """``t`` moved ``shift_h`` block rows down and ``shift_w`` columns right."""
                if not (shift_h or shift_w):
                    return t
                t = ops.pad(t, [(shift_h, 0), (0, 0), (shift_w, 0), (0, 0), (0, 0)], constant_values=value)
                return ops.slice(t, [0] * 5, [ops.shape(t)[0] - shift_h, 1, out_w, 1, channels])

            total = _route_to_winners(winner, upstream, taps_of_shift, shifted)
            return ops.reshape(total, ops.shape(x))

        return outputs, grad

    return pool(x)


def _first_maximum(indexed_taps, index_dtype):
    """The taps' maximum and, per output, the index of the first tap that reaches it (taps in
    row-major order, as TensorFlow breaks ties)."""
    (index, best), *rest = indexed_taps
    winner = ops.full_like(best, index, dtype=index_dtype)
    for index, tap in rest:
        winner = ops.where(ops.greater(tap, best), ops.cast(index, index_dtype), winner)
        best = ops.maximum(best, tap)
    return best, winner


def _route_to_winners(winner, upstream, taps_of_shift, shifted):
    """The blocks forms' gradient: each phase of a block takes the upstream gradient of the
    outputs ``shifted`` onto it whose winner is that phase's tap, in one pass."""
    total = None
    for (shift_h, shift_w), taps in taps_of_shift.items():
        routed = ops.where(
            ops.equal(shifted(winner, shift_h, shift_w, -1), taps),
            shifted(upstream, shift_h, shift_w, 0.0),
            0.0,
        )
        total = routed if total is None else ops.add(total, routed)
    return total


def _winner_dtype(window, strides):
    """int8 where windows overlap (up to 127 taps), int32 where they lie side by side (see
    ``_max_pool_blocks``)."""
    (kh, kw), (sh, sw) = window, strides
    overlap = kh > sh or kw > sw
    return "int8" if overlap and kh * kw <= 127 else "int32"


def _taps_of_shifts(window, strides, index_dtype):
    """(block rows down, block columns right) -> the (1, s_h, 1, s_w, 1) winner index that
    routes an output's gradient to each phase of the block that far from its own (-1: none)."""
    (kh, kw), (sh, sw) = window, strides
    reach_h, reach_w = (kh - 1) // sh, (kw - 1) // sw
    taps_of_shift = {}
    for shift_h in range(reach_h + 1):
        for shift_w in range(reach_w + 1):
            taps = np.full((1, sh, 1, sw, 1), -1, dtype=index_dtype)
            for p in range(min(sh, kh - shift_h * sh)):
                for q in range(min(sw, kw - shift_w * sw)):
                    taps[0, p, 0, q, 0] = (shift_h * sh + p) * kw + shift_w * sw + q
            taps_of_shift[shift_h, shift_w] = taps
    return taps_of_shift


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
