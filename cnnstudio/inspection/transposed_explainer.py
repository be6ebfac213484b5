"""The transposed convolution explained: each input value scatters a scaled copy of the kernel.

Where a convolution gathers (each output reads a window of inputs), its transpose scatters:
input cell i adds ``x[i] * kernel`` into the output starting at ``i*S`` (taps ``D`` apart),
the copies overlap and add up, and the padding crops cells off the result. The numbers come
from our own ``layers.Conv1DTranspose``/``Conv2DTranspose`` (bias 0, no activation) and are
checked here against the scatter computed in numpy. As a matrix, the transposed convolution
is the transpose of the convolution that maps its output's length back to its input's.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np

from cnnstudio.inspection.explainer import (
    ExplainError,
    _as_values,
    _axis_paddings,
    _operand,
    _per_axis,
    _rounded,
    conv1d_matrix,
    format_number,
    row_kernel,
    tap_indices,
    weights_at,
)
from layers import arithmetic

OPERATIONS = {"conv1dtranspose": 1, "conv2dtranspose": 2}
"""Operation name (the layer type in lower case) -> spatial rank."""


@dataclass(frozen=True)
class Placement:
    """One kernel tap of an input's copy: where it lands and what it adds there."""

    kernel_index: tuple[int, ...]
    full_index: tuple[int, ...]
    """Where it lands in the uncropped result."""
    output_index: tuple[int, ...] | None
    """Where that is in the output; None when the padding crops it off."""
    product: float


@dataclass(frozen=True)
class Scatter:
    """One input value and the scaled kernel copy it adds to the output."""

    input_index: tuple[int, ...]
    value: float
    placements: tuple[Placement, ...]
    equation: str
    """e.g. "x[1] = 2 scatters 2*kernel = [2, (-2)] into out[2..3]"."""


@dataclass(frozen=True)
class TransposeExplanation:
    operation: str
    rank: int
    input: np.ndarray
    kernel: np.ndarray
    strides: tuple[int, ...]
    dilation: tuple[int, ...]
    crop: tuple[int, ...]
    """Cells cropped off the start of the full result, per axis."""
    full: np.ndarray
    """The sum of every copy before cropping."""
    output: np.ndarray
    scatters: tuple[Scatter, ...]
    sums: tuple[str, ...]
    """Per output cell, in order: the copies that add up there, e.g. "out[2] = 1*3 + 2*1 = 5"."""
    formulas: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "operation": self.operation,
            "output": _rounded(self.output).tolist(),
            "output_shape": list(self.output.shape),
            "input_shape": list(self.input.shape),
            "crop": list(self.crop),
            "formula": list(self.formulas),
            "scatters": [{"index": list(s.input_index), "equation": s.equation} for s in self.scatters],
            "sums": list(self.sums),
        }


def _index(name: str, index) -> str:
    return f"{name}[{','.join(str(i) for i in index)}]"


def explain_conv_transpose(input: Any, kernel: Any, strides: Any = 1, padding: Any = "valid",
                           output_padding: Any = None, dilation_rate: Any = 1) -> TransposeExplanation:
    """Explain a 1D or 2D transposed convolution of ``input`` with ``kernel``, copy by copy."""
    x, k = _as_values(input, "input"), _as_values(kernel, "kernel")
    rank = x.ndim
    if k.ndim != rank:
        raise ExplainError(
            f"The kernel must have as many axes as the input. Expected a {rank}D kernel for a "
            f"{rank}D input. Received: kernel shape={list(k.shape)}, input shape={list(x.shape)}"
        )
    strides = _per_axis(strides, rank, "strides", 1)
    dilation = _per_axis(dilation_rate, rank, "dilation_rate", 1)
    paddings = _axis_paddings(padding, rank)
    try:
        extras = arithmetic.normalize_output_padding(output_padding, rank, strides, "")
    except ValueError as exc:
        raise ExplainError(str(exc).lstrip(": ")) from None
    extras = extras or (None,) * rank
    crops, lengths, fulls, formulas = [], [], [], []
    for axis in range(rank):
        args = (x.shape[axis], k.shape[axis], strides[axis], dilation[axis], paddings[axis], extras[axis])
        length = arithmetic.axis_transpose_output_length(*args)
        if length < 1:
            raise ExplainError(
                f"Cropping {paddings[axis]} cells from each side leaves no output. Expected less padding. "
                f"Received: padding={padding!r}, input shape={list(x.shape)}, kernel shape={list(k.shape)}"
            )
        crops.append(arithmetic.transpose_axis_geometry(*args[1:])[0])
        lengths.append(length)
        fulls.append(max((x.shape[axis] - 1) * strides[axis] + dilation[axis] * (k.shape[axis] - 1) + 1,
                         crops[-1] + length))
        formulas.append(arithmetic.axis_transpose_formula(*args))

    full = np.zeros(fulls)
    contributions: dict[tuple[int, ...], list[str]] = {}
    scatters = []
    for i in itertools.product(*(range(n) for n in x.shape)):
        placements = []
        for j in itertools.product(*(range(n) for n in k.shape)):
            at = tuple(a * s + b * d for a, s, b, d in zip(i, strides, j, dilation, strict=True))
            out = tuple(p - c for p, c in zip(at, crops, strict=True))
            inside = all(0 <= o < n for o, n in zip(out, lengths, strict=True))
            product = float(x[i] * k[j])
            full[at] += product
            placements.append(Placement(j, at, out if inside else None, product))
            if inside:
                contributions.setdefault(out, []).append(f"{_operand(x[i])}*{_operand(k[j])}")
        copy = ", ".join(format_number(p.product) for p in placements)
        kept = [p.output_index for p in placements if p.output_index is not None]
        where = (f"out[{'..'.join(','.join(map(str, o)) for o in (kept[0], kept[-1]))}]" if kept
                 else "the cropped border only")
        scatters.append(Scatter(i, float(x[i]), tuple(placements),
                                f"{_index('x', i)} = {format_number(x[i])} scatters "
                                f"{_operand(x[i])}*kernel = [{copy}] into {where}"))
    index = tuple(slice(c, c + n) for c, n in zip(crops, lengths, strict=True))
    expected = full[index]
    output = _run_layer(x, k, strides, padding, None if output_padding is None else extras, dilation)
    if output.shape != expected.shape or not np.allclose(output, expected, rtol=1e-4, atol=1e-4):
        raise RuntimeError(
            f"layers.Conv{rank}DTranspose computed {output.tolist()} but the scattered copies add up to "
            f"{expected.tolist()}; the layer and the explainer disagree."
        )
    sums = []
    for out in itertools.product(*(range(n) for n in lengths)):
        terms = contributions.get(out)
        total = format_number(output[out])
        sums.append(f"{_index('out', out)} = {' + '.join(terms)} = {total}" if terms
                    else f"{_index('out', out)} = 0 (no copy reaches it)")
    return TransposeExplanation(f"conv{rank}dtranspose", rank, x, k, strides, dilation, tuple(crops), full,
                                output, tuple(scatters), tuple(sums), tuple(formulas))


def _run_layer(x, kernel, strides, padding, output_padding, dilation) -> np.ndarray:
    """Our transposed layer's output on ``x`` (batch and channel axes added, then removed)."""
    import layers

    cls = layers.Conv1DTranspose if x.ndim == 1 else layers.Conv2DTranspose
    batch = x.astype(np.float32)[None, ..., None]
    layer = cls(1, kernel.shape, strides=strides, padding=padding, output_padding=output_padding,
                dilation_rate=dilation, use_bias=False)
    layer.build(batch.shape)
    layer.set_weights([kernel.astype(np.float32)[..., None, None]])
    return np.asarray(layer(batch), dtype=np.float64)[0, ..., 0]


def conv1d_transpose_weight_indices(kernel_size: int, length: int, strides: int = 1, padding: Any = "valid",
                                    output_padding: int | None = None, dilation_rate: int = 1) -> np.ndarray:
    """(outputs, inputs) ints: which kernel weight input i's copy puts at each output, -1 for none.

    Column i is the kernel, starting S*i cells further down (minus the crop): every column
    holds the same weights, shifted by the stride, the transpose of a convolution's rows.
    """
    kernel_size = _per_axis(kernel_size, 1, "kernel_size", 1)[0]
    length = _per_axis(length, 1, "length", 1)[0]
    stride = _per_axis(strides, 1, "strides", 1)[0]
    dilation = _per_axis(dilation_rate, 1, "dilation_rate", 1)[0]
    pad = _axis_paddings(padding, 1)[0]
    try:
        extra = arithmetic.normalize_output_padding(output_padding, 1, (stride,), "")
    except ValueError as exc:
        raise ExplainError(str(exc).lstrip(": ")) from None
    extra = None if extra is None else extra[0]
    out_len = arithmetic.axis_transpose_output_length(length, kernel_size, stride, dilation, pad, extra)
    if out_len < 1:
        raise ExplainError(f"Cropping {pad} cells from each side leaves no output. Expected less padding. "
                           f"Received: padding={padding!r}, length={length}")
    crop, _ = arithmetic.transpose_axis_geometry(kernel_size, stride, dilation, pad, extra)
    return np.ascontiguousarray(tap_indices(length, out_len, kernel_size, stride, dilation, crop).T)


def conv1d_transpose_matrix(kernel: Any, length: int, strides: int = 1, padding: Any = "valid",
                            output_padding: int | None = None, dilation_rate: int = 1) -> np.ndarray:
    """The (outputs, inputs) matrix M with ``M @ x`` the 1D transposed convolution of ``x``.

    Column i holds input i's copy of the kernel, starting S*i cells further down: it is the
    transpose of :func:`conv1d_matrix` for the convolution from the output's length back to
    ``length`` (same kernel, stride, dilation and padding).
    """
    k = row_kernel(kernel, "conv1d_transpose_matrix")
    return weights_at(k, conv1d_transpose_weight_indices(k.size, length, strides, padding, output_padding,
                                                         dilation_rate))


def partial_output(e: TransposeExplanation, steps: int) -> np.ndarray:
    """The output after the first ``steps`` input cells (row-major) have scattered their copies."""
    out = np.zeros(e.output.shape)
    for scatter in e.scatters[:steps]:
        for p in scatter.placements:
            if p.output_index is not None:
                out[p.output_index] += p.product
    return out


def matching_convolution_matrix(kernel: Any, length: int, strides: int = 1, padding: Any = "valid",
                                output_padding: int | None = None, dilation_rate: int = 1) -> np.ndarray:
    """The convolution matrix whose transpose :func:`conv1d_transpose_matrix` is (same settings)."""
    k = _as_values(kernel, "kernel")
    pad = _axis_paddings(padding, 1)[0]
    stride, dilation = _per_axis(strides, 1, "strides", 1)[0], _per_axis(dilation_rate, 1, "dilation_rate", 1)[0]
    out_len = arithmetic.axis_transpose_output_length(length, k.size, stride, dilation, pad, output_padding)
    return conv1d_matrix(k, out_len, stride, pad, dilation)


def explained_sizes(e: TransposeExplanation) -> str:
    """One line of settings, as the explain command prints them."""
    parts = [f"input {'x'.join(map(str, e.input.shape))}", f"kernel {'x'.join(map(str, e.kernel.shape))}",
             f"stride {'x'.join(map(str, e.strides))}", f"crop {'x'.join(map(str, e.crop))}",
             f"dilation {'x'.join(map(str, e.dilation))}"]
    return ", ".join(parts)

