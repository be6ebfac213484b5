"""DepthwiseConv1D and DepthwiseConv2D written with ``keras.ops`` (pad, slice, multiply, add).

Each input channel has its own ``depth_multiplier`` filters and sees no other channel: the
output channel ``c*depth_multiplier + m`` is channel c's window times filter m (MobileNet's
first half of a separable convolution). With the channels repeated ``depth_multiplier``
times, every window tap is one elementwise product with a kernel row: no matmul, no tensor
above 4-D. Weights have the shapes and names of ``keras.layers.DepthwiseConv1D``/``2D``:
the kernel is (*kernel_size, input channels, depth_multiplier).
"""

from __future__ import annotations

import itertools

import keras
from keras import ops

from layers.arithmetic import (
    conv_output_shape,
    normalize_padding,
    normalize_tuple,
    require_known_channels,
)
from layers.formats import (
    channel_axis,
    from_channels_last,
    resolve_data_format,
    shape_from_channels_last,
    shape_to_channels_last,
    to_channels_last,
)
from layers.reductions import add_bias, scale_channels, sum_to_channels
from layers.windows import joined, pad_for_windows, window_geometry, window_taps


class _DepthwiseConv(keras.layers.Layer):
    """Shared body of DepthwiseConv1D/2D; ``rank`` is the number of spatial axes."""

    rank = 2

    def __init__(
        self,
        kernel_size,
        strides=1,
        padding="valid",
        depth_multiplier=1,
        data_format=None,
        dilation_rate=1,
        activation=None,
        use_bias=True,
        depthwise_initializer="glorot_uniform",
        bias_initializer="zeros",
        depthwise_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        depthwise_constraint=None,
        bias_constraint=None,
        **kwargs,
    ):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        label = self._label
        if isinstance(depth_multiplier, float) and depth_multiplier.is_integer():
            depth_multiplier = int(depth_multiplier)
        if (
            not isinstance(depth_multiplier, int)
            or isinstance(depth_multiplier, bool)
            or depth_multiplier < 1
        ):
            raise ValueError(
                f"{label}: depth_multiplier must be a positive integer (filters per input "
                f"channel). Expected depth_multiplier >= 1. Received: "
                f"depth_multiplier={depth_multiplier!r}"
            )
        self.depth_multiplier = depth_multiplier
        self.kernel_size = normalize_tuple(kernel_size, self.rank, "kernel_size", label)
        self.strides = normalize_tuple(strides, self.rank, "strides", label)
        self.dilation_rate = normalize_tuple(dilation_rate, self.rank, "dilation_rate", label)
        self.padding = normalize_padding(padding, self.rank, label)
        self.data_format = resolve_data_format(data_format, label)
        self.activation = keras.activations.get(activation)
        self.use_bias = bool(use_bias)
        self.depthwise_initializer = keras.initializers.get(depthwise_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.depthwise_regularizer = keras.regularizers.get(depthwise_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.depthwise_constraint = keras.constraints.get(depthwise_constraint)
        self.bias_constraint = keras.constraints.get(bias_constraint)
        self.input_spec = keras.InputSpec(ndim=self.rank + 2)

    @property
    def _label(self):
        return f"{type(self).__name__} '{self.name}'"

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
            shape=(*self.kernel_size, channels, self.depth_multiplier),
            initializer=self.depthwise_initializer,
            regularizer=self.depthwise_regularizer,
            constraint=self.depthwise_constraint,
            trainable=True,
            dtype=self.dtype,
        )
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias",
                shape=(channels * self.depth_multiplier,),
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
                trainable=True,
                dtype=self.dtype,
            )
        else:
            self.bias = None

    def compute_output_shape(self, input_shape):
        input_shape = shape_to_channels_last(input_shape, self.data_format)
        channels = input_shape[-1]
        shape = conv_output_shape(
            input_shape,
            1,
            self.kernel_size,
            self.strides,
            self.dilation_rate,
            self.padding,
            self._label,
        )
        filters = None if channels is None else channels * self.depth_multiplier
        return shape_from_channels_last((*shape[:-1], filters), self.data_format)

    def call(self, inputs):
        x = to_channels_last(inputs, self.data_format)
        kernel = ops.cast(self.kernel, x.dtype)
        if self.rank == 1:
            x, kernel = ops.expand_dims(x, 1), ops.expand_dims(kernel, 0)
            window, strides = (1, *self.kernel_size), (1, *self.strides)
            dilation = (1, *self.dilation_rate)
            padding = self.padding if isinstance(self.padding, str) else (0, *self.padding)
        else:
            window, strides, dilation = self.kernel_size, self.strides, self.dilation_rate
            padding = self.padding
        outputs = depthwise_convolve(x, kernel, window, strides, dilation, padding)
        if self.rank == 1:
            outputs = ops.squeeze(outputs, 1)
        if self.use_bias:
            outputs = add_bias(outputs, ops.cast(self.bias, outputs.dtype))
        return from_channels_last(self.activation(outputs), self.data_format)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "kernel_size": self.kernel_size,
                "strides": self.strides,
                "padding": self.padding,
                "depth_multiplier": self.depth_multiplier,
                "data_format": self.data_format,
                "dilation_rate": self.dilation_rate,
                "activation": keras.activations.serialize(self.activation),
                "use_bias": self.use_bias,
                "depthwise_initializer": keras.initializers.serialize(self.depthwise_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "depthwise_regularizer": keras.regularizers.serialize(self.depthwise_regularizer),
                "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
                "activity_regularizer": keras.regularizers.serialize(self.activity_regularizer),
                "depthwise_constraint": keras.constraints.serialize(self.depthwise_constraint),
                "bias_constraint": keras.constraints.serialize(self.bias_constraint),
            }
        )
        return config


def depthwise_convolve(x, kernel, window, strides, dilation, padding):
    """Depthwise 2D convolution of x (N, H, W, C) with a kernel (kh, kw, C, M).

    Each tap is scaled by its kernel row; the kernel's gradient is summed in the form XLA
    runs fast (``layers.reductions``). With stride 1 the input's gradient is written by hand
    too (``_stride_one_cut`` where the lengths are known, else ``_stride_one``); strided
    windows leave it to autodiff.
    """
    channels, multiplier = kernel.shape[-2], kernel.shape[-1]
    pads, out_sizes = window_geometry(x, window, strides, dilation, padding)
    if multiplier > 1:
        x = ops.repeat(x, multiplier, axis=-1)
    rows = ops.reshape(kernel, (window[0], window[1], channels * multiplier))
    stride_one = all(s == 1 for s in strides)
    if stride_one and all(isinstance(n, int) for n in (*ops.shape(x)[1:-1], *out_sizes)):
        return _stride_one_cut(x, rows, window, dilation, pads, out_sizes)
    x = pad_for_windows(x, pads, window, strides, dilation, out_sizes)
    if stride_one:
        return _stride_one(x, rows, window, dilation, out_sizes)
    outputs = None
    for index, tap in enumerate(window_taps(x, window, strides, dilation, out_sizes)):
        product = scale_channels(tap, rows[index // window[1], index % window[1]])
        outputs = product if outputs is None else ops.add(outputs, product)
    return outputs


def _stride_one(x, rows, window, dilation, out_sizes):
    """Stride-1 depthwise taps of a padded ``x``, with a hand-written gradient (for lengths
    known only when the graph runs; ``_stride_one_cut`` otherwise).

    The input's gradient is the upstream gradient, padded by the dilated kernel's reach on
    each side, correlated with the flipped kernel: the same sum of scaled slices of one
    tensor as the forward pass (which XLA fuses into one loop), where autodiff would pad
    every tap's gradient back to the input's size and add the nine up. The kernel's
    gradient sums each tap times the upstream gradient with ``sum_to_channels``.

    Both sums read slices of one padded copy: slicing each tap from the unpadded tensor with
    its own zero pad saves that copy but costs more inside XLA's loops (3x3 "same" on
    64x32x32x32, training step with XLA: 1.54x Keras' time -> 2.63x, and 2.14x with only the
    input gradient's taps so; "valid" 1.35 -> 2.18).
    """
    (kh, kw), (dh, dw) = window, dilation
    reach_h, reach_w = (kh - 1) * dh, (kw - 1) * dw

    @ops.custom_gradient
    def convolve(x, rows):
        batch = ops.shape(x)[0]
        channels = x.shape[-1]
        taps = [
            ops.slice(x, [0, i * dh, j * dw, 0], [batch, *out_sizes, channels])
            for i in range(kh)
            for j in range(kw)
        ]
        outputs = None
        for index, tap in enumerate(taps):
            product = ops.multiply(tap, rows[index // kw, index % kw])
            outputs = product if outputs is None else ops.add(outputs, product)

        def grad(*args, upstream=None):
            if upstream is None:
                (upstream,) = args
            spread = ops.pad(upstream, [(0, 0), (reach_h, reach_h), (reach_w, reach_w), (0, 0)])
            size = list(ops.shape(x))
            x_grad = None
            for i in range(kh):
                for j in range(kw):
                    start = [0, reach_h - i * dh, reach_w - j * dw, 0]
                    part = ops.multiply(ops.slice(spread, start, size), rows[i, j])
                    x_grad = part if x_grad is None else ops.add(x_grad, part)
            sums = [sum_to_channels(ops.multiply(tap, upstream)) for tap in taps]
            return x_grad, ops.reshape(ops.stack(sums), ops.shape(rows))

        return outputs, grad

    return convolve(x, rows)


def _stride_one_cut(x, rows, window, dilation, pads, out_sizes):
    """Stride-1 depthwise taps of an unpadded ``x`` whose lengths are known, with a
    hand-written gradient: no padded copy of the input or of the upstream gradient.

    Output cell o reads input cell o + t of tap t (t = i*dilation - pad before); near the
    edges some taps fall outside the input. Each axis splits into regions where the same taps
    are inside (``_regions``), and every region of the output is the sum of its taps, plain
    slices of the input, the regions joined. The input's gradient is the same sum over the
    upstream gradient with the offsets negated, the kernel's gradient per tap the product of
    the input and upstream slices that meet (``sum_to_channels``).

    Measured (``benchmarks/ab_layers.py``, training step with XLA against Keras, the padded
    form -> regions): 3x3 "same" on 64x32x32x32 1.48x Keras' time -> 1.14x, MobileNet-like
    32x56x56x64 2.27 -> 1.79, "valid" 1.25 -> 1.18, dilation 2 0.98 -> 0.66, 5x5 1.04 ->
    0.80, multiplier 2 0.63 -> 0.57, DepthwiseConv1D kernel 5 0.76 -> 0.70. Unlike one zero
    pad per tap (which XLA writes out tap by tap), the joined regions compile to one loop.
    """
    (kh, kw), (dh, dw) = window, dilation
    offsets_h = [i * dh - pads[0][0] for i in range(kh)]
    offsets_w = [j * dw - pads[1][0] for j in range(kw)]
    lengths = tuple(ops.shape(x)[1:-1])
    out_sizes = tuple(out_sizes)

    @ops.custom_gradient
    def convolve(x, rows):
        outputs = _sum_of_taps(x, rows, offsets_h, offsets_w, out_sizes)

        def grad(*args, upstream=None):
            if upstream is None:
                (upstream,) = args
            x_grad = _sum_of_taps(
                upstream, rows, [-t for t in offsets_h], [-t for t in offsets_w], lengths
            )
            batch, channels = ops.shape(x)[0], x.shape[-1]
            sums = []
            for t_h in offsets_h:
                for t_w in offsets_w:
                    (lo_h, hi_h), (lo_w, hi_w) = (
                        (max(0, -t), min(out, length - t))
                        for t, out, length in ((t_h, out_sizes[0], lengths[0]), (t_w, out_sizes[1], lengths[1]))
                    )
                    if lo_h >= hi_h or lo_w >= hi_w:
                        sums.append(ops.zeros((channels,), x.dtype))
                        continue
                    size = [batch, hi_h - lo_h, hi_w - lo_w, channels]
                    tap = ops.slice(x, [0, lo_h + t_h, lo_w + t_w, 0], size)
                    sums.append(sum_to_channels(ops.multiply(tap, ops.slice(upstream, [0, lo_h, lo_w, 0], size))))
            return x_grad, ops.reshape(ops.stack(sums), ops.shape(rows))

        return outputs, grad

    return convolve(x, rows)


def _regions(offsets, length, out):
    """Runs of output cells [start, end) over which the same taps of ``offsets`` read inside
    an input axis of ``length`` cells, with the indices of those taps."""
    bounds = {0, out}
    for t in offsets:
        bounds.update(min(max(b, 0), out) for b in (-t, length - t))
    bounds = sorted(bounds)
    return [
        (start, end, [k for k, t in enumerate(offsets) if start + t >= 0 and end - 1 + t < length])
        for start, end in itertools.pairwise(bounds)
        if start < end
    ]


def _sum_of_taps(source, rows, offsets_h, offsets_w, out_sizes):
    """out[o_h, o_w] = sum over taps (i, j) inside ``source`` of source[o_h + offsets_h[i],
    o_w + offsets_w[j]] * rows[i, j], over (N, out_h, out_w, C), region by region."""
    batch, channels = ops.shape(source)[0], source.shape[-1]
    lengths = ops.shape(source)[1:-1]
    row_parts = []
    for start_h, end_h, taps_h in _regions(offsets_h, lengths[0], out_sizes[0]):
        parts = []
        for start_w, end_w, taps_w in _regions(offsets_w, lengths[1], out_sizes[1]):
            size = [batch, end_h - start_h, end_w - start_w, channels]
            total = None
            for i in taps_h:
                for j in taps_w:
                    tap = ops.slice(source, [0, start_h + offsets_h[i], start_w + offsets_w[j], 0], size)
                    product = ops.multiply(tap, rows[i, j])
                    total = product if total is None else ops.add(total, product)
            parts.append(ops.zeros(size, source.dtype) if total is None else total)
        row_parts.append(joined(parts, axis=2))
    return joined(row_parts, axis=1)


@keras.saving.register_keras_serializable(package="cnnstudio")
class DepthwiseConv1D(_DepthwiseConv):
    """Depthwise 1D convolution: ``depth_multiplier`` filters per channel, channels apart."""

    rank = 1


@keras.saving.register_keras_serializable(package="cnnstudio")
class DepthwiseConv2D(_DepthwiseConv):
    """Depthwise 2D convolution: ``depth_multiplier`` filters per channel, channels apart."""

    rank = 2
