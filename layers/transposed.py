"""Conv1DTranspose and Conv2DTranspose written with ``keras.ops`` (pad, concatenate, matmul).

A transposed convolution scatters: each input cell adds a copy of the kernel, scaled by its
value, into the output at ``stride`` times its position. Here it is computed the other way
round, in the "sub-pixel" form: with stride S an output cell ``S*b + p`` (block b, phase p)
gathers the taps at phase p from a few neighbouring input cells, so every phase is a small
stride-1 convolution of the input, and all S_h*S_w phases are one matmul of the shifted
inputs side by side (or, where phases lack taps at some shifts, one matmul per phase:
``transpose_form``); one transpose or two stacks then interleave the phases (at most 5-D).
No zeros are inserted into the input, no copies of the output are added up, the gradients
are the matmul's and a few slices, and nothing depends on the input's length but the final
slice, so the layer runs on inputs of any height and width.

Weights have the shapes and names of ``keras.layers.Conv1DTranspose``/``Conv2DTranspose``:
the kernel is (*kernel_size, filters, input channels).
"""

from __future__ import annotations

import keras
import numpy as np
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
from layers.reductions import add_bias
from layers.windows import side_by_side

MAX_PHASE_SHIFTS = 8
"""Shifted inputs one phase may read in the per-phase form: XLA on CPU writes a side-by-side
of at most 8 parts in one loop (``layers.windows.side_by_side``); a 5x5 kernel at stride 2,
whose first phase reads 9, trained slower per phase (2.18x Keras' time against 1.90x)."""


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
            outputs = add_bias(outputs, ops.cast(self.bias, outputs.dtype))
        return from_channels_last(self.activation(outputs), self.data_format)

    def get_config(self):
        config = super().get_config()
        config.pop("groups")
        config["output_padding"] = self.output_padding
        return config


def conv_transpose(x, kernel, window, strides, dilation, geometry):
    """2D transposed convolution of x (N, H, W, C) with a kernel (kh, kw, F, C), sub-pixel.

    ``geometry`` holds (crop, offset) per axis from ``transpose_axis_geometry``. On an axis
    with stride S, output cell ``S*b + p`` (block b, phase p) receives tap j from input cell
    ``b - q`` exactly when ``j*D = S*q + p``. So every phase is a stride-1 convolution of the
    input over the few shifts q, and all phases together are one matmul: the shifted inputs
    side by side (N, B_h, B_w, shifts*C) times a (shifts*C, S_h*S_w*F) matrix that holds each
    tap once, where the tap's shift and phase meet (zeros elsewhere). The phases are then
    interleaved by a transpose (the pixel shuffle, 4-D). Only the blocks the output covers
    are computed, so a crop is left only where it starts or ends inside a block. No zeros
    are inserted into the input and no copies of the output are added up. The shifted inputs
    go side by side as ``layers.windows.side_by_side`` writes them: joined along the channels
    (128 values or more), XLA copied each and then joined them; a training step with XLA
    took 1.53-1.66x Keras' time -> 1.40-1.60x (3x3/2 "same", 16x16x32 -> 32) and 1.62-1.66
    -> 1.55-1.58 (4x4/2). Where the matrix has zero blocks, the phases go one matmul each
    (``transpose_form``, ``_per_phase``).
    """
    filters, channels = kernel.shape[2], kernel.shape[3]
    batch = ops.shape(x)[0]
    lengths = ops.shape(x)[1:3]
    plans = [_phase_plan(window[a], strides[a], dilation[a], geometry[a]) for a in range(2)]
    widths, starts, blocks = [(0, 0)], [], []
    for length, (shifts, _, first, extra) in zip(lengths, plans, strict=True):
        before = max(max(shifts) - first, 0)
        widths.append((before, max(extra + first, 0)))
        starts.append(first + before)
        blocks.append(length + extra)
    widths.append((0, 0))
    padded = ops.pad(x, widths) if any(w != (0, 0) for w in widths) else x
    (shifts_h, *_), (shifts_w, *_) = plans
    shifted = [
        ops.slice(padded, [0, starts[0] - qh, starts[1] - qw, 0], [batch, *blocks, channels])
        for qh in shifts_h
        for qw in shifts_w
    ]
    (sh, sw) = strides
    taps_of_phases = _taps_of_phases(strides, plans, window[1])
    if _phase_form(taps_of_phases, len(shifted)) == "per-phase":
        outputs = _per_phase(shifted, kernel, taps_of_phases, strides, batch, blocks)
    else:
        matrix = _phase_matrix(kernel, taps_of_phases, len(shifted))
        phases = ops.matmul(side_by_side(shifted), matrix)
        phases = ops.reshape(phases, (-1, blocks[1], sh, sw * filters))
        if sh > 1:
            phases = ops.transpose(phases, (0, 2, 1, 3))
        outputs = ops.reshape(phases, (batch, blocks[0] * sh, blocks[1] * sw, filters))
    skip = [crop - first * s for (crop, _), (_, _, first, _), s in zip(
        geometry, plans, strides, strict=True)]
    ends = [(first + extra) * s - crop - offset for (crop, offset), (_, _, first, extra), s in zip(
        geometry, plans, strides, strict=True)]
    if not any(skip) and not any(ends):
        return outputs
    size = [batch, lengths[0] * sh + geometry[0][1], lengths[1] * sw + geometry[1][1], filters]
    return ops.slice(outputs, [0, *skip, 0], size)


def transpose_form(kernel_size, strides, dilation, geometry) -> str:
    """Which form ``conv_transpose`` takes for a 2D window (a 1D one is (1, k)): "all-phases"
    (one matmul of every shifted input by a matrix with a block per shift and phase) or
    "per-phase" (one matmul per phase over the shifted inputs it has taps at: where some
    phase lacks taps at some shifts, and no phase reads more than ``MAX_PHASE_SHIFTS``)."""
    plans = [_phase_plan(*args) for args in zip(kernel_size, strides, dilation, geometry, strict=True)]
    shifts = len(plans[0][0]) * len(plans[1][0])
    return _phase_form(_taps_of_phases(strides, plans, kernel_size[1]), shifts)


def _phase_form(taps_of_phases, shifts):
    """``transpose_form``'s rule on the taps each phase reads, out of ``shifts`` shifted inputs."""
    counts = [len(pairs) for pairs in taps_of_phases.values()]
    if min(counts) < shifts and max(counts) <= MAX_PHASE_SHIFTS:
        return "per-phase"
    return "all-phases"


def _taps_of_phases(strides, plans, kernel_width):
    """Phase (p_h, p_w) -> [(index of the shifted input, index j_h*kw + j_w of its tap)] for
    the shifts at which both axes have a tap of that phase."""
    (shifts_h, taps_h, *_), (shifts_w, taps_w, *_) = plans
    return {
        (ph, pw): [
            (a * len(shifts_w) + b, taps_h[qh, ph] * kernel_width + taps_w[qw, pw])
            for a, qh in enumerate(shifts_h)
            for b, qw in enumerate(shifts_w)
            if (qh, ph) in taps_h and (qw, pw) in taps_w
        ]
        for ph in range(strides[0])
        for pw in range(strides[1])
    }


def _per_phase(shifted, kernel, taps_of_phases, strides, batch, blocks):
    """Each phase as its own matmul, of the shifted inputs it has taps at side by side by those
    taps stacked; the phases are then interleaved by two stacks (at most 5-D) and a reshape.

    The all-phases matrix holds a zero block wherever a phase has no tap at a shift: 7 of 16
    for a 3x3 kernel at stride 2, whose phases read 4, 2, 2 and 1 shifted inputs. A phase
    without any tap is zeros. Measured on a 2-core CPU (training step with XLA, batch 64,
    ratio to Keras' time in the same run, all phases -> per phase): 3x3/2 "same" 16x16x32 ->
    32 1.64-1.77 -> 1.46-1.54 (five runs), 16x16x64 -> 64 1.86-2.00 -> 1.61-1.63, "valid"
    15x15x32 -> 32 1.87-1.90 -> 1.82-1.83, 16x16x16 -> 16 1.50 -> 1.48; Conv1DTranspose
    kernel 3 at stride 2 (64x32 -> 32) 1.07-1.17 -> 0.87-1.02, kernel 5 1.18-1.25 -> 1.06-1.17.
    """
    filters, channels = kernel.shape[2], kernel.shape[3]
    taps = _kernel_taps(kernel)
    (sh, sw) = strides
    rows = []
    for ph in range(sh):
        row = []
        for pw in range(sw):
            pairs = taps_of_phases[ph, pw]
            if not pairs:
                row.append(ops.zeros((batch * blocks[0], blocks[1], filters), kernel.dtype))
                continue
            matrix = ops.reshape(ops.stack([taps[j] for _, j in pairs]), (len(pairs) * channels, filters))
            product = ops.matmul(side_by_side([shifted[i] for i, _ in pairs]), matrix)
            row.append(ops.reshape(product, (-1, blocks[1], filters)))
        rows.append(ops.stack(row, axis=2))  # (N*B_h, B_w, S_w, F)
    phases = ops.stack(rows, axis=1)  # (N*B_h, S_h, B_w, S_w, F)
    return ops.reshape(phases, (batch, blocks[0] * sh, blocks[1] * sw, filters))


def _phase_plan(kernel, stride, dilation, geometry):
    """(shifts, tap of each (shift, phase), first block, extra blocks) of one axis.

    Tap j lands ``j*D // S`` blocks after its input cell at phase ``j*D % S``. ``shifts``
    are the block offsets that some tap has; ``taps[(q, p)]`` is the tap at shift q and
    phase p. The output, cells ``crop`` to ``crop + length*S + offset``, lies in the blocks
    ``first`` to ``length + extra`` (cells past the last tap are zeros).
    """
    crop, offset = geometry
    taps = {(j * dilation // stride, j * dilation % stride): j for j in range(kernel)}
    shifts = sorted({q for q, _ in taps})
    first = crop // stride
    extra = -(-(crop + offset) // stride) - first
    return shifts, taps, first, extra


def _kernel_taps(kernel):
    """The kernel (kh, kw, F, C) as one (C, F) matrix per tap, tap j_h*kw + j_w first."""
    kh, kw, filters, channels = kernel.shape
    return ops.reshape(ops.transpose(kernel, (0, 1, 3, 2)), (kh * kw, channels, filters))


def _phase_matrix(kernel, taps_of_phases, shifts):
    """The (shifts*C, S_h*S_w*F) matrix of the sub-pixel matmul, gathered from the kernel.

    Row block (q_h, q_w) and column block (p_h, p_w) hold the tap that phase has at that
    shift (``_taps_of_phases``), zeros elsewhere; the gather's gradient routes each tap's
    gradient back to the kernel.
    """
    kh, kw, filters, channels = kernel.shape
    absent = kh * kw
    index = np.full((shifts, len(taps_of_phases)), absent, "int32")
    for phase, pairs in enumerate(taps_of_phases.values()):
        for shift, tap in pairs:
            index[shift, phase] = tap
    flat = ops.concatenate([_kernel_taps(kernel), ops.zeros((1, channels, filters), kernel.dtype)], axis=0)
    blocks = ops.take(flat, ops.convert_to_tensor(index.reshape(-1)), axis=0)
    blocks = ops.reshape(blocks, (shifts, len(taps_of_phases), channels, filters))
    return ops.reshape(ops.transpose(blocks, (0, 2, 1, 3)), (shifts * channels, len(taps_of_phases) * filters))


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
