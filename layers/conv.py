"""Conv1D and Conv2D written with ``keras.ops`` (pad, slice, concatenate, einsum, matmul).

Each output position is the dot product of its window's taps with the kernel. The taps are
plain slices (see ``layers.windows``): the width taps go side by side along the channels and
either all kernel rows are one matmul whose products are summed a row apart, or each kernel
row is one matmul; with few input channels, a banded matrix takes runs of a row (or, for
short rows, the whole width) instead. Conv1D is Conv2D on a height of 1. Weights have the shapes
and names of ``keras.layers.Conv1D``/``Conv2D``, so they copy both ways.

On a 2-core CPU, small networks of these layers (LeNet-5, a 1D CNN) train faster compiled
with XLA (``jit_compile=True``), where per-batch overhead dominates; a single 3x3 layer's
training step ran faster without it (XLA's matmuls were slower than TensorFlow's oneDNN
ones), and so did a small VGG on a busy machine. See ``benchmarks/bench_layers.py`` and
``benchmarks/bench_models.py``.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from layers.arithmetic import (
    conv_output_shape,
    normalize_padding,
    require_known_channels,
)
from layers.arithmetic import normalize_tuple as _normalize_tuple
from layers.formats import (
    channel_axis,
    from_channels_last,
    resolve_data_format,
    shape_from_channels_last,
    shape_to_channels_last,
    to_channels_last,
)
from layers.windows import axis_taps, joined, pad_for_windows, side_by_side, window_geometry
from layers.winograd import (
    convolve_dilated_winograd,
    convolve_winograd_1d,
    winograd_1d_applies,
    winograd_applies,
)

SEGMENT_CHANNELS = 6
"""Input channels up to which a banded matrix over runs of each row beats width taps at width
stride 1 (see ``_segment_length``): with 8 channels (16x16, 3x3, 16 filters) the shifted width
taps were 1.1x Keras' time against 1.2x for runs of 4."""
MAX_FUSED_ROWS = 8
"""Kernel rows up to which width taps that are not shifted take "patches": XLA on CPU fuses a
concatenation of at most 8 parts into the loop that computes them (beyond, it copies each part
and then joins them): an 11x11 kernel at stride 4 over RGB trained in 1.22-1.27x Keras' time as
patches against 1.04-1.12x with one matmul per kernel row."""
PATCHES_FROM_CHANNELS = 32
"""Input channels from which more filters than channels take "patches" rather than "shifted"
(see ``_shifted_is_cheaper``)."""
MIN_RUN_VALUES = 32
"""Values per row of the banded matmul (kernel rows x channels x cells of a run) below which
runs are lengthened: fewer made the matmul too narrow (see ``_segment_length``)."""


class _Conv(keras.layers.Layer):
    """Shared body of Conv1D/Conv2D; ``rank`` is the number of spatial axes."""

    rank = 2

    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        padding="valid",
        data_format=None,
        dilation_rate=1,
        groups=1,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        **kwargs,
    ):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        label = self._label
        if isinstance(filters, float) and filters.is_integer():
            filters = int(filters)
        self.filters = filters
        self.kernel_size = _normalize_tuple(kernel_size, self.rank, "kernel_size", label)
        self.strides = _normalize_tuple(strides, self.rank, "strides", label)
        self.dilation_rate = _normalize_tuple(dilation_rate, self.rank, "dilation_rate", label)
        self.padding = normalize_padding(padding, self.rank, label)
        self.data_format = resolve_data_format(data_format, label)
        self.groups = groups
        self.activation = keras.activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.bias_constraint = keras.constraints.get(bias_constraint)
        if not isinstance(self.filters, int) or isinstance(self.filters, bool) or self.filters < 1:
            raise ValueError(
                f"{label}: filters must be a positive integer. Expected filters >= 1. "
                f"Received: filters={filters!r}"
            )
        if not isinstance(groups, int) or isinstance(groups, bool) or groups < 1:
            raise ValueError(
                f"{label}: groups must be a positive integer. Expected groups >= 1. "
                f"Received: groups={groups!r}"
            )
        if self.filters % groups:
            raise ValueError(
                f"{label}: each group needs the same number of filters. Expected filters "
                f"divisible by groups. Received: filters={self.filters}, groups={groups}"
            )
        self.input_spec = keras.InputSpec(ndim=self.rank + 2)

    @property
    def _label(self):
        return f"{type(self).__name__} '{self.name}'"

    def _kernel_shape(self, channels):
        """(*kernel_size, input channels per group, filters), as keras.layers.Conv*D."""
        if channels % self.groups:
            raise ValueError(
                f"{self._label}: each group needs the same number of input channels. Expected "
                f"input channels divisible by groups ({self.groups}). Received: "
                f"channels={channels}"
            )
        return (*self.kernel_size, channels // self.groups, self.filters)

    def build(self, input_shape):
        self.compute_output_shape(input_shape)
        input_shape = shape_to_channels_last(input_shape, self.data_format)
        require_known_channels(input_shape, self.rank, self._label)
        channels = input_shape[-1]
        self.input_spec = keras.InputSpec(
            ndim=self.rank + 2, axes={channel_axis(self.data_format): channels}
        )
        self.kernel = self.add_weight(
            name="kernel",
            shape=self._kernel_shape(channels),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
            trainable=True,
            dtype=self.dtype,
        )
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias",
                shape=(self.filters,),
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
                trainable=True,
                dtype=self.dtype,
            )
        else:
            self.bias = None

    def compute_output_shape(self, input_shape):
        shape = conv_output_shape(
            shape_to_channels_last(input_shape, self.data_format),
            self.filters,
            self.kernel_size,
            self.strides,
            self.dilation_rate,
            self.padding,
            self._label,
        )
        return shape_from_channels_last(shape, self.data_format)

    def call(self, inputs):
        inputs = to_channels_last(inputs, self.data_format)
        kernel = ops.cast(self.kernel, inputs.dtype)
        if self.rank == 1:
            x, kernel = ops.expand_dims(inputs, 1), ops.expand_dims(kernel, 0)
            window = (1, *self.kernel_size)
            strides, dilation = (1, *self.strides), (1, *self.dilation_rate)
            padding = self.padding if isinstance(self.padding, str) else (0, *self.padding)
        else:
            x, window = inputs, self.kernel_size
            strides, dilation, padding = self.strides, self.dilation_rate, self.padding
        outputs = _convolve_groups(x, kernel, self.groups, window, strides, dilation, padding)
        if self.rank == 1:
            outputs = ops.squeeze(outputs, 1)
        if self.use_bias:
            outputs = ops.add(outputs, ops.cast(self.bias, outputs.dtype))
        return from_channels_last(self.activation(outputs), self.data_format)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "kernel_size": self.kernel_size,
                "strides": self.strides,
                "padding": self.padding,
                "data_format": self.data_format,
                "dilation_rate": self.dilation_rate,
                "groups": self.groups,
                "activation": keras.activations.serialize(self.activation),
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
                "activity_regularizer": keras.regularizers.serialize(self.activity_regularizer),
                "kernel_constraint": keras.constraints.serialize(self.kernel_constraint),
                "bias_constraint": keras.constraints.serialize(self.bias_constraint),
            }
        )
        return config


def _convolve_groups(x, kernel, groups, window, strides, dilation, padding):
    """Each group of input channels convolved with its own filters, outputs side by side."""
    if groups == 1:
        return _convolve(x, kernel, window, strides, dilation, padding)
    per_group, filters_per_group = kernel.shape[-2], kernel.shape[-1] // groups
    outputs = [
        _convolve(
            x[..., g * per_group:(g + 1) * per_group],
            kernel[..., g * filters_per_group:(g + 1) * filters_per_group],
            window, strides, dilation, padding,
        )
        for g in range(groups)
    ]
    return ops.concatenate(outputs, axis=-1)


def _convolve(x, kernel, window, strides, dilation, padding):
    """2D convolution of x (N, H, W, Cin) with a kernel of shape (*window, Cin, Cout).

    Picks the cheapest of eight equivalent forms (measured in benchmarks/bench_layers.py):
    a plain matmul for 1x1 kernels, Winograd's F(4x4, 3x3) for 3x3 stride-1 kernels over many
    channels and F(4, 5) / F(2, 7) along rows for kernels of 5 or 7 cells in one row (a Conv1D;
    ``layers.winograd``), a banded-matrix matmul over short runs of each row when
    there are few input channels ("segments") or over whole short rows ("banded"), width
    taps concatenated along the channels with one matmul for all kernel rows whose products
    are summed shifted by a row each ("shifted", stride-1 rows), otherwise those width taps
    of every kernel row side by side in one matmul ("patches"), and for more kernel rows than
    XLA fuses, the width taps with one matmul per kernel row.
    """
    spatial = ops.shape(x)[1:-1]
    pads, out_sizes = window_geometry(x, window, strides, dilation, padding)
    channels, filters = x.shape[-1], kernel.shape[-1]
    algorithm = conv_algorithm(
        channels, filters, spatial, window, strides, dilation, pads, dtype=x.dtype
    )
    if algorithm == "winograd":
        return convolve_dilated_winograd(x, kernel, dilation, pads, out_sizes)
    if algorithm == "winograd-1d":
        return convolve_winograd_1d(x, kernel[0], pads[1], out_sizes[1])
    if algorithm == "matmul":
        matrix = ops.reshape(kernel, (channels, filters))
        return ops.reshape(
            ops.matmul(ops.reshape(x, (-1, channels)), matrix), (-1, *spatial, filters)
        )
    if algorithm == "segments":
        reach, values_per_cell = (window[1] - 1) * dilation[1], window[0] * channels
        segment = _segment_length(out_sizes[1], reach, values_per_cell)
        return _convolve_banded(x, kernel, window, strides, dilation, pads, out_sizes, segment)
    if algorithm == "banded":
        return _convolve_banded(x, kernel, window, strides, dilation, pads, out_sizes, out_sizes[1])
    form = algorithm.removesuffix("-strided")
    return _convolve_rows(x, kernel, window, strides, dilation, pads, out_sizes, form)


def conv_algorithm(channels, filters, spatial, window, strides, dilation, pads, dtype="float32"):
    """Which form ``_convolve`` uses: "matmul" (1x1, stride 1, no padding), "winograd"
    (3x3, stride 1, any dilation, at least 16 channels and filters, float32, large enough: see
    ``layers.winograd.winograd_applies``), "winograd-1d" (a kernel one row high and 5 or 7
    wide at stride 1, undilated, no height padding, at least 16 channels and filters, float32:
    ``layers.winograd.winograd_1d_applies``), "segments" (a banded matrix over runs of a row:
    at most ``SEGMENT_CHANNELS`` channels, width stride 1), "banded" (over whole short rows),
    "shifted" / "shifted-strided" (width taps, one matmul for every kernel row, products
    summed a row apart: kernel rows at stride 1 and no more filters than the taps have
    channels), "patches" / "patches-strided" (the taps of all kernel rows in one matmul: 2 to
    ``MAX_FUSED_ROWS`` kernel rows), or else "rows" / "rows-strided" (one matmul per kernel
    row: one row, or more than fuse). "-strided":
    width taps at a stride, as few wide slices of the folded phases; otherwise one slice
    each. The tests name the cases that reach each. A width known only when the graph runs
    (a tensor) never takes a banded form, whose matrix needs it."""
    if window == (1, 1) and strides == (1, 1) and pads == [(0, 0), (0, 0)]:
        return "matmul"
    if winograd_applies(channels, filters, spatial, window, strides, dilation, pads, dtype):
        return "winograd"
    if (window[0] == 1 and strides[0] == 1 and pads[0] == (0, 0)
            and winograd_1d_applies(channels, filters, spatial[1], window[1], strides[1], dilation[1], dtype)):
        return "winograd-1d"
    width = spatial[1] + pads[1][0] + pads[1][1]
    if isinstance(width, int) and channels <= SEGMENT_CHANNELS and strides[1] == 1 and window[1] > 1:
        return "segments"
    if isinstance(width, int) and _banded_is_cheaper(channels, width, window[1]):
        return "banded"
    taps = "-strided" if strides[1] > 1 and dilation[1] == 1 else ""
    if _shifted_is_cheaper(channels, filters, window, strides):
        return "shifted" + taps
    if 1 < window[0] <= MAX_FUSED_ROWS:
        return "patches" + taps
    return "rows" + taps


def _shifted_is_cheaper(channels, filters, window, strides):
    """Whether summing shifted products beats one matmul per kernel row, as measured.

    Per output pixel the row form copies each of the kh row taps of the (kw*channels)-wide
    width taps before its matmul; the shifted form multiplies the width taps once, by all kh
    kernel rows, and reads kh*filters products back a row apart. That saves copies while
    the products are no wider than the taps (filters <= kw*channels): on a 2-core CPU the
    3x3 layers of a small VGG (32 and 64 channels) trained up to 1.3x faster with XLA,
    and the first layer (3 channels, 32 filters) 2x slower. A row stride would waste the
    products of the rows it skips, and one kernel row has nothing to shift. Against
    the patches (one matmul over every window's taps, written in one fused loop) it loses
    where there are more filters than channels, from 32 channels: with XLA, 5x5 32 -> 64 on
    16x16 2.34-2.36x Keras' time -> 1.93-1.95x, AlexNet's 5x5 48 -> 128 on 27x27 1.95-1.96 ->
    1.47-1.49, 5x5 32 -> 64 on 8x8 2.82-2.84 -> 2.19-2.42, 7x7 32 -> 64 2.17-2.28 -> 1.70-1.77,
    the digits' 8x8x32 -> 64 1.46-1.53 -> 1.38-1.44; with fewer channels or no more filters
    it won (10x10x32 -> 32 1.19 against 1.44, 16x16x8 -> 16 1.13 against 1.22, 5x5 over 8
    channels 1.99 against 3.47, 7x7 16 -> 32 2.27 against 2.51).
    """
    if filters > channels >= PATCHES_FROM_CHANNELS and window[0] <= MAX_FUSED_ROWS:
        return False
    return strides[0] == 1 and window[0] > 1 and filters <= window[1] * channels


def _banded_is_cheaper(channels, padded_width, kernel_width):
    """Whether one band over the whole row beats width taps, as measured on a 2-core CPU
    (where runs of a row do not apply: a width stride, or 7-8 channels).

    The banded matmul does about padded_width / kernel_width times the work of the taps, but
    concatenating taps of few channels copies tiny chunks: with one channel the banded form
    won up to rows of 64 (LeNet's first layer, before runs), with up to 8 channels while the
    extra work stays under 4x, and it loses beyond.
    """
    if channels == 1:
        return padded_width <= 64
    return channels <= 8 and padded_width <= 4 * kernel_width


def _convolve_rows(x, kernel, window, strides, dilation, pads, out_sizes, form):
    """Width taps side by side along the channels, then (``form`` "rows") one matmul per kernel
    row, summed, or ("shifted") one matmul for all kernel rows (see ``_sum_shifted_rows``), or
    ("patches") every output's window as one row, the row taps side by side too, and one
    matmul with the whole kernel.

    Patches are written once (``layers.windows.side_by_side``; joined along the channels,
    the same patches took as long as a matmul per row), and one 288-deep matmul ran at twice
    the rate of three 96-deep ones (109 against 53 GFLOP/s with XLA). Measured on a 2-core CPU,
    training step with XLA against Keras' convolution, patches against a matmul per row: 3x3
    at stride 2, 64x32x32x32 -> 64, 1.44-1.66x -> 1.16-1.48x in seven of eight runs (one 1.54
    -> 1.72); RGB -> 32 0.99-1.29 -> 0.73-0.93; 8 -> 32 1.18 -> 1.08; 16 -> 32 1.53-1.78 ->
    1.49-1.58; 16x16x64 -> 128 1.18-1.42 -> 1.13-1.35; ResNet-18's 7x7 stride-2 stem 1.18 ->
    1.14; but a valid 31x31x16 -> 32 layer 1.39-1.75 -> 1.55-1.68, worse in three of four
    runs. At stride 1, where there are more filters than the shifted form takes: 32x32x8 ->
    32 1.42-1.57 -> 1.26-1.34, 5x5 16 -> 128 1.57-1.68 -> 1.44-1.52, LeNet-5's c5 (5x5x16 ->
    120) 0.69-0.73 -> 0.59-0.72, 30x30x7 -> 32 1.32 -> 1.27-1.30, a dilated 8 -> 32 1.10-1.17
    -> 1.08-1.12 (one run 1.15 -> 1.20).

    The kernel's gradient, patches^T @ upstream, is the slowest of the three matmuls under
    XLA (16384x288 patches by 64 filters: 7.5 ms, against 4.3 with the patches stored
    transposed, and 3.6-4.2 in TensorFlow's oneDNN), but writing a transposed copy of the
    patches for it cost more than it saved: 3x3 at stride 2, 64x32x32x32 -> 64, 1.47-1.53x
    Keras' time -> 1.78-1.79x (1.88 with each row tap transposed in channels-first order),
    and 56x56x64 -> 128 1.41 -> 1.77.

    Undilated patches over known sizes have a hand-written gradient (``_patches``): 3x3 at
    stride 2, 64x32x32x32 -> 64, 0.92-0.95x the autodiff form's time, "valid" 31x31 0.94-0.97,
    at stride 1 unchanged (5x5 16 -> 128 1.00-1.02; ``benchmarks/ab_layers.py``)."""
    (kh, kw), (sh, sw), (dh, dw), (out_h, out_w) = window, strides, dilation, out_sizes
    channels, filters = x.shape[-1], kernel.shape[-1]
    x = pad_for_windows(x, pads, window, strides, dilation, out_sizes)
    if form == "patches":
        if dilation == (1, 1) and all(isinstance(n, int) for n in (out_h, out_w)):
            rows = _patches(x, window, strides, out_sizes)
        else:
            rows = side_by_side(_row_taps(_width_taps(x, kw, sw, dw, out_w), kh, sh, dh, out_h))
        matrix = ops.reshape(kernel, (kh * kw * channels, filters))
        return ops.reshape(ops.matmul(rows, matrix), (-1, out_h, out_w, filters))
    wide = _width_taps(x, kw, sw, dw, out_w)
    if form == "shifted":
        return _sum_shifted_rows(wide, kernel, dh, out_h, out_w)
    row_taps = _row_taps(wide, kh, sh, dh, out_h)
    outputs = None
    for i, tap in enumerate(row_taps):
        row_kernel = ops.reshape(kernel[i], (kw * channels, filters))
        product = ops.matmul(ops.reshape(tap, (-1, kw * channels)), row_kernel)
        outputs = product if outputs is None else ops.add(outputs, product)
    return ops.reshape(outputs, (-1, out_h, out_w, filters))


def _width_taps(x, kw, sw, dw, out_w):
    """The width taps of a padded ``x`` side by side along the channels: (N, H, out_w, kw*C)."""
    if sw > 1 and dw == 1:
        taps = _strided_width_taps(x, kw, sw, out_w)
    else:
        taps = axis_taps(x, 1, kw, sw, dw, out_w)
    return joined(taps, axis=-1)


def _row_taps(wide, kh, sh, dh, out_h):
    """The kernel rows' taps of the width taps (``pad_for_windows`` leaves out_h rows when the
    window is one row at stride 1)."""
    return [wide] if kh == 1 and sh == 1 else axis_taps(wide, 0, kh, sh, dh, out_h)


def _patches(x, window, strides, out_sizes):
    """Every output's undilated window of a padded ``x`` as one row (the "patches" form), with
    a hand-written gradient.

    Autodiff adds the patches' gradient back through the slices that built them, a pad and
    an update of the whole input per tap. By hand, on the input's stride-sized blocks: cell
    ``s*b + p`` of an axis is read by tap ``s*q + p`` of output ``b - q``, so each phase of
    the input's gradient is a sum of a few columns of the patches' gradient, each moved q
    blocks on (one pad), and the phases are interleaved by a join and a stack (5-D).
    """
    (kh, kw), (sh, sw), (out_h, out_w) = window, strides, out_sizes
    channels = x.shape[-1]
    blocks_h, blocks_w = (kh - 1) // sh + out_h, (kw - 1) // sw + out_w

    @ops.custom_gradient
    def patches(x):
        rows = side_by_side(_row_taps(_width_taps(x, kw, sw, 1, out_w), kh, sh, 1, out_h))

        def grad(*args, upstream=None):
            if upstream is None:
                (upstream,) = args
            upstream = ops.reshape(upstream, (-1, out_h, out_w, kh * kw * channels))
            batch = ops.shape(upstream)[0]
            phase_rows = []
            for p in range(sh):
                phase_columns = []
                for q in range(sw):
                    total = None
                    for i in range(p, kh, sh):
                        for j in range(q, kw, sw):
                            tap = (i * kw + j) * channels
                            part = ops.slice(upstream, [0, 0, 0, tap], [batch, out_h, out_w, channels])
                            down, right = i // sh, j // sw
                            part = ops.pad(part, [
                                (0, 0), (down, blocks_h - out_h - down),
                                (right, blocks_w - out_w - right), (0, 0),
                            ])
                            total = part if total is None else ops.add(total, part)
                    if total is None:  # a stride past the kernel: cells no window reads
                        total = ops.zeros((batch, blocks_h, blocks_w, channels), upstream.dtype)
                    phase_columns.append(total)
                phase_rows.append(joined(phase_columns, axis=-1))
            grid = phase_rows[0] if sh == 1 else ops.stack(phase_rows, axis=2)  # (N, B_h, s_h, B_w, s_w*C)
            return ops.reshape(grid, ops.shape(x))

        return rows, grad

    return patches(x)


def _sum_shifted_rows(wide, kernel, dh, out_h, out_w):
    """Output row h is the sum over kernel rows i of (row h + i*dh of the width taps) @ row i
    of the kernel. Every row of ``wide`` (N, (kh-1)*dh + out_h, out_w, kw*C) is multiplied
    by all kh kernel rows at once, in one matmul with kh*F columns; the products of kernel
    row i are then read i*dh rows down, so no row tap of the wide input is ever copied."""
    kh, kw, channels, filters = kernel.shape
    rows = ops.shape(wide)[1]
    matrix = ops.reshape(ops.transpose(kernel, (1, 2, 0, 3)), (kw * channels, kh * filters))
    products = ops.matmul(ops.reshape(wide, (-1, kw * channels)), matrix)
    products = ops.reshape(products, (-1, rows, out_w, kh * filters))
    batch = ops.shape(products)[0]
    outputs = None
    for i, part in enumerate(ops.split(products, kh, axis=-1)):
        row = ops.slice(part, [0, i * dh, 0, 0], [batch, out_h, out_w, filters])
        outputs = row if outputs is None else ops.add(outputs, row)
    return outputs


def _strided_width_taps(x, kw, sw, out_w):
    """Width taps at stride ``sw`` as few wide slices: with the stride's phases folded into
    the channels, the taps ``b*sw ... b*sw + sw - 1`` are one contiguous run of channels."""
    batch, rows, width, channels = ops.shape(x)
    folded = ops.reshape(x, (-1, rows, width // sw, sw * channels))
    taps = []
    for block in range(-(-kw // sw)):
        phases = min(sw, kw - block * sw)
        taps.append(
            ops.slice(folded, [0, 0, block, 0], [batch, rows, out_w, phases * channels])
        )
    return taps


def _convolve_banded(x, kernel, window, strides, dilation, pads, out_sizes, segment):
    """Each run of ``segment`` outputs along a row is (kernel rows x the input cells under the
    run x channels) @ a banded matrix.

    The band ``bands[i, v, c, p, f] = kernel[i, j, c, f]`` where ``v = p*stride + j*dilation``
    holds the width axis of a run (stride, dilation and all), so the only taps are the kernel
    rows. A run covers ``segment*stride`` cells of the row plus the kernel's reach: folded into
    blocks of that many cells, the runs are a few slices of whole blocks. With ``segment`` the
    whole output row there is one run (and the band does ``padded width / kernel width`` times
    the work of the taps); short runs waste less.
    """
    (kh, kw), (sh, sw), (dh, dw), (out_h, out_w) = window, strides, dilation, out_sizes
    channels, filters = x.shape[-1], kernel.shape[-1]
    span = segment * sw
    cells = (segment - 1) * sw + (kw - 1) * dw + 1
    runs, blocks = -(-out_w // segment), -(-cells // span)
    width = span * (runs + blocks - 1)
    x = pad_for_windows(x, pads, (kh, 1), (sh, 1), (dh, 1), (out_h, width))
    batch, rows = ops.shape(x)[0], ops.shape(x)[1]
    folded = ops.reshape(x, (-1, rows, runs + blocks - 1, span * channels))
    parts = [
        ops.slice(folded, [0, 0, b, 0], [batch, rows, runs, min(span, cells - b * span) * channels])
        for b in range(blocks)
    ]
    under_runs = joined(parts, axis=-1)
    selector = np.zeros((kw, cells, segment), dtype="float32")
    for j in range(kw):
        selector[j, np.arange(segment) * sw + j * dw, np.arange(segment)] = 1.0
    selector = ops.convert_to_tensor(selector, dtype=kernel.dtype)
    bands = ops.einsum("jvp,ijcf->ivcpf", selector, kernel)
    bands = ops.reshape(bands, (kh * cells * channels, segment * filters))
    row_taps = axis_taps(under_runs, 0, kh, sh, dh, out_h)
    stacked = ops.stack(row_taps, axis=3)  # (N, out_h, runs, kh, cells * C): five dimensions
    outputs = ops.matmul(ops.reshape(stacked, (-1, kh * cells * channels)), bands)
    outputs = ops.reshape(outputs, (-1, out_h, runs * segment, filters))
    if runs * segment == out_w:
        return outputs
    return ops.slice(outputs, [0, 0, 0, 0], [ops.shape(outputs)[0], out_h, out_w, filters])


def _segment_length(out_w, reach, values_per_cell):
    """Outputs per run of the banded form at width stride 1: about the kernel's reach (a run
    then reads twice the cells it writes), preferring a length that divides the row, and long
    enough that each row of the matmul holds ``MIN_RUN_VALUES`` (kernel rows x channels per
    cell of the run); at the row's length the run is the whole row.

    Measured on a 2-core CPU with XLA (training step): LeNet-5's first layer (1 channel, reach
    4, 28 outputs) with runs of 4 took 0.9x Keras' time against 1.3-1.5x for whole rows; its
    second (6 channels, 10 outputs) 1.0x with runs of 5 against 1.3x; an RGB 3x3 layer 1.2x
    with runs of 2 against 1.5-2.2x for width taps. Runs of one output were the slowest, and
    a 1D layer over 1 channel (8 values per matmul row in runs of 4) trained 1.2x slower than
    with whole rows.
    """
    shortest = max(1, reach, -(-MIN_RUN_VALUES // values_per_cell) - reach)
    shortest = min(shortest, out_w)
    lengths = range(shortest, min(2 * shortest, out_w) + 1)
    return min(lengths, key=lambda length: (-(-out_w // length) * length, length))


@keras.saving.register_keras_serializable(package="cnnstudio")
class Conv1D(_Conv):
    """1D convolution over (batch, length, channels); padding may be "valid", "same" or an int.

    An int P adds P zeros on each side: ``L2 = floor((L1 - D*(F-1) - 1 + 2P) / S) + 1``.
    """

    rank = 1


@keras.saving.register_keras_serializable(package="cnnstudio")
class Conv2D(_Conv):
    """2D convolution over (batch, height, width, channels); padding "valid", "same" or ints.

    An int P (or one per axis) adds P zeros on each side of that axis.
    """

    rank = 2
