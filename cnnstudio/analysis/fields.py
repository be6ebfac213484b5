"""Window geometry: how the outputs of a layer see its input, for every catalog type.

Shape inference (receptive field and jump per layer), inspection (the box of input pixels
one unit depends on) and the explainer (how far a stack of layers sees) all read a layer's
window here, from the hyperparameters its catalog entry names (``LayerType.window``), so
the three cannot disagree. Pure Python, like the rest of analysis.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import layers.arithmetic as arithmetic
from cnnstudio.network import catalog


@dataclass(frozen=True)
class AxisWindow:
    """A layer's window on one spatial axis: size F, stride S, dilation D and padding."""

    size: int
    stride: int
    dilation: int
    padding: str | int
    transposed: bool = False
    """A transposed convolution: input i scatters the kernel to outputs ``S*i + j*D - crop``."""
    output_padding: int | None = None

    @property
    def extent(self) -> int:
        """Input cells one window covers: ``D*(F-1)+1`` (a transposed one: the inputs one output reads)."""
        extent = arithmetic.effective_kernel_size(self.size, self.dilation)
        return -(-extent // self.stride) if self.transposed else extent

    def span(self, first: int, last: int, length: int) -> tuple[int, int]:
        """Input range [a, b] (inclusive, unclipped) that outputs ``first..last`` read.

        ``length`` is the input's length on this axis ("same" padding depends on it).
        """
        if self.transposed:
            crop, _ = arithmetic.transpose_axis_geometry(
                self.size, self.stride, self.dilation, self.padding, self.output_padding)
            reach = arithmetic.effective_kernel_size(self.size, self.dilation) - 1
            return -(-(first + crop - reach) // self.stride), (last + crop) // self.stride
        before = arithmetic.axis_padding(length, self.size, self.stride, self.dilation, self.padding)[0]
        return first * self.stride - before, last * self.stride - before + self.extent - 1


def _per_axis(value: Any, rank: int) -> tuple:
    return tuple(value) if isinstance(value, (list, tuple)) else (value,) * rank


def windows(layer_type: catalog.LayerType, config: dict[str, Any], rank: int) -> tuple[AxisWindow, ...] | None:
    """Per spatial axis, the window of a layer that slides one; None for layers without one.

    ``config`` holds the layer's resolved hyperparameters (see ``LayerType.resolved``).
    """
    window = layer_type.window
    if window is None:
        return None
    sizes = _per_axis(config[window.size], rank) if window.size else (1,) * rank
    stride_value = config[window.strides] if window.strides else 1
    strides = sizes if stride_value is None else _per_axis(stride_value, rank)
    dilations = _per_axis(config[window.dilation], rank) if window.dilation else (1,) * rank
    paddings = _per_axis(config[window.padding], rank)
    if window.transposed:
        extras = _per_axis(config[window.output_padding], rank)
        return tuple(AxisWindow(*axis, transposed=True, output_padding=extra) for *axis, extra in
                     zip(sizes, strides, dilations, paddings, extras, strict=True))
    return tuple(AxisWindow(*axis) for axis in zip(sizes, strides, dilations, paddings, strict=True))


def grow(field: tuple[int, ...], jump: tuple[int, ...],
         axes: tuple[AxisWindow, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Receptive field and jump after a layer: each window adds (extent - 1) jumps; strides multiply the jump.

    A transposed convolution divides the jump by its stride instead (whole pixels: at least 1).
    """
    grown = tuple(f + (w.extent - 1) * j for f, w, j in zip(field, axes, jump, strict=True))
    return grown, tuple(max(j // w.stride, 1) if w.transposed else j * w.stride
                        for j, w in zip(jump, axes, strict=True))
