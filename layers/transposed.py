"""Conv1DTranspose and Conv2DTranspose written with ``keras.ops`` (matmul, pad, stack, slice).

A transposed convolution scatters: each input cell adds a copy of the kernel, scaled by its
value, into the output at ``stride`` times its position. Here one matmul gives every cell's
scaled copies at once; the copies are then added in place one axis at a time (width, then
height). Tap ``j`` of an axis lands ``j*D`` cells after ``S*i``, that is in block
``j*D // S`` at phase ``j*D % S``: the taps of one phase are summed at their block shifts
(a pad each), and the phases are interleaved by one stack and reshape (at most 5-D). No
multiplication by inserted zeros happens, and nothing depends on the input's length but
the final slice, so the layer runs on inputs of any height and width.

Weights have the shapes and names of ``keras.layers.Conv1DTranspose``/``Conv2DTranspose``:
the kernel is (*kernel_size, filters, input channels).
"""

from __future__ import annotations

import keras
from keras import ops

from layers.arithmetic import (
    conv_transpose_output_shape,
    normalize_output_padding,
    transpose_axis_geometry,
)
from layers.conv import _Conv
from layers.formats import (
    from_channels_last,
    shape_from_channels_last,
    shape_to_channels_last,
    to_channels_last,
)


class _ConvTranspose(_Conv):
    """Shared body of Conv1DTranspose/Conv2DTranspose; ``rank`` is the number of spatial axes."""

    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        padding="valid",
        output_padding=None,
        data_format=None,
        dilation_rate=1,
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
        super().__init__(
            filters,
            kernel_size,
            strides=strides,
            padding=padding,
            data_format=data_format,
            dilation_rate=dilation_rate,
            activation=activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer,
            kernel_constraint=kernel_constraint,
            bias_constraint=bias_constraint,
            **kwargs,
        )
        self.output_padding = normalize_output_padding(
            output_padding, self.rank, self.strides, self._label
        )

    def _kernel_shape(self, channels):
        """(*kernel_size, filters, input channels), as keras.layers.Conv*DTranspose."""
        return (*self.kernel_size, self.filters, channels)

    def compute_output_shape(self, input_shape):
        shape = conv_transpose_output_shape(
            shape_to_channels_last(input_shape, self.data_format),
            self.filters,
            self.kernel_size,
            self.strides,
            self.dilation_rate,
            self.padding,
            self.output_padding,
            self._label,
        )
        return shape_from_channels_last(shape, self.data_format)

    def call(self, inputs):
        x = to_channels_last(inputs, self.data_format)
        kernel = ops.cast(self.kernel, x.dtype)
        geometry = [
            transpose_axis_geometry(
                self.kernel_size[axis],
                self.strides[axis],
                self.dilation_rate[axis],
                self.padding if isinstance(self.padding, str) else self.padding[axis],
                None if self.output_padding is None else self.output_padding[axis],
            )
            for axis in range(self.rank)
        ]
        if self.rank == 1:
            x, kernel = ops.expand_dims(x, 1), ops.expand_dims(kernel, 0)
            window, strides = (1, *self.kernel_size), (1, *self.strides)
            dilation, geometry = (1, *self.dilation_rate), [(0, 0), *geometry]
        else:
            window, strides, dilation = self.kernel_size, self.strides, self.dilation_rate
        outputs = conv_transpose(x, kernel, window, strides, dilation, geometry)
        if self.rank == 1:
            outputs = ops.squeeze(outputs, 1)
        if self.use_bias:
            outputs = ops.add(outputs, ops.cast(self.bias, outputs.dtype))
        return from_channels_last(self.activation(outputs), self.data_format)

    def get_config(self):
        config = super().get_config()
        config.pop("groups")
        config["output_padding"] = self.output_padding
        return config


def conv_transpose(x, kernel, window, strides, dilation, geometry):
    """2D transposed convolution of x (N, H, W, C) with a kernel (kh, kw, F, C).

    ``geometry`` holds (crop, offset) per axis from ``transpose_axis_geometry``.
    """
    (kh, kw), filters, channels = window, kernel.shape[2], kernel.shape[3]
    batch, height, width = ops.shape(x)[0], ops.shape(x)[1], ops.shape(x)[2]
    matrix = ops.reshape(ops.transpose(kernel, (3, 0, 1, 2)), (channels, kh * kw * filters))
    copies = ops.matmul(ops.reshape(x, (-1, channels)), matrix)
    copies = ops.reshape(copies, (batch, height, width, kh * kw * filters))
    rows = []
    for i in range(kh):
        taps = [
            ops.slice(copies, [0, 0, 0, (i * kw + j) * filters], [batch, height, width, filters])
            for j in range(kw)
        ]
        rows.append(_scatter_axis(taps, 2, strides[1], dilation[1], width, geometry[1]))
    return _scatter_axis(rows, 1, strides[0], dilation[0], height, geometry[0])


def _scatter_axis(taps, axis, stride, dilation, length, geometry):
    """Sum tap ``j`` into cells ``stride*i + j*dilation`` along ``axis``, then crop.

    ``length`` is the input's length on that axis (an int, or a tensor when unknown);
    returns the ``length*stride + offset`` cells from ``crop`` on.
    """
    crop, offset = geometry
    blocks = [j * dilation // stride for j in range(len(taps))]
    needed = -(-(crop + stride + offset) // stride) - 1
    span = max(max(blocks), needed, 0)
    phases = []
    for phase in range(stride):
        total = None
        for j, tap in enumerate(taps):
            if j * dilation % stride != phase:
                continue
            shifted = _pad_axis(tap, axis, blocks[j], span - blocks[j])
            total = shifted if total is None else ops.add(total, shifted)
        phases.append(total)
    template = next(p for p in phases if p is not None)
    phases = [ops.zeros_like(template) if p is None else p for p in phases]
    if stride == 1:
        merged = phases[0]
    else:
        stacked = ops.stack(phases, axis=axis + 1)
        shape = list(ops.shape(stacked))
        merged = ops.reshape(stacked, [*shape[:axis], shape[axis] * stride, *shape[axis + 2:]])
    start = [0] * 4
    start[axis] = crop
    size = list(ops.shape(merged))
    size[axis] = length * stride + offset
    return ops.slice(merged, start, size)


def _pad_axis(x, axis, before, after):
    if not before and not after:
        return x
    widths = [(0, 0)] * 4
    widths[axis] = (before, after)
    return ops.pad(x, widths)


@keras.saving.register_keras_serializable(package="cnnstudio")
class Conv1DTranspose(_ConvTranspose):
    """Transposed 1D convolution over (batch, length, channels): each step scatters the kernel.

    ``L2 = (L1 - 1)*S - 2P + D*(F - 1) + output_padding + 1``; "same" gives ``L1*S``.
    """

    rank = 1


@keras.saving.register_keras_serializable(package="cnnstudio")
class Conv2DTranspose(_ConvTranspose):
    """Transposed 2D convolution over (batch, height, width, channels), the decoder's upsampler.

    ``W2 = (W1 - 1)*S - 2P + D*(F - 1) + output_padding + 1`` per axis; "same" gives ``W1*S``.
    """

    rank = 2
