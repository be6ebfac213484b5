"""Sliding windows with ``keras.ops`` only: padding, and each window tap as one plain slice.

A strided tap ``x[o::s]`` is taken without a strided slice (whose gradient is slow): the
padded axis of length ``s*B`` is reshaped to ``(B, s)`` and the tap is the contiguous slice
``[o//s : o//s + out]`` at phase ``o % s``. Its gradient is then a pad.
"""

from __future__ import annotations

from keras import ops


def pad_for_windows(x, pads, kernel, strides, dilation, out_sizes, value=0.0):
    """Pad (or crop) each spatial axis of ``x`` (N, *spatial, C) to what the taps read.

    ``pads`` holds the (before, after) padding per axis; the length each axis ends up with
    is ``s * ((k-1)*d // s + out)``, a multiple of the stride, so that it can be folded.
    """
    spatial = x.shape[1:-1]
    widths = [(0, 0)]
    crop = False
    for length, (before, _), k, s, d, out in zip(
        spatial, pads, kernel, strides, dilation, out_sizes, strict=True
    ):
        needed = s * ((k - 1) * d // s + out)
        after = needed - length - before
        crop = crop or after < 0
        widths.append((before, after))
    widths.append((0, 0))
    if crop:
        inner = zip(spatial, widths[1:-1], strict=True)
        sizes = [min(length, length + after) for length, (_, after) in inner]
        x = ops.slice(x, [0] * len(x.shape), [ops.shape(x)[0], *sizes, x.shape[-1]])
        widths = [(b, max(a, 0)) for b, a in widths]
    if any(b or a for b, a in widths):
        x = ops.pad(x, widths, constant_values=value)
    return x


def window_taps(x, kernel, strides, dilation, out_sizes):
    """Every tap of the window over ``x`` from ``pad_for_windows``, in row-major kernel order.

    Returns ``prod(kernel)`` tensors of shape (N, *out_sizes, C).
    """
    batch, channels = ops.shape(x)[0], x.shape[-1]
    folded = any(s > 1 for s in strides)
    if folded:
        fold = [-1]
        for length, s in zip(x.shape[1:-1], strides, strict=True):
            fold += [length // s, s]
        x = ops.reshape(x, fold + [channels])
    taps = []
    for index in _kernel_indices(kernel):
        offsets = [i * d for i, d in zip(index, dilation, strict=True)]
        if folded:
            start = [0]
            size = [batch]
            for o, s, out in zip(offsets, strides, out_sizes, strict=True):
                start += [o // s, o % s]
                size += [out, 1]
            tap = ops.slice(x, start + [0], size + [channels])
            tap = ops.reshape(tap, [-1, *out_sizes, channels])
        else:
            tap = ops.slice(x, [0, *offsets, 0], [batch, *out_sizes, channels])
        taps.append(tap)
    return taps


def _kernel_indices(kernel):
    indices = [()]
    for k in kernel:
        indices = [index + (i,) for index in indices for i in range(k)]
    return indices
