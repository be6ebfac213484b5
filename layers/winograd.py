"""Winograd's F(4x4, 3x3) convolution, and F(4, 5) / F(2, 7) along one axis, with ``keras.ops``
(pad, reshape, slice, concatenate, matmul).

A 3x3 stride-1 convolution computes each 4x4 block of outputs from the 6x6 input tile under
it with 36 products per channel pair instead of 144 (Lavin and Gray, 2015, points 0, +-1,
+-2 and infinity): the tile ``d`` becomes ``B^T d B``, the kernel ``g`` becomes ``G g G^T``,
the 36 transformed values are multiplied across channels as 36 batched matmuls, and
``A^T m A`` gives the 4x4 outputs. Each transform is two matmuls over all tiles at once, by
the 6x6 (or 4x6) constant along the tiles' rows and then along their columns, which XLA ran
4x faster than the same transform written as sums of slices, and 1.05-1.25x faster than one
36x36 matrix for both axes; the gradients are the transposed matmuls autodiff derives. The
tiles are gathered with one transpose, two slices and a concatenation per axis (``_tiles``):
XLA compiled 36 single slices 3.5x slower (2.0 s against 0.56 s for a layer's training step).

Along one axis (a Conv1D, or a kernel one row high), F(4, 5) and F(2, 7) take tiles of 8 cells
at the points 0, +-1, +-2, +-1/2 and infinity: 8 products per 4 (or 2) outputs instead of 20
(or 14), written the same way (``convolve_winograd_1d``, ``OUTPUTS_PER_TILE_1D``).

Fewer multiplications pay off only where the products dominate: from 16 channels and
filters up (on images above 16x16 with fewer filters than channels, more), on images that are
not too small (``MIN_CHANNELS``, ``MIN_LARGE_IMAGE_CHANNELS``, ``MIN_WORK``; see
``benchmarks/bench_layers.py``).
The transforms cost float32 round-off too: about 4e-6 of the largest output against 1e-6 for
the direct sum, so only float32 takes this form. No tensor has more than 5 dimensions (LiteRT's
limit).
"""

from __future__ import annotations

import contextlib
import math
import threading
from fractions import Fraction

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

_BT8 = np.array(
    [
        [-1, 0, 21 / 4, 0, -21 / 4, 0, 1, 0],
        [0, 1, 1, -17 / 4, -17 / 4, 1, 1, 0],
        [0, -1, 1, 17 / 4, -17 / 4, -1, 1, 0],
        [0, 1 / 2, 1 / 4, -5 / 2, -5 / 4, 2, 1, 0],
        [0, -1 / 2, 1 / 4, 5 / 2, -5 / 4, -2, 1, 0],
        [0, 2, 4, -5 / 2, -5, 1 / 2, 1, 0],
        [0, -2, 4, 5 / 2, -5, -1 / 2, 1, 0],
        [0, -1, 0, 21 / 4, 0, -21 / 4, 0, 1],
    ],
    dtype="float64",
)
"""Input transform of 8-cell tiles at the points 0, +-1, +-2, +-1/2 and infinity (the same for
every kernel length, since it depends on the points only)."""
_POINTS8 = tuple(Fraction(p) for p in (0, 1, -1, 2, -2, Fraction(1, 2), Fraction(-1, 2)))
OUTPUTS_PER_TILE_1D = {5: 4, 7: 2}
"""Kernel lengths that take the 1D form, and the outputs of each 8-cell tile: F(4, 5), F(2, 7).
Measured on a 2-core CPU (Conv1D training step with XLA against Keras' oneDNN convolution,
batch 64): 128x32 -> 64, kernel 5, 1.38x -> 1.18x Keras' time; 128x64 -> 128 1.33 -> 1.00;
a valid 101x48 -> 40 1.46 -> 1.03; 128x16 -> 16 1.02 -> 0.82; lengths 12 (0.83 -> 0.65) and
40 (1.17 -> 1.10) too; kernel 7 (F(2, 7)) 1.24 -> 1.16; kernel 3 (F(4, 3)) only tied (1.23
against 1.20, the 1D CNN's 20x32 -> 64 0.69 against 0.67), and 8 channels tied (0.86)."""

MIN_CHANNELS = 16
"""Input channels and filters below which the direct forms stay. One layer's training step with
XLA on a 2-core CPU, batch 64, direct against Winograd (Keras' oneDNN convolution): 16x16x16 ->
32 8.3 against 7.3 ms (5.2); 32x32x24 -> 24 31.6 against 29.1 (18.8); 32x32x16 -> 16 a tie
(18.4-19.6 against 18.9-19.4); 32x32x8 -> 16 10.5 against 9.5, too little to pay for the
0.2 s more that compiling takes."""
MIN_WORK = 2**17
"""Output cells times channels times filters per image below which the direct forms stay, as
measured like ``MIN_CHANNELS``: 8x8x32 -> 64 (2^17) 8.6 against 4.5 ms; below it 10x10x32 ->
32 7.0 against 8.9, 12x12x16 -> 16 3.9 against 4.5, and the 8x8 digits network's 6x6x32 -> 64
a tie (its tiles mostly padding), while compiling takes 0.1-0.25 s more each time."""

LARGE_IMAGE_CELLS = 16 * 16
MIN_LARGE_IMAGE_CHANNELS = 32
"""Above ``LARGE_IMAGE_CELLS`` output cells per image, fewer filters than channels need the
harmonic mean of the channels and filters, 2*C*F / (C + F), above ``MIN_LARGE_IMAGE_CHANNELS``
for Winograd: its transforms copy every tile (2.25x the input) and product, a cost per cell that
grows with C + F while the products it saves grow with C*F, and on large images those copies
leave the caches; the direct form with fewer filters than channels multiplies narrow products.
Measured on a 2-core AMD EPYC with AVX-512 at 32x32 (one layer's training step with bias and
ReLU, XLA, batch 64, ratios to Keras' in the same run, Winograd against the direct "shifted"
form): as many filters as channels or more, Winograd won: 16 -> 16 1.70 against 1.87, 16 -> 32
1.46 against 1.55, 24 -> 24 1.34 against 1.61, 32 -> 32 1.44-1.68 against 1.75-2.34, 64x64x32 ->
32 (batch 16) 1.38 against 1.79; with fewer filters it did not: 32 -> 16 1.89-2.22 against
1.88-2.13, 64 -> 32 1.64 against 1.54 (one run; with a harmonic mean of 42.7 it keeps Winograd,
which the earlier measurements below had winning from a mean of 43). In a whole small VGG (whose
32x32x32 -> 32 layer this moves to Winograd) XLA's profile of a training step gave that layer
19.8 against 26.2 ms, and interleaved epochs took 0.94x the time (CPU time 0.91x; rounds
0.81-1.24); the ResNet-style network's 32x32x16 -> 16 layers 0.97x (CPU 0.99x). The earlier
measurements on the same host, before the direct forms and the tiles changed (one layer's
training step with XLA, batch 64, ratios to Keras' oneDNN convolution in the same run, Winograd
against direct): 32x32x16 -> 16 2.48 against 1.91, 32x32x16 -> 32 1.89 against 1.58, 32x32x24 ->
24 1.87 against 1.66, 32x32x32 -> 32 (mean 32) 2.20 against 1.77 (a small VGG's epoch 1.32
against 1.19), 64x64x16 -> 16 (batch 16) 2.59 against 1.93; Winograd won from a mean of 43:
32x32x32 -> 64 1.29 against 1.37, dilated by 2 1.31 against 1.47, 32x32x64 -> 64 1.31 against
1.65, 64x64x64 -> 64 (batch 16) 1.41 against 1.76; and on 16x16 images over fewer channels:
16x16x16 -> 32 1.30 against 1.44, 16x16x32 -> 32 1.54 against 1.77, 16x16x64 -> 64 1.18 against
1.60. An earlier host (AVX2) had measured 32x32x16 -> 16 a tie and 32x32x24 -> 24 8% faster with
Winograd."""

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
    """Whether F(4x4, 3x3) is the cheaper, still exact form: a 3x3 kernel at stride 1 (dilated
    or not), at least ``MIN_CHANNELS`` input channels and filters (on large images with fewer
    filters than channels more: ``MIN_LARGE_IMAGE_CHANNELS``) and ``MIN_WORK`` per image,
    float32, lengths known when the graph is built (the tiles are counted from them), and not
    inside ``direct_sums``."""
    if (
        getattr(_direct, "depth", 0)
        or tuple(window) != (3, 3)
        or tuple(strides) != (1, 1)
        or min(channels, filters) < MIN_CHANNELS
        or keras.backend.standardize_dtype(dtype) != "float32"
        or not all(isinstance(length, int) for length in spatial)
    ):
        return False
    cells = 1
    for length, (before, after), rate in zip(spatial, pads, dilation, strict=True):
        cells *= max(length + before + after - 2 * rate, 0)
    if (cells > LARGE_IMAGE_CELLS and filters < channels
            and 2 * channels * filters <= MIN_LARGE_IMAGE_CHANNELS * (channels + filters)):
        return False
    return cells * channels * filters >= MIN_WORK


def winograd_1d_applies(channels, filters, length, taps, stride, dilation, dtype) -> bool:
    """Whether F(m, taps) on 8-cell tiles is the cheaper, still exact form of a convolution
    along one axis: a kernel of a length in ``OUTPUTS_PER_TILE_1D`` at stride 1, undilated, at
    least ``MIN_CHANNELS`` input channels and filters, float32, a length known when the graph
    is built, and not inside ``direct_sums``. Short lengths gain too (the tiles are small)."""
    return (
        not getattr(_direct, "depth", 0)
        and taps in OUTPUTS_PER_TILE_1D
        and stride == 1
        and dilation == 1
        and min(channels, filters) >= MIN_CHANNELS
        and keras.backend.standardize_dtype(dtype) == "float32"
        and isinstance(length, int)
    )


def _toom_cook(outputs, taps):
    """A^T (outputs x 8) and G (8 x taps) of F(outputs, taps) at ``_POINTS8`` and infinity,
    exact in rationals: A^T[i, k] = a_k^i, G[k, j] = a_k^j / prod_{l != k}(a_k - a_l), and the
    point at infinity takes the last output from the last tap."""
    at = [[point**i for point in _POINTS8] + [int(i == outputs - 1)] for i in range(outputs)]
    g = [
        [point**j / math.prod(point - other for other in _POINTS8 if other != point) for j in range(taps)]
        for point in _POINTS8
    ]
    g.append([int(j == taps - 1) for j in range(taps)])
    return np.array(at, dtype="float64"), np.array(g, dtype="float64")


def convolve_winograd_1d(x, kernel, pads, out_length):
    """Convolution of x (N, H, W, C) along its width with a kernel (taps, C, F), at stride 1,
    by F(m, taps) on tiles of 8 cells (``OUTPUTS_PER_TILE_1D``): 8 products per m outputs and
    channel pair instead of m*taps (2.5x fewer for a kernel of 5), the tiles 2x (m = 4) or 4x
    the input. Each row is folded into blocks of m cells, the m phases moved in front (one
    transpose) and the tiles cut as slices of whole blocks, as in ``_tiles``; the transforms
    are matmuls by the constants over all tiles; at most 4-D.

    ``pads`` holds the zeros (before, after) of the width; the row is padded on to whole tiles
    and the outputs past ``out_length`` are cut off.
    """
    taps, channels, filters = kernel.shape
    outputs = OUTPUTS_PER_TILE_1D[taps]
    at, g = _toom_cook(outputs, taps)
    tiles = -(-out_length // outputs)
    span = 8 // outputs  # blocks under a tile
    blocks = tiles + span - 1
    height, width = ops.shape(x)[1], x.shape[2]
    rows = ops.reshape(x, (-1, width, channels))
    rows = ops.pad(rows, [(0, 0), (pads[0], outputs * blocks - width - pads[0]), (0, 0)])
    count = ops.shape(rows)[0]
    by_phase = ops.transpose(ops.reshape(rows, (count, blocks, outputs, channels)), (2, 0, 1, 3))
    cells = _tile_cells(by_phase, 0, tiles, 8)  # (8 cells, rows, tiles, C)
    size = count * tiles
    values = ops.matmul(ops.convert_to_tensor(_BT8, dtype=x.dtype), ops.reshape(cells, (8, size * channels)))
    kernel_values = ops.einsum("kj,jcf->kcf", ops.convert_to_tensor(g, dtype=kernel.dtype), kernel)
    products = ops.matmul(ops.reshape(values, (8, size, channels)), kernel_values)
    y = ops.matmul(ops.convert_to_tensor(at, dtype=x.dtype), ops.reshape(products, (8, size * filters)))
    y = ops.transpose(ops.reshape(y, (outputs, count, tiles, filters)), (1, 2, 0, 3))
    y = ops.reshape(y, (count, tiles * outputs, filters))
    if tiles * outputs != out_length:
        y = ops.slice(y, [0, 0, 0], [count, out_length, filters])
    return ops.reshape(y, (-1, height, out_length, filters))


def convolve_dilated_winograd(x, kernel, dilation, pads, out_sizes):
    """A 3x3 convolution at stride 1 and ``dilation`` (dh, dw) as dh*dw undilated ones.

    Output cell ``d*q + r`` reads input cells ``d*(q + k) + r``: on each phase ``r`` of the
    padded input, a plain 3x3 convolution. The phases go into the batch (a reshape and a
    transpose per axis, in five dimensions), F(4x4, 3x3) convolves them all at once, and the
    inverse interleaves the outputs, as TensorFlow's atrous convolution does with
    space_to_batch.
    """
    if tuple(dilation) == (1, 1):
        return convolve_winograd(x, kernel, pads, out_sizes)
    (dh, dw), (out_h, out_w), channels, filters = dilation, out_sizes, x.shape[-1], kernel.shape[-1]
    height, width = x.shape[1] + sum(pads[0]), x.shape[2] + sum(pads[1])
    rows, cols = -(-height // dh), -(-width // dw)
    x = ops.pad(x, [(0, 0), (pads[0][0], dh * rows - x.shape[1] - pads[0][0]),
                    (pads[1][0], dw * cols - x.shape[2] - pads[1][0]), (0, 0)])
    batch = ops.shape(x)[0]
    x = ops.transpose(ops.reshape(x, (-1, rows, dh, dw * cols, channels)), (0, 2, 1, 3, 4))
    x = ops.reshape(x, (batch * dh, rows, cols, dw, channels))
    phases = ops.reshape(ops.transpose(x, (0, 3, 1, 2, 4)), (batch * dh * dw, rows, cols, channels))
    y = convolve_winograd(phases, kernel, [(0, 0), (0, 0)], (rows - 2, cols - 2))
    y = ops.transpose(ops.reshape(y, (batch * dh, dw, rows - 2, cols - 2, filters)), (0, 2, 3, 1, 4))
    y = ops.reshape(y, (batch, dh, rows - 2, (cols - 2) * dw, filters))
    y = ops.reshape(ops.transpose(y, (0, 2, 1, 3, 4)), (batch, (rows - 2) * dh, (cols - 2) * dw, filters))
    return ops.slice(y, [0, 0, 0, 0], [batch, out_h, out_w, filters])


def _tiles(x, tiles_h, tiles_w):
    """Every 6x6 input tile of a padded x (N, 4*(tiles_h+1), 4*(tiles_w+1), C), cell-major:
    (6, 6 * N*tiles_h*tiles_w * C), cell (i, j) of every tile in one row, as the transform's
    matmul takes them.

    Cell ``a`` of tile ``t`` along an axis (cell ``4t + a``) is block ``t + a // 4`` at phase
    ``a % 4``: cells 0-3 are the four phases of blocks 0..tiles-1, cells 4-5 phases 0-1 of
    blocks 1..tiles. Each axis is folded into (blocks, phases), the phases moved in front
    (one transpose), and the six cells cut as two slices of whole blocks and concatenated
    there: the rows while the input is its own size, then the columns at 1.5x. Gathering
    first and moving the cells in front last transposed the whole 2.25x copy: in a small
    VGG's 32x32x32 -> 32 training step that transpose was the costliest single operation,
    and this order took 37-46 against 44-56 ms (Keras 24-27 ms).
    """
    batch, width, channels = ops.shape(x)[0], x.shape[2], x.shape[-1]
    by_rows = ops.transpose(ops.reshape(x, (batch, tiles_h + 1, _TILE, width, channels)), (2, 0, 1, 3, 4))
    rows = _tile_cells(by_rows, 0, tiles_h, 6)  # (6 row cells, N, tiles_h, width, C)
    rows = ops.reshape(rows, (6, batch * tiles_h, tiles_w + 1, _TILE, channels))
    by_columns = ops.transpose(rows, (0, 3, 1, 2, 4))  # (6, 4 phases, N*tiles_h, tiles_w + 1, C)
    cells = _tile_cells(by_columns, 1, tiles_w, 6)  # (6 row cells, 6 column cells, N*tiles_h, tiles_w, C)
    return ops.reshape(cells, (6, 6 * batch * tiles_h * tiles_w * channels))


def _tile_cells(folded, axis, tiles, cells):
    """The ``cells`` cells of every tile from ``folded``, whose ``axis`` holds each block's
    phases and whose axis two later holds the blocks: for each block under a tile (blocks
    0..tiles-1, then 1..tiles, ...), its phases (of the last only as many as remain), cut as
    one slice of whole blocks and concatenated along ``axis``. F(4x4, 3x3): 4 phases, 6 cells;
    F(4, 5): 4 phases, 8 cells; F(2, 7): 2 phases, 8 cells."""
    phases = folded.shape[axis]
    size = list(ops.shape(folded))
    size[axis + 2] = tiles
    parts = []
    for block in range(-(-cells // phases)):
        start = [0] * len(size)
        start[axis + 2] = block
        size[axis] = min(phases, cells - block * phases)
        parts.append(ops.slice(folded, start, list(size)))
    return ops.concatenate(parts, axis=axis)


def _transform_both_axes(matrix, values, size):
    """``matrix @ v @ matrix^T`` for every 6x6 tile ``v`` of ``values`` (6, 6 * size), the rows
    first: one matmul along the rows, then one batched matmul along the columns. Per tile that
    is 6*6*6 + 6*6*6 multiply-adds for the input transform and 4*6*6 + 4*4*6 for the output
    one, against 36*36 and 16*36 for one matrix of both at once (``np.kron``): a training step
    with XLA took 7.8 against 9.8 ms (64x16x16x32 -> 32) and 51 against 54 ms (64x32x32x32 ->
    64)."""
    rows = matrix.shape[0]
    matrix = ops.convert_to_tensor(matrix, dtype=values.dtype)
    along_rows = ops.reshape(ops.matmul(matrix, values), (rows, 6, size))
    return ops.matmul(ops.broadcast_to(matrix, (rows, rows, 6)), along_rows)


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
    # Every shape spelled out (the batch may be a tensor): LiteRT's converter multiplied a -1 that
    # was not the first dimension instead of inferring it.
    rows = ops.shape(x)[0] * tiles_h
    count = rows * tiles_w
    values = ops.reshape(_transform_both_axes(_BT, _tiles(x, tiles_h, tiles_w), count * channels),
                         (36, count, channels))
    g = ops.convert_to_tensor(_G, dtype=kernel.dtype)
    kernel_values = ops.reshape(ops.einsum("ai,ijcf,bj->abcf", g, kernel, g), (36, channels, filters))
    products = ops.reshape(ops.matmul(values, kernel_values), (6, 6 * count * filters))
    blocks = ops.reshape(
        _transform_both_axes(_AT, products, count * filters), (_TILE, _TILE, rows, tiles_w, filters)
    )
    outputs = ops.reshape(
        ops.transpose(blocks, (2, 0, 3, 1, 4)), (-1, _TILE * tiles_h, _TILE * tiles_w, filters)
    )
    if (_TILE * tiles_h, _TILE * tiles_w) == (out_h, out_w):
        return outputs
    return ops.slice(outputs, [0, 0, 0, 0], [ops.shape(outputs)[0], out_h, out_w, filters])
