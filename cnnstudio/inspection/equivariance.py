"""Translation equivariance of feature maps and invariance of the prediction, measured.

The course's claim, checked on the learner's own network: a stride-1 convolution commutes
with a shift of its input (shift the image by s pixels and its feature map shifts by s
units), pooling and strides keep that only for shifts that are whole multiples of their
step, and the prediction changes little under small shifts. :func:`shift_test` runs one
input and its shifted copies through the model and compares each layer's maps with the
unshifted maps moved by the same amount, away from the borders (where padding and the
pixels shifted in or out change what a unit sees, so no network could be exact).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from cnnstudio.analysis.shapes import Summary

if TYPE_CHECKING:  # the window imports this module: Keras loads in the background, not at start
    import keras

SHIFT_MODES = ("zeros", "wrap")
"""How pixels shifted in are filled: with zeros, or with those shifted out on the other side."""
DEFAULT_SHIFTS = tuple(range(-4, 5))


def shift_input(sample: np.ndarray, dx: int, dy: int = 0, mode: str = "zeros") -> np.ndarray:
    """``sample`` (H, W, C) or (L, C) moved ``dx`` pixels right and ``dy`` down (1D: ``dx`` only)."""
    if mode not in SHIFT_MODES:
        raise ValueError(f"Unknown shift mode. Expected one of {', '.join(SHIFT_MODES)}. Received: mode={mode!r}")
    x = np.asarray(sample)
    if x.ndim not in (2, 3):
        raise ValueError(f"Expected one sample shaped (length, channels) or (height, width, channels). "
                         f"Received: shape={x.shape}")
    if x.ndim == 2 and dy:
        raise ValueError(f"A sequence shifts along its length only. Expected dy=0. Received: dy={dy}")
    moves = [(0, dx)] if x.ndim == 2 else [(0, dy), (1, dx)]
    for axis, s in moves:
        x = np.roll(x, s, axis=axis)
        if mode == "zeros" and s:
            index = [slice(None)] * x.ndim
            index[axis] = slice(0, s) if s > 0 else slice(s, None)
            x[tuple(index)] = 0
    return x


@dataclass
class LayerShift:
    """One layer's equivariance error at each shift; ``error`` is None for a vector layer."""

    name: str
    error: list[float | None] = field(default_factory=list)
    """max |maps(shifted input) - maps shifted| over the interior units, over max |maps|."""
    exact: list[bool] = field(default_factory=list)
    """Whether the shift is a whole number of this layer's units (its jump divides it)."""
    interior_units: list[int] = field(default_factory=list)
    """How many positions the comparison covered (0: the shift leaves no unit away from the borders)."""


@dataclass
class ShiftTest:
    """What :func:`shift_test` measured, per shift in ``shifts`` ((dx, dy) pairs)."""

    shifts: list[tuple[int, int]]
    mode: str
    layers: list[LayerShift]
    prediction_change: list[float]
    """Total variation between the shifted and the unshifted class probabilities (0..1)."""
    same_class: list[bool]
    predicted: list[int]

    def layer(self, name: str) -> LayerShift:
        for entry in self.layers:
            if entry.name == name:
                return entry
        raise KeyError(name)

    def to_json(self) -> dict[str, Any]:
        return {
            "shifts": [list(s) for s in self.shifts],
            "mode": self.mode,
            "layers": {e.name: {"error": e.error, "exact": e.exact, "interior_units": e.interior_units}
                       for e in self.layers},
            "prediction_change": self.prediction_change,
            "same_class": self.same_class,
            "predicted": self.predicted,
        }


def shift_test(model: keras.Model, summary: Summary, sample: np.ndarray,
               shifts=None, mode: str = "zeros") -> ShiftTest:
    """Shift ``sample`` by each (dx, dy) of ``shifts`` (default: dx = -4..4) and measure every layer.

    ``summary`` is the analysis of the network the model was built from: it gives each
    layer's receptive field, to tell interior units from those the borders reach.
    """
    sample = np.asarray(sample, dtype=np.float32)
    rank = sample.ndim - 1
    if shifts is None:
        shifts = [(s, 0) for s in DEFAULT_SHIFTS]
    shifts = [(int(dx), int(dy)) for dx, dy in shifts]
    batch = np.stack([sample] + [shift_input(sample, dx, dy, mode) for dx, dy in shifts])
    from cnnstudio.inspection import probes

    acts = probes.activations(model, batch)
    probs = probes.probabilities(model, batch)
    infos = {info.name: info for info in summary.layers}
    input_size = tuple(summary.input_shape[:rank])
    layers = []
    for name, maps in acts.items():
        entry = LayerShift(name)
        layers.append(entry)
        info = infos.get(name)
        spatial = info is not None and info.output_shape is not None and len(info.output_shape) == rank + 1
        starts = _unit_starts(summary, name, rank) if spatial else None
        for k, move in enumerate(shifts, start=1):
            if not spatial:
                entry.error.append(None)
                entry.exact.append(False)
                entry.interior_units.append(0)
                continue
            error, exact, count = _compare(maps[0], maps[k], move, starts, info, input_size)
            entry.error.append(error)
            entry.exact.append(exact)
            entry.interior_units.append(count)
    base = probs[0]
    change = [float(0.5 * np.abs(p - base).sum()) for p in probs[1:]]
    predicted = [int(np.argmax(p)) for p in probs[1:]]
    return ShiftTest(shifts, mode, layers, change, [c == int(np.argmax(base)) for c in predicted], predicted)


def _unit_starts(summary: Summary, name: str, rank: int) -> list[np.ndarray]:
    """Per axis, the first input pixel each unit of ``name`` sees (unclipped)."""
    from cnnstudio.inspection import probes

    info = next(i for i in summary.layers if i.name == name)
    starts = []
    for axis in range(rank):
        positions = []
        for i in range(info.output_shape[axis]):
            where = [0] * rank
            where[axis] = i
            box = probes.receptive_box(summary, name, *where) if rank == 2 else \
                probes.receptive_box(summary, name, i)
            positions.append(box.start[axis])
        starts.append(np.array(positions))
    return starts


def _compare(plain: np.ndarray, shifted: np.ndarray, move: tuple[int, int], starts, info,
             input_size: tuple[int, ...]) -> tuple[float, bool, int]:
    rank = plain.ndim - 1
    pixel_shift = (move[0],) if rank == 1 else (move[1], move[0])
    field_size = info.receptive_field
    keep_shifted, keep_plain, exact = [], [], True
    for axis in range(rank):
        s, n = pixel_shift[axis], plain.shape[axis]
        jump = max(1, int(info.jump[axis])) if info.jump else 1
        exact = exact and s % jump == 0
        units = int(round(s / jump))
        lo, hi = max(0, s), min(input_size[axis], input_size[axis] + s)
        start = starts[axis]
        inside = (start >= lo) & (start + field_size[axis] <= hi)
        index = np.arange(n)
        valid = inside & (index - units >= 0) & (index - units < n)
        keep_shifted.append(index[valid])
        keep_plain.append(index[valid] - units)
    if any(len(k) == 0 for k in keep_shifted):
        return 0.0, exact, 0
    a = plain[np.ix_(*keep_plain)] if rank == 2 else plain[keep_plain[0]]
    b = shifted[np.ix_(*keep_shifted)] if rank == 2 else shifted[keep_shifted[0]]
    scale = float(np.max(np.abs(plain))) or 1.0
    count = int(np.prod([len(k) for k in keep_shifted]))
    return float(np.max(np.abs(b - a)) / scale), exact, count


def shift_curves(state, model: keras.Model, summary: Summary, sample: np.ndarray, mode: str = "zeros",
                 radius: int = 4) -> dict[str, ShiftTest]:
    """Shift tests across ("x") and, for images, down ("y"), from -``radius`` to ``radius`` pixels.

    ``state`` is a :class:`cnnstudio.tasks.TaskState` (a cancel is honoured between the two).
    """
    steps = range(-radius, radius + 1)
    axes = {"x": [(s, 0) for s in steps]}
    if np.asarray(sample).ndim == 3:
        axes["y"] = [(0, s) for s in steps]
    result = {}
    for k, (axis, shifts) in enumerate(axes.items()):
        state.check()
        state.set_progress(k / len(axes), f"Shifting the input along {axis}")
        result[axis] = shift_test(model, summary, sample, shifts, mode)
    return result
