"""Sliding windows with ``keras.ops`` only: padding, and each window tap as one plain slice.

Taps are taken one spatial axis at a time, and never through a tensor of more dimensions than
one more than the input has (LiteRT runs slices and element-wise ops on at most 5-D
tensors). A strided tap ``x[o::s]`` along an axis is taken without a strided slice (whose
gradient is slow): the padded axis of length ``s*B`` is reshaped to ``(B, s)`` (so
``(N, H, W, C)`` becomes ``(N, B, s, W, C)`` for the height, ``(N, H, B, s, C)`` for the
width: five dimensions), and the tap is the contiguous slice ``[o//s : o//s + out]`` at
phase ``o % s``. Its gradient is then a pad. (Folding both axes at once would take six.)

Lengths may be unknown when the graph is traced (a network built for any image size, run
in a ``tf.function`` that generalises over sizes): every length here is then the tensor
``ops.shape`` gives, and the same arithmetic runs on it.
"""

from __future__ import annotations

from keras import ops

from layers.arithmetic import axis_padding, effective_kernel_size


def _known(*values) -> bool:
    return all(isinstance(v, int) for v in values)


def window_geometry(x, window, strides, dilation, padding):
    """(pads, out_sizes) of a window over each spatial axis of ``x`` (N, *spatial, C).

    ``pads`` holds the zeros (before, after) per axis, ``out_sizes`` the output lengths; each
    is an int, or a tensor where the input's length is only known when the graph runs (pads
    only for "same" at a stride: at stride 1 they are extent - 1 whatever the length, so the
    forms that need no padding, such as 1x1 kernels, are recognised there too).
    """
    pads, out_sizes = [], []
    for axis, length in enumerate(ops.shape(x)[1:-1]):
        pad = padding if isinstance(padding, str) else padding[axis]
        k, s, d = window[axis], strides[axis], dilation[axis]
        extent = effective_kernel_size(k, d)
        if _known(length) or pad != "same" or s == 1:  # at stride 1, "same" adds extent - 1
            before, after = axis_padding(length if _known(length) else 0, k, s, d, pad)
        else:
            total = ops.maximum((-(-length // s) - 1) * s + extent - length, 0)
            before, after = total // 2, total - total // 2
        pads.append((before, after))
        out_sizes.append((length + before + after - extent) // s + 1)
    return pads, out_sizes


def pad_for_windows(x, pads, kernel, strides, dilation, out_sizes, value=0.0):
    """Pad (or crop) each spatial axis of ``x`` (N, *spatial, C) to what the taps read.

    ``pads`` holds the (before, after) padding per axis; the length each axis ends up with
    is ``s * ((k-1)*d // s + out)``, a multiple of the stride, so that it can be folded.
    """
    shape = list(ops.shape(x))
    spatial = shape[1:-1]
    widths, sizes = [(0, 0)], []
    crop = False
    for length, (before, _), k, s, d, out in zip(
        spatial, pads, kernel, strides, dilation, out_sizes, strict=True
    ):
        needed = s * ((k - 1) * d // s + out)
        after = needed - length - before
        if _known(after):
            crop = crop or after < 0
        else:  # unknown length: pad what may be missing, then cut what may be too much
            crop, after = True, ops.maximum(after, 0)
        widths.append((before, after))
        sizes.append(needed)
    widths.append((0, 0))
    if not crop:
        return ops.pad(x, widths, constant_values=value) if any(
            not _known(b, a) or b or a for b, a in widths) else x
    if _known(*spatial, *sizes):
        kept = [min(length, needed - before) for length, needed, (before, _) in zip(
            spatial, sizes, widths[1:-1], strict=True)]
        x = ops.slice(x, [0] * len(shape), [shape[0], *kept, shape[-1]])
        widths = [(b, max(a, 0)) for b, a in widths]
        return ops.pad(x, widths, constant_values=value) if any(b or a for b, a in widths) else x
    x = ops.pad(x, [(b, max(a, 0) if _known(a) else a) for b, a in widths], constant_values=value)
    return ops.slice(x, [0] * len(shape), [shape[0], *sizes, shape[-1]])


def axis_taps(x, axis, kernel, stride, dilation, out):
    """The ``kernel`` taps of a window sliding along spatial ``axis`` (0-based) of ``x``.

    ``x`` is (N, *spatial, C) as ``pad_for_windows`` leaves it. Tap ``j`` holds, along that
    axis, the cells ``j*dilation + stride*i`` for ``i < out``; the other axes are unchanged.
    """
    shape = list(ops.shape(x))
    batch = shape[0]
    position = axis + 1
    if stride == 1:
        taps = []
        for j in range(kernel):
            start = [0] * len(shape)
            start[position] = j * dilation
            size = [batch, *shape[1:]]
            size[position] = out
            taps.append(ops.slice(x, start, size))
        return taps
    outer, trailing = list(shape[1:position]), list(shape[position + 1 :])
    folded = ops.reshape(x, [-1, *outer, shape[position] // stride, stride, *trailing])
    taps = []
    for j in range(kernel):
        offset = j * dilation
        start = [0] * (len(shape) + 1)
        start[position], start[position + 1] = offset // stride, offset % stride
        size = [batch, *outer, out, 1, *trailing]
        tap = ops.slice(folded, start, size)
        taps.append(ops.reshape(tap, [-1, *outer, out, *trailing]))
    return taps


def untap(taps, axis, length, stride, out):
    """The transpose of ``axis_taps`` (dilation 1): each tap added back where it was read.

    ``taps`` are shaped like ``axis_taps``' results over an axis of ``length`` cells (as
    ``pad_for_windows`` left it); the sum has the input's shape. Hand-written gradients use
    it: one pad per tap in the folded layout, then one reshape.
    """
    shape = list(ops.shape(taps[0]))
    position = axis + 1
    rank = len(shape)
    total = None
    if stride == 1:
        for j, tap in enumerate(taps):
            widths = [(0, 0)] * rank
            widths[position] = (j, length - j - out)
            padded = ops.pad(tap, widths)
            total = padded if total is None else ops.add(total, padded)
        return total
    outer, trailing = list(shape[1:position]), list(shape[position + 1 :])
    blocks = length // stride
    for j, tap in enumerate(taps):
        block, phase = j // stride, j % stride
        folded = ops.reshape(tap, [-1, *outer, out, 1, *trailing])
        widths = [(0, 0)] * (rank + 1)
        widths[position] = (block, blocks - block - out)
        widths[position + 1] = (phase, stride - phase - 1)
        padded = ops.pad(folded, widths)
        total = padded if total is None else ops.add(total, padded)
    return ops.reshape(total, [-1, *outer, length, *trailing])


def window_taps(x, kernel, strides, dilation, out_sizes):
    """Every tap of the window over ``x`` from ``pad_for_windows``, in row-major kernel order.

    Returns ``prod(kernel)`` tensors of shape (N, *out_sizes, C), taken one axis at a time
    with ``axis_taps`` (so never through more dimensions than ``x`` has).
    """
    taps = [x]
    for axis, (k, s, d, out) in enumerate(zip(kernel, strides, dilation, out_sizes, strict=True)):
        taps = [tap for whole in taps for tap in axis_taps(whole, axis, k, s, d, out)]
    return taps


def joined(parts, axis):
    """``parts`` concatenated along ``axis``; a single part as it is, with no op around it."""
    return parts[0] if len(parts) == 1 else ops.concatenate(parts, axis=axis)


def side_by_side(taps):
    """Taps of the same shape (..., depth) side by side, one row of ``len(taps) * depth``
    values per position, as the matmul that follows takes them.

    They are stacked on an axis before their last, not joined along it: XLA on CPU computes a
    concatenation along the last axis (of 128 values or more) as copies of its parts followed
    by a join, but fuses one along an outer axis of at most 8 parts into a single loop, so
    the rows are written once.
    """
    depth = taps[0].shape[-1]
    if len(taps) == 1:
        return ops.reshape(taps[0], (-1, depth))
    rows = [ops.reshape(tap, (-1, 1, depth)) for tap in taps]
    return ops.reshape(ops.concatenate(rows, axis=1), (-1, len(taps) * depth))
