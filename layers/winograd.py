"""Winograd's F(4x4, 3x3) convolution with ``keras.ops`` (pad, reshape, slice, stack, matmul).

A 3x3 stride-1 convolution computes each 4x4 block of outputs from the 6x6 input tile under
it with 36 products per channel pair instead of 144 (Lavin and Gray, 2015, points 0, +-1,
+-2 and infinity): the tile ``d`` becomes ``B^T d B``, the kernel ``g`` becomes ``G g G^T``,
the 36 transformed values are multiplied across channels as 36 batched matmuls, and
``A^T m A`` gives the 4x4 outputs. Each transform is one matmul by a constant 36x36 (or
16x36) matrix over all tiles at once, which XLA runs far faster than the same transform
written as sums of slices; the gradients are the transposed matmuls autodiff derives.

Fewer multiplications pay off only where the products dominate: with 32 channels and
filters or more, a training step with XLA ran 1.4-1.9x faster than the shifted-rows form on
a 2-core CPU (64x32x32x32 -> 64: 34 ms against 56 ms; Keras' oneDNN convolution 27 ms), and
slower with 16 channels or fewer (see ``benchmarks/bench_layers.py``). The transforms cost
float32 round-off too: about 4e-6 of the largest output against 1e-6 for the direct sum, so
only float32 takes this form. No tensor has more than 5 dimensions (LiteRT's limit).
"""

from __future__ import annotations

import contextlib
import threading

import keras
import numpy as np
from keras import ops

_TILE = 4  # outputs per tile and axis; the input tile is _TILE + 2

_BT = np.array(
    [
        [4, 0, -5, 0, 1, 0],
        [0, -4, -4, 1, 1, 0],
        [0, 4, -4, -1, 1, 0],
        [0, -2, -1, 2, 1, 0],
        [0, 2, -1, -2, 1, 0],
        [0, 4, 0, -5, 0, 1],
    ],
    dtype="float64",
)
_G = np.array(
    [
        [1 / 4, 0, 0],
        [-1 / 6, -1 / 6, -1 / 6],
        [-1 / 6, 1 / 6, -1 / 6],
        [1 / 24, 1 / 12, 1 / 6],
        [1 / 24, -1 / 12, 1 / 6],
        [0, 0, 1],
    ],
    dtype="float64",
)
_AT = np.array(
    [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]],
    dtype="float64",
)
# The 2D transforms over the 36 tile values in row-major order (row * 6 + column).
_INPUT_TRANSFORM = np.kron(_BT, _BT)
_OUTPUT_TRANSFORM = np.kron(_AT, _AT)

MIN_CHANNELS = 32
MIN_WORK = 2**20
"""Output cells times channels times filters per image below which the direct forms stay: XLA
compiles a Winograd step 4-8x slower (2 s against 0.3-0.5 s for one layer's training step), which
a 32x32x32 -> 64 layer earns back within ~80 steps and an 8x8 one never (1.75 against 1.72 ms a
step: the 8x8 digits network trained 3x slower to its first epoch)."""

_direct = threading.local()


@contextlib.contextmanager
def direct_sums():
    """Within it, graphs traced on this thread take the direct forms instead: a quantized
    export rounds every tensor to 8-bit steps, and the transforms (coefficients up to 8, sums of
    up to 36 terms) would multiply that rounding error."""
    depth = getattr(_direct, "depth", 0)
    _direct.depth = depth + 1
    try:
        yield
    finally:
        _direct.depth = depth


def winograd_applies(channels, filters, spatial, window, strides, dilation, pads, dtype) -> bool:
    """Whether F(4x4, 3x3) is the cheaper, still exact form: a 3x3 kernel at stride 1 without
    dilation, at least ``MIN_CHANNELS`` input channels and filters and ``MIN_WORK`` per image,
    float32, lengths known when the graph is built (the tiles are counted from them), and not
    inside ``direct_sums``."""
    if (
        getattr(_direct, "depth", 0)
        or tuple(window) != (3, 3)
        or tuple(strides) != (1, 1)
        or tuple(dilation) != (1, 1)
        or min(channels, filters) < MIN_CHANNELS
        or keras.backend.standardize_dtype(dtype) != "float32"
        or not all(isinstance(length, int) for length in spatial)
    ):
        return False
    cells = 1
    for length, (before, after) in zip(spatial, pads, strict=True):
        cells *= max(length + before + after - 2, 0)
    return cells * channels * filters >= MIN_WORK


def _tile_taps(x, axis, tiles):
    """The six rows (``axis`` 1) or columns (``axis`` 2) of every input tile along that axis.

    ``x`` has ``_TILE * (tiles + 1)`` cells on the axis; folded into (tiles + 1, _TILE) blocks,
    tap ``a`` of tile ``t`` (cell ``_TILE*t + a``) is block ``t + a // _TILE`` at phase
    ``a % _TILE``: one slice of ``tiles`` blocks per tap, in five dimensions.
    """
    batch, first, second, channels = ops.shape(x)
    if axis == 1:
        folded = ops.reshape(x, (-1, tiles + 1, _TILE, second, channels))
        size, kept = [batch, tiles, 1, second, channels], (-1, tiles, second, channels)
        starts = [[0, a // _TILE, a % _TILE, 0, 0] for a in range(_TILE + 2)]
    else:
        folded = ops.reshape(x, (-1, first, tiles + 1, _TILE, channels))
        size, kept = [batch, first, tiles, 1, channels], (-1, first, tiles, channels)
        starts = [[0, 0, a // _TILE, a % _TILE, 0] for a in range(_TILE + 2)]
    return [ops.reshape(ops.slice(folded, start, size), kept) for start in starts]


def convolve_winograd(x, kernel, pads, out_sizes):
    """3x3 stride-1 convolution of x (N, H, W, C) with a kernel (3, 3, C, F) by F(4x4, 3x3).

    ``pads`` holds the zeros (before, after) per axis and ``out_sizes`` the output lengths, as
    ``layers.windows.window_geometry`` gives them; the input is padded on to whole tiles and
    the outputs past ``out_sizes`` are cut off.
    """
    (out_h, out_w), channels, filters = out_sizes, x.shape[-1], kernel.shape[-1]
    tiles_h, tiles_w = -(-out_h // _TILE), -(-out_w // _TILE)
    height, width = x.shape[1], x.shape[2]
    x = ops.pad(
        x,
        [
            (0, 0),
            (pads[0][0], _TILE * (tiles_h + 1) - height - pads[0][0]),
            (pads[1][0], _TILE * (tiles_w + 1) - width - pads[1][0]),
            (0, 0),
        ],
    )
    taps = [col for row in _tile_taps(x, 1, tiles_h) for col in _tile_taps(row, 2, tiles_w)]
    # Every shape spelled out (the batch may be a tensor): LiteRT's converter multiplied a -1 that
    # was not the first dimension instead of inferring it.
    rows = ops.shape(x)[0] * tiles_h
    count = rows * tiles_w
    tiles = ops.reshape(ops.stack(taps, axis=0), (36, count * channels))
    to_values = ops.convert_to_tensor(_INPUT_TRANSFORM, dtype=x.dtype)
    values = ops.reshape(ops.matmul(to_values, tiles), (36, count, channels))
    g = ops.convert_to_tensor(_G, dtype=kernel.dtype)
    kernel_values = ops.reshape(ops.einsum("ai,ijcf,bj->abcf", g, kernel, g), (36, channels, filters))
    products = ops.reshape(ops.matmul(values, kernel_values), (36, count * filters))
    to_outputs = ops.convert_to_tensor(_OUTPUT_TRANSFORM, dtype=x.dtype)
    blocks = ops.reshape(ops.matmul(to_outputs, products), (_TILE, _TILE, rows, tiles_w, filters))
    outputs = ops.reshape(
        ops.transpose(blocks, (2, 0, 3, 1, 4)), (-1, _TILE * tiles_h, _TILE * tiles_w, filters)
    )
    if (_TILE * tiles_h, _TILE * tiles_w) == (out_h, out_w):
        return outputs
    return ops.slice(outputs, [0, 0, 0, 0], [ops.shape(outputs)[0], out_h, out_w, filters])
