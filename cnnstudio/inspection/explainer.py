"""The convolution explainer: what one conv or pool layer computes, window by window.

The output numbers come from our own layers (``layers.Conv1D`` ... ``layers.AvgPool2D``),
the same code the networks run, with the kernel set as weights, bias 0 and no activation.
The per-window breakdown (which inputs, which weights, the products and their sum) is
computed here in numpy and checked against the layer's output, so what the learner reads
is what the network computes. Like Keras, "convolution" is cross-correlation: no flip.
Keras is imported only when a layer runs, so parsing and the matrices stay light.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cnnstudio.analysis import fields
from cnnstudio.network import catalog
from layers import arithmetic


def _explained_types() -> list[catalog.LayerType]:
    """The catalog types the explainer shows (their ``explain`` kind set), by kind then rank."""
    types = [t for t in catalog.CATALOG.values() if t.explain]
    return sorted(types, key=lambda t: (catalog.Explain.ALL.index(t.explain), t.rank))


OPERATIONS: dict[str, tuple[str, int]] = {t.name.lower(): (t.explain, t.rank) for t in _explained_types()}
"""Operation name (the layer type in lower case) -> (kind, spatial rank). Kinds: conv, max, avg."""


def layer_type_for(kind: str, rank: int) -> catalog.LayerType:
    """The catalog type the explainer runs for an operation kind (``catalog.Explain``) and rank."""
    for t in _explained_types():
        if t.explain == kind and t.rank == rank:
            return t
    raise ExplainError(f"No layer type explains {kind} windows in {rank}D. Expected one of "
                       f"{', '.join(OPERATIONS)}. Received: kind={kind!r}, rank={rank!r}")


class ExplainError(ValueError):
    """An input, kernel or setting the explainer cannot use, with what to change."""


def operation_for_layer(layer_type: str) -> str:
    """The explainer's operation for a catalog layer type, e.g. "MaxPool2D" -> "maxpool2d"."""
    for t in _explained_types():
        if t.name == layer_type:
            return t.name.lower()
    names = ", ".join(t.name for t in _explained_types())
    raise ExplainError(
        f"The explainer shows convolution and pooling layers only. Expected one of {names}. "
        f"Received: layer_type={layer_type!r}"
    )


def _operand(value: float) -> str:
    """A number inside a product: negatives in parentheses, so "1*(-1)" reads as it does on paper."""
    text = format_number(value)
    return f"({text})" if text.startswith("-") else text


def format_number(value: float) -> str:
    """A short, exact-looking number: 1 rather than 1.0, 0.3333 rather than 0.33333334."""
    value = float(value)
    if value == 0:
        return "0"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.4g}"


# --- parsing -----------------------------------------------------------------------------


def parse_values(text: str, rank: int, what: str = "input") -> np.ndarray:
    """A vector ("0,1,0") or grid ("1,0;0,1", rows split by ';' or new lines) of numbers."""
    if not isinstance(text, str) or not text.strip():
        raise ExplainError(
            f"The {what} is empty. Expected numbers separated by commas"
            f"{', rows separated by semicolons' if rank == 2 else ''}. Received: {what}={text!r}"
        )
    rows_text = [r for r in text.replace("\n", ";").split(";") if r.strip()]
    if rank == 1 and len(rows_text) > 1:
        raise ExplainError(
            f"The {what} of a 1D operation is one row of numbers, but it has {len(rows_text)} rows. "
            f"Expected numbers separated by commas, with no semicolons. Received: {what}={text!r}"
        )
    rows = []
    for r, row_text in enumerate(rows_text):
        row = []
        for token in row_text.replace(",", " ").split():
            try:
                number = float(token)
            except ValueError:
                raise ExplainError(
                    f"{token!r} in row {r + 1} of the {what} is not a number. "
                    f"Expected numbers such as 0, -1 or 0.5. Received: {what}={text!r}"
                ) from None
            if not math.isfinite(number):
                raise ExplainError(
                    f"{token!r} in row {r + 1} of the {what} is not a finite number. "
                    f"Expected finite numbers. Received: {what}={text!r}"
                )
            row.append(number)
        rows.append(row)
    for r, row in enumerate(rows[1:], start=2):
        if len(row) != len(rows[0]):
            raise ExplainError(
                f"The {what}'s rows are ragged: row {r} has {len(row)} values but row 1 has "
                f"{len(rows[0])}. Expected every row to have the same number of values. "
                f"Received: {what}={text!r}"
            )
    array = np.asarray(rows, dtype=np.float64)
    return array[0] if rank == 1 else array


def format_values(array: np.ndarray) -> str:
    """The inverse of ``parse_values``: "0, 1" or "1, 0; 0, 1"."""
    array = np.asarray(array)
    if array.ndim == 1:
        return ", ".join(format_number(v) for v in array)
    return "; ".join(", ".join(format_number(v) for v in row) for row in array)


# --- the explanation -------------------------------------------------------------------


@dataclass(frozen=True)
class Tap:
    """One input a window reads: where in the kernel, where in the (padded) input, its value."""

    kernel_index: tuple[int, ...]
    padded_index: tuple[int, ...]
    input_index: tuple[int, ...] | None
    """None when the tap lands on padding."""
    value: float
    weight: float | None
    """The kernel weight (convolutions), None for pooling."""

    @property
    def is_padding(self) -> bool:
        return self.input_index is None


@dataclass(frozen=True)
class Window:
    """One output: the taps it reads and the value the layer computed there."""

    out_index: tuple[int, ...]
    taps: tuple[Tap, ...]
    value: float
    equation: str
    """e.g. "out[0] = 0*-1 + 1*1 = 1"."""


@dataclass(frozen=True)
class Explanation:
    operation: str
    kind: str
    rank: int
    input: np.ndarray
    kernel: np.ndarray | None
    window_shape: tuple[int, ...]
    strides: tuple[int, ...]
    dilation: tuple[int, ...]
    padding: tuple[tuple[int, int], ...]
    """Zeros (before, after) on each axis."""
    output: np.ndarray
    windows: tuple[Window, ...]
    formulas: tuple[str, ...]
    """The output size formula per axis."""
    warnings: tuple[str, ...]
    unused: np.ndarray
    """Boolean mask over the input: True where no window reads the cell."""

    @property
    def padded_shape(self) -> tuple[int, ...]:
        return tuple(n + b + a for n, (b, a) in zip(self.input.shape, self.padding, strict=True))

    @property
    def layer_class(self) -> str:
        return layer_type_for(self.kind, self.rank).keras_class_name

    def window_at(self, out_index: tuple[int, ...]) -> Window:
        flat = int(np.ravel_multi_index(out_index, self.output.shape))
        return self.windows[flat]

    def to_dict(self) -> dict[str, Any]:
        return {
            "operation": self.operation,
            "output": _rounded(self.output).tolist(),
            "output_shape": list(self.output.shape),
            "input_shape": list(self.input.shape),
            "padding": [list(p) for p in self.padding],
            "formula": list(self.formulas),
            "windows": [
                {"index": list(w.out_index), "equation": w.equation, "value": _rounded(w.value).item()}
                for w in self.windows
            ],
            "warnings": list(self.warnings),
        }


def _rounded(values) -> np.ndarray:
    """Float32 results shown to 7 significant digits, so 0.1 prints as 0.1."""
    return np.vectorize(lambda v: float(f"{v:.7g}"), otypes=[float])(np.asarray(values, dtype=float))


def _per_axis(value: Any, rank: int, name: str, minimum: int) -> tuple[int, ...]:
    """The layers' own per-axis parsing, its refusal raised as the explainer's error."""
    try:
        return arithmetic.normalize_tuple(value, rank, name, "", minimum=minimum)
    except ValueError as exc:
        raise ExplainError(str(exc)) from None


def _axis_paddings(padding: Any, rank: int) -> tuple[Any, ...]:
    if isinstance(padding, str):
        if padding.lower() not in ("valid", "same"):
            raise ExplainError(
                f'padding must be "valid", "same" or a number of zeros P >= 0. '
                f"Expected e.g. padding=\"same\" or padding=1. Received: padding={padding!r}"
            )
        return (padding.lower(),) * rank
    return _per_axis(padding, rank, "padding", 0)


def _axis_name(rank: int, axis: int) -> tuple[str, str]:
    """The axis' size name and its unit: ("width", "column")."""
    if rank == 1:
        return "length", "step"
    return ("height", "row") if axis == 0 else ("width", "column")


def explain_conv(
    input: Any, kernel: Any, strides: Any = 1, padding: Any = "valid", dilation_rate: Any = 1
) -> Explanation:
    """Explain a 1D or 2D convolution of ``input`` (vector or grid) with ``kernel``."""
    x = _as_values(input, "input")
    k = _as_values(kernel, "kernel")
    if k.ndim != x.ndim:
        raise ExplainError(
            f"The kernel must have as many axes as the input. Expected a {x.ndim}D kernel for a "
            f"{x.ndim}D input. Received: kernel shape={list(k.shape)}, input shape={list(x.shape)}"
        )
    return _explain("conv", x, k, k.shape, strides, padding, dilation_rate)


def explain_pool(
    input: Any, pool_size: Any = 2, strides: Any = None, padding: Any = "valid", mode: str = "max"
) -> Explanation:
    """Explain a 1D or 2D max or average pooling; ``strides`` None means ``pool_size``."""
    if mode not in ("max", "avg"):
        raise ExplainError(f'mode must be "max" or "avg". Expected one of max, avg. Received: mode={mode!r}')
    x = _as_values(input, "input")
    window = _per_axis(pool_size, x.ndim, "pool_size", 1)
    return _explain(mode, x, None, window, window if strides is None else strides, padding, 1)


def explain(operation: str, input: Any, kernel: Any = None, *, pool_size: Any = 2,
            strides: Any = None, padding: Any = "valid", dilation_rate: Any = 1) -> Explanation:
    """Explain ``operation`` (a key of OPERATIONS); the input's rank must match it."""
    if operation not in OPERATIONS:
        raise ExplainError(
            f"Unknown operation. Expected one of {', '.join(OPERATIONS)}. Received: operation={operation!r}"
        )
    kind, rank = OPERATIONS[operation]
    x = _as_values(input, "input")
    if x.ndim != rank:
        raise ExplainError(
            f"{operation} needs a {rank}D input. Expected "
            f"{'one row of numbers' if rank == 1 else 'a grid of numbers'}. Received: input shape={list(x.shape)}"
        )
    if kind == "conv":
        return explain_conv(x, kernel, 1 if strides is None else strides, padding, dilation_rate)
    return explain_pool(x, pool_size, strides, padding, kind)


def _as_values(values: Any, what: str) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ExplainError(
            f"The {what} must be a vector or grid of numbers with rows of equal length. "
            f"Expected e.g. [0, 1, 0] or [[1, 0], [0, 1]]. Received: {what}={values!r}"
        ) from None
    if array.ndim not in (1, 2) or array.size == 0:
        raise ExplainError(
            f"The {what} must be a non-empty vector (1D) or grid (2D) of numbers. "
            f"Expected 1 or 2 axes. Received: {what} shape={list(array.shape)}"
        )
    if not np.all(np.isfinite(array)):
        raise ExplainError(f"The {what} holds NaN or infinity. Expected finite numbers. Received: {what}={values!r}")
    return array


def _explain(kind, x, kernel, window, strides, padding, dilation_rate) -> Explanation:
    rank = x.ndim
    window = tuple(int(w) for w in window)
    strides = _per_axis(strides, rank, "strides", 1)
    dilation = _per_axis(dilation_rate, rank, "dilation_rate", 1)
    paddings = _axis_paddings(padding, rank)
    what = "kernel" if kind == "conv" else "pool"

    pads, out_shape, formulas, warnings = [], [], [], []
    for axis in range(rank):
        args = (x.shape[axis], window[axis], strides[axis], dilation[axis], paddings[axis])
        size_name, unit = _axis_name(rank, axis)
        out_len = arithmetic.axis_output_length(*args)
        before, after = arithmetic.axis_padding(*args)
        effective = arithmetic.effective_kernel_size(window[axis], dilation[axis])
        if out_len is None or out_len <= 0:
            raise ExplainError(
                f"The {what} does not fit: {what} {window[axis]}"
                f"{f' (spanning {effective} with dilation {dilation[axis]})' if effective != window[axis] else ''}"
                f" is larger than the {size_name} {x.shape[axis]} plus padding {before + after}. "
                f"Expected a smaller {what}, more padding or a larger input. "
                f"Received: {what}_size={window[axis]}, {size_name}={x.shape[axis]}, padding={paddings[axis]!r}"
            )
        pads.append((before, after))
        out_shape.append(out_len)
        formulas.append(arithmetic.axis_formula(*args))
        # as cnnstudio.analysis.shapes counts it: real cells after the last window (trailing zeros lose nothing)
        unused = before + x.shape[axis] - ((out_len - 1) * strides[axis] + effective)
        if unused > 0:
            warnings.append(
                f"{what.capitalize()} {effective} with stride {strides[axis]} on {size_name} "
                f"{x.shape[axis] + before + after} leaves {unused} {unit}{'s' if unused > 1 else ''} unused"
            )

    try:
        output = _run_layer(kind, x, kernel, window, strides, padding, dilation)
    except ValueError as exc:
        raise ExplainError(str(exc)) from None
    if output.shape != tuple(out_shape):
        raise RuntimeError(
            f"{layer_type_for(kind, rank).keras_class} returned shape {list(output.shape)} but "
            f"layers.arithmetic predicts {out_shape}; the explainer cannot line them up."
        )

    counts_padding = kind == "avg" and not isinstance(paddings[0], str)
    windows, read = [], np.zeros(x.shape, dtype=bool)
    for out_index in itertools.product(*(range(n) for n in out_shape)):
        taps = []
        for k_index in itertools.product(*(range(w) for w in window)):
            padded = tuple(o * s + k * d for o, s, k, d in zip(out_index, strides, k_index, dilation, strict=True))
            inside = tuple(p - b for p, (b, _) in zip(padded, pads, strict=True))
            in_input = all(0 <= i < n for i, n in zip(inside, x.shape, strict=True))
            if in_input:
                read[inside] = True
            taps.append(Tap(
                kernel_index=k_index,
                padded_index=padded,
                input_index=inside if in_input else None,
                value=float(x[inside]) if in_input else 0.0,
                weight=float(kernel[k_index]) if kernel is not None else None,
            ))
        expected, equation = _window_value(kind, out_index, taps, counts_padding)
        got = float(output[out_index])
        if not math.isclose(got, expected, rel_tol=1e-4, abs_tol=1e-4):
            raise RuntimeError(
                f"{layer_type_for(kind, rank).keras_class} computed {got} at {list(out_index)} but the "
                f"window's breakdown gives {expected}; the layer and the explainer disagree."
            )
        windows.append(Window(out_index, tuple(taps), got, f"{equation} = {format_number(got)}"))

    return Explanation(
        operation=f"{'conv' if kind == 'conv' else kind + 'pool'}{rank}d",
        kind=kind,
        rank=rank,
        input=x,
        kernel=kernel,
        window_shape=window,
        strides=strides,
        dilation=dilation,
        padding=tuple(pads),
        output=output,
        windows=tuple(windows),
        formulas=tuple(formulas),
        warnings=tuple(warnings),
        unused=~read,
    )


def _index_text(index: tuple[int, ...]) -> str:
    return f"out[{','.join(str(i) for i in index)}]"


def _window_value(kind: str, out_index: tuple[int, ...], taps: list[Tap],
                  counts_padding: bool) -> tuple[float, str]:
    """The numpy value of one window and its written-out computation (before "= result").

    As in ``layers.pooling``: max pooling never picks a padded cell; average pooling leaves
    them out with "same" (as Keras) but counts their zeros with an explicit P (as PyTorch).
    """
    name = _index_text(out_index)
    if kind == "conv":
        value = sum(t.value * t.weight for t in taps)
        terms = " + ".join(f"{_operand(t.value)}*{_operand(t.weight)}" for t in taps)
        return value, f"{name} = {terms}"
    values = [t.value for t in taps if counts_padding or not t.is_padding]
    listed = ", ".join(format_number(v) for v in values)
    if kind == "max":
        return max(values), f"{name} = max({listed})"
    return sum(values) / len(values), f"{name} = ({listed.replace(', ', ' + ')}) / {len(values)}"


def _run_layer(kind, x, kernel, window, strides, padding, dilation) -> np.ndarray:
    """Our layer's output on ``x`` (batch and channel axes added, then removed)."""
    from cnnstudio.models.builder import keras_class

    rank = x.ndim
    cls = keras_class(layer_type_for(kind, rank).name)
    batch = x.astype(np.float32)[None, ..., None]
    if kind == "conv":
        layer = cls(filters=1, kernel_size=window, strides=strides, padding=padding,
                    dilation_rate=dilation, activation="linear", use_bias=True)
        layer.build(batch.shape)
        layer.set_weights([kernel.astype(np.float32)[..., None, None], np.zeros((1,), np.float32)])
    else:
        layer = cls(pool_size=window, strides=strides, padding=padding)
    return np.asarray(layer(batch), dtype=np.float64)[0, ..., 0]


# --- the equivalent matrix of a 1D convolution ----------------------------------------


def _conv1d_geometry(kernel_size: int, length: int, strides: int, padding: Any, dilation_rate: int):
    kernel_size = _per_axis(kernel_size, 1, "kernel_size", 1)[0]
    length = _per_axis(length, 1, "length", 1)[0]
    strides = _per_axis(strides, 1, "strides", 1)[0]
    dilation_rate = _per_axis(dilation_rate, 1, "dilation_rate", 1)[0]
    pad = _axis_paddings(padding, 1)[0]
    args = (length, kernel_size, strides, dilation_rate, pad)
    out_len = arithmetic.axis_output_length(*args)
    if out_len is None or out_len <= 0:
        raise ExplainError(
            f"The kernel does not fit: kernel {kernel_size} with dilation {dilation_rate} is larger than "
            f"the length {length} plus padding. Expected a smaller kernel, more padding or a longer input. "
            f"Received: kernel_size={kernel_size}, length={length}, padding={padding!r}"
        )
    before, _ = arithmetic.axis_padding(*args)
    return kernel_size, length, strides, dilation_rate, before, out_len


def conv1d_weight_indices(kernel_size: int, length: int, strides: int = 1, padding: Any = "valid",
                          dilation_rate: int = 1) -> np.ndarray:
    """(outputs, inputs) ints: which kernel weight links each output to each input, -1 for none.

    Every row holds the same weight indices, shifted by the stride: the weight sharing a
    convolution is. Taps that fall on padding read zeros, so they have no column.
    """
    kernel_size, length, strides, dilation_rate, before, out_len = _conv1d_geometry(
        kernel_size, length, strides, padding, dilation_rate)
    return tap_indices(out_len, length, kernel_size, strides, dilation_rate, before)


def tap_indices(rows: int, columns: int, kernel_size: int, stride: int, dilation: int, offset: int) -> np.ndarray:
    """(rows, columns) ints: row r has tap k at column r*stride + k*dilation - offset, -1 elsewhere.

    A convolution's rows are its outputs, reading inputs; a transposed convolution's are its
    inputs, each placing a kernel copy into the outputs (so it transposes the result).
    """
    indices = np.full((rows, columns), -1, dtype=np.int64)
    for row in range(rows):
        for tap in range(kernel_size):
            column = row * stride + tap * dilation - offset
            if 0 <= column < columns:
                indices[row, column] = tap
    return indices


def row_kernel(kernel: Any, function: str) -> np.ndarray:
    """``kernel`` as one row of weights; ExplainError naming ``function`` for any other shape."""
    k = _as_values(kernel, "kernel")
    if k.ndim != 1:
        raise ExplainError(f"{function} needs a 1D kernel. Expected one row of weights. "
                           f"Received: kernel shape={list(k.shape)}")
    return k


def weights_at(kernel: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """The matrix with ``kernel[index]`` where ``indices`` names a tap and 0 where it holds -1."""
    return np.where(indices >= 0, kernel[np.maximum(indices, 0)], 0.0)


def conv1d_matrix(kernel: Any, length: int, strides: int = 1, padding: Any = "valid",
                  dilation_rate: int = 1) -> np.ndarray:
    """The (outputs, inputs) matrix M with ``M @ x`` equal to the 1D convolution of ``x``."""
    k = row_kernel(kernel, "conv1d_matrix")
    return weights_at(k, conv1d_weight_indices(k.size, length, strides, padding, dilation_rate))


# --- receptive field growth ----------------------------------------------------------


@dataclass(frozen=True)
class FieldGrowth:
    """One layer of a stack: its window and stride, and what one of its outputs sees."""

    name: str
    window: tuple[int, ...]
    """Effective window (dilation included) per axis; 1 for layers without a window."""
    stride: tuple[int, ...]
    receptive_field: tuple[int, ...]
    """Input cells one output sees, per axis."""
    jump: tuple[int, ...]
    """Input cells between neighbouring outputs, per axis."""


def receptive_field_growth(layers: Sequence[Any], rank: int = 2) -> list[FieldGrowth]:
    """How far each layer of a stack sees into the input: three 3x3 convolutions see 7x7.

    ``layers`` are LayerSpec-like objects (``name``, ``type``, ``params``) or dicts with the
    same keys. Layers without a window (activations, normalisation) see what their input saw.
    Each layer adds (window - 1) times the jump of the layer before; strides multiply the jump.
    """
    field_size, jump = (1,) * rank, (1,) * rank
    rows = []
    for i, layer in enumerate(layers):
        if isinstance(layer, dict):
            name, type_name, params = layer.get("name", f"layer {i + 1}"), layer.get("type"), layer.get("params", {})
        else:
            name, type_name, params = layer.name, layer.type, layer.params
        try:
            layer_type = catalog.get(type_name)
        except KeyError as exc:
            raise ExplainError(f"{exc.args[0]} Expected a catalog layer type. Received: type={type_name!r}") from None
        if layer_type.sees_whole_input:
            raise ExplainError(
                f"{name} ({type_name}) sees the whole input, so the growth stops before it. "
                f"Expected convolution, pooling or element-wise layers. Received: type={type_name!r}"
            )
        if layer_type.rank is not None and layer_type.rank != rank:
            raise ExplainError(f"{name} ({type_name}) reads {layer_type.rank}D inputs. Expected a layer type for "
                               f"{rank}D inputs. Received: type={type_name!r}")
        try:
            values = layer_type.resolved(layer_type.check_params(params))
        except catalog.ParamError as exc:
            raise ExplainError(f"{name} ({type_name}): {exc}. Received: {exc.param}={params.get(exc.param)!r}") from None
        axes = fields.windows(layer_type, values, rank)
        if axes is None:
            window, stride = (1,) * rank, (1,) * rank
        else:
            window, stride = tuple(w.extent for w in axes), tuple(w.stride for w in axes)
            field_size, jump = fields.grow(field_size, jump, axes)
        rows.append(FieldGrowth(str(name), window, stride, field_size, jump))
    return rows
