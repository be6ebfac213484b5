"""The layer catalog: each layer type described once.

The palette, the property editor, spec validation, the CLI's expression parser and the
builder all read this module; nothing else lists layer types or their hyperparameters.
Pure Python: importing it pulls in neither TensorFlow nor Qt.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field
from typing import Any

ACTIVATIONS = (
    "linear", "relu", "sigmoid", "tanh", "softmax", "gelu", "elu", "selu",
    "swish", "leaky_relu", "relu6", "softplus", "hard_sigmoid",
)
INITIALIZERS = (
    "glorot_uniform", "glorot_normal", "he_uniform", "he_normal",
    "lecun_uniform", "lecun_normal", "zeros", "ones",
)


class ParamError(ValueError):
    """A hyperparameter value the catalog refuses, naming the parameter and the fix."""

    def __init__(self, param: str, reason: str):
        self.param = param
        self.reason = reason
        super().__init__(f"{param}: {reason}")


@dataclass(frozen=True)
class Param:
    """One hyperparameter: its kind decides the editor the GUI shows and how it is checked.

    Kinds: ``int``, ``float``, ``bool``, ``choice`` (one of ``choices``), ``size`` (an int
    >= 1 or one per spatial axis), ``optional_size`` (a size or None, meaning "as pool_size"),
    ``padding`` ("valid", "same", an int >= 0 or one per spatial axis), ``int_or_pair``.
    """

    name: str
    kind: str
    default: Any
    help: str
    choices: tuple = ()
    minimum: float | None = None
    maximum: float | None = None

    def check(self, value: Any, rank: int | None) -> Any:
        """The value normalised for JSON (tuples become lists), or ParamError."""
        checker = _CHECKERS[self.kind]
        return checker(self, value, rank)


@dataclass(frozen=True)
class LayerType:
    """A layer type: what it does, its hyperparameters, and the inputs it accepts."""

    name: str
    group: str
    description: str
    params: tuple[Param, ...] = ()
    rank: int | None = None
    """Spatial rank of the input it expects (1 or 2), or None for any."""
    min_inputs: int = 1
    max_inputs: int = 1
    keras_names: tuple[str, ...] = field(default=())
    """Other class names of the same layer in ``keras.layers`` (for importing .keras files)."""

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise ParamError(name, f"{self.name} has no hyperparameter \"{name}\".{_suggest(name, self.param_names)}")

    @property
    def param_names(self) -> list[str]:
        return [p.name for p in self.params]

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}

    def check_params(self, params: dict[str, Any]) -> dict[str, Any]:
        """Checked, normalised copy of ``params``; unknown names and bad values raise ParamError."""
        out = {}
        for key, value in params.items():
            out[key] = self.param(key).check(value, self.rank)
        return out

    def resolved(self, params: dict[str, Any]) -> dict[str, Any]:
        """Every hyperparameter's effective value: the given ones over the defaults."""
        values = self.defaults()
        values.update(params)
        return values

    @property
    def is_merge(self) -> bool:
        return self.max_inputs > 1


def _suggest(name: str, candidates) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.5)
    return f' Did you mean "{close[0]}"?' if close else ""


MAX_INT = 2**31 - 1
"""The largest size, count or padding a layer takes: the int32 every backend indexes with."""


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _short(v: Any) -> str:
    """repr of a value from a file or a typed expression, cut short (a 4,000-digit int stays readable)."""
    if _is_int(v) and abs(v).bit_length() > 64:
        digits = len(str(abs(v))) if abs(v).bit_length() < 10_000 else "thousands of"
        return f"an integer of {digits} digits"
    text = repr(v)
    return text if len(text) <= 80 else text[:60] + "..."


def _check_magnitude(p: Param, v: float) -> None:
    if abs(v) > MAX_INT:
        raise ParamError(p.name, f"expected at most {MAX_INT} (2**31 - 1), received {_short(v)}")


def _check_int(p: Param, v: Any, rank: int | None) -> int:
    if isinstance(v, float) and v.is_integer():
        _check_magnitude(p, v)
        v = int(v)
    if not _is_int(v):
        raise ParamError(p.name, f"expected an integer, received {_short(v)}")
    _check_magnitude(p, v)
    _check_range(p, v)
    return v


def _check_float(p: Param, v: Any, rank: int | None) -> float:
    if not (_is_int(v) or isinstance(v, float)):
        raise ParamError(p.name, f"expected a number, received {_short(v)}")
    if _is_int(v):
        _check_magnitude(p, v)
    if not math.isfinite(v):
        raise ParamError(p.name, f"expected a finite number, received {v!r}")
    _check_range(p, float(v))
    return float(v)


def _check_range(p: Param, v: float) -> None:
    if p.minimum is not None and v < p.minimum:
        raise ParamError(p.name, f"expected a value >= {p.minimum:g}, received {v!r}")
    if p.maximum is not None and v > p.maximum:
        raise ParamError(p.name, f"expected a value <= {p.maximum:g}, received {v!r}")


def _check_bool(p: Param, v: Any, rank: int | None) -> bool:
    if not isinstance(v, bool):
        raise ParamError(p.name, f"expected true or false, received {_short(v)}")
    return v


def _check_choice(p: Param, v: Any, rank: int | None) -> str:
    if v is None and "linear" in p.choices:
        return "linear"
    if v not in p.choices:
        hint = _suggest(v, p.choices) if isinstance(v, str) and len(v) < 100 else ""
        raise ParamError(p.name, f"expected one of {', '.join(p.choices)}, received {_short(v)}.{hint}")
    return v


def _int_tuple(p: Param, v: Any, rank: int | None, minimum: int, what: str) -> Any:
    if isinstance(v, float) and v.is_integer():
        _check_magnitude(p, v)
        v = int(v)
    if _is_int(v):
        _check_magnitude(p, v)
        if v < minimum:
            raise ParamError(p.name, f"expected {what} >= {minimum}, received {v!r}")
        return v
    if isinstance(v, (list, tuple)):
        n = rank or len(v)
        if len(v) != n or not all(_is_int(x) for x in v):
            raise ParamError(p.name, f"expected an integer or {n} integers (one per spatial axis), "
                                     f"received {_short(v)}")
        for x in v:
            _check_magnitude(p, x)
        if any(x < minimum for x in v):
            raise ParamError(p.name, f"expected every {what} >= {minimum}, received {v!r}")
        return list(v)
    raise ParamError(p.name, f"expected an integer or one integer per spatial axis, received {_short(v)}")


def _check_size(p: Param, v: Any, rank: int | None) -> Any:
    return _int_tuple(p, v, rank, 1, "size")


def _check_optional_size(p: Param, v: Any, rank: int | None) -> Any:
    return None if v is None else _check_size(p, v, rank)


def _check_padding(p: Param, v: Any, rank: int | None) -> Any:
    if isinstance(v, str):
        if v.lower() in ("valid", "same"):
            return v.lower()
        raise ParamError(p.name, f'expected "valid", "same" or a number of zeros P >= 0, received {_short(v)}')
    return _int_tuple(p, v, rank, 0, "padding")


_CHECKERS = {
    "int": _check_int,
    "float": _check_float,
    "bool": _check_bool,
    "choice": _check_choice,
    "size": _check_size,
    "optional_size": _check_optional_size,
    "padding": _check_padding,
    "int_or_pair": lambda p, v, rank: _int_tuple(p, v, 2, 0, "padding"),
}


def _conv(rank: int) -> LayerType:
    return LayerType(
        name=f"Conv{rank}D",
        group="Convolution",
        description=(
            "Slides learned filters over the input; each output channel is one filter's "
            "dot product with the window it covers."
        ),
        rank=rank,
        params=(
            Param("filters", "int", 32, "Number of filters, i.e. output channels.", minimum=1),
            Param("kernel_size", "size", 3, "Width of each filter's window (F).", minimum=1),
            Param("strides", "size", 1, "Step S between windows; S > 1 shrinks the output.", minimum=1),
            Param("padding", "padding", "valid",
                  'Zeros around the input: "valid" (none), "same" (keep the size at stride 1) or P per side.'),
            Param("dilation_rate", "size", 1, "Gap D between kernel taps: F_eff = D*(F-1)+1.", minimum=1),
            Param("activation", "choice", "relu", "Non-linearity applied to each output.", choices=ACTIVATIONS),
            Param("use_bias", "bool", True, "Add a learned bias per filter."),
            Param("kernel_initializer", "choice", "glorot_uniform", "How filter weights start.",
                  choices=INITIALIZERS),
            Param("bias_initializer", "choice", "zeros", "How biases start.", choices=INITIALIZERS),
            Param("kernel_l2", "float", 0.0, "L2 weight decay on the filters (0 = none).", minimum=0.0),
        ),
    )


def _pool(kind: str, rank: int) -> LayerType:
    verb = "the largest" if kind == "Max" else "the mean"
    return LayerType(
        name=f"{kind}Pool{rank}D",
        group="Pooling",
        description=f"Keeps {verb} value of each window, per channel; no weights to learn.",
        rank=rank,
        keras_names=(f"{kind}Pooling{rank}D" if kind == "Max" else f"AveragePooling{rank}D",),
        params=(
            Param("pool_size", "size", 2, "Width of each pooling window.", minimum=1),
            Param("strides", "optional_size", None, "Step between windows; empty means pool_size.", minimum=1),
            Param("padding", "padding", "valid",
                  '"valid" (no padding), "same" (cover every input) or P per side.'),
        ),
    )


def _global_pool(kind: str, rank: int) -> LayerType:
    what = "maximum" if kind == "Max" else "mean"
    long_name = "Max" if kind == "Max" else "Average"
    return LayerType(
        name=f"Global{kind}Pool{rank}D",
        group="Pooling",
        description=f"Reduces each channel to its {what} over all positions: a vector of channels.",
        rank=rank,
        keras_names=(f"Global{long_name}Pooling{rank}D",),
    )


def _spatial_dropout(rank: int) -> LayerType:
    return LayerType(
        name=f"SpatialDropout{rank}D",
        group="Regularization",
        description="During training, drops whole feature maps (channels) at random.",
        rank=rank,
        params=(Param("rate", "float", 0.2, "Fraction of channels dropped while training.",
                      minimum=0.0, maximum=0.99),),
    )


_TYPES = [
    _conv(2), _conv(1),
    _pool("Max", 2), _pool("Max", 1), _pool("Avg", 2), _pool("Avg", 1),
    _global_pool("Avg", 2), _global_pool("Max", 2), _global_pool("Avg", 1), _global_pool("Max", 1),
    LayerType(
        name="ZeroPadding2D",
        group="Shape",
        description="Adds rows and columns of zeros around each feature map.",
        rank=2,
        params=(Param("padding", "int_or_pair", 1, "Zeros added on each side: P, or [rows, columns]."),),
    ),
    LayerType(
        name="Flatten",
        group="Shape",
        description="Unrolls feature maps into one vector, so Dense layers can read them.",
    ),
    LayerType(
        name="Dense",
        group="Core",
        description="Fully connected: every output is a weighted sum of every input.",
        params=(
            Param("units", "int", 10, "Number of outputs (the classes, for the last layer).", minimum=1),
            Param("activation", "choice", "linear", "Non-linearity applied to each output.", choices=ACTIVATIONS),
            Param("use_bias", "bool", True, "Add a learned bias per unit."),
            Param("kernel_initializer", "choice", "glorot_uniform", "How weights start.", choices=INITIALIZERS),
            Param("kernel_l2", "float", 0.0, "L2 weight decay on the weights (0 = none).", minimum=0.0),
        ),
    ),
    LayerType(
        name="Dropout",
        group="Regularization",
        description="During training, zeroes a random fraction of values to fight overfitting.",
        params=(Param("rate", "float", 0.5, "Fraction of values dropped while training.",
                      minimum=0.0, maximum=0.99),),
    ),
    _spatial_dropout(2), _spatial_dropout(1),
    LayerType(
        name="BatchNormalization",
        group="Normalization",
        description="Normalises each channel over the batch, then scales and shifts it; steadies training.",
        params=(
            Param("momentum", "float", 0.99, "Momentum of the running mean and variance.", minimum=0.0, maximum=1.0),
            Param("epsilon", "float", 1e-3, "Small number added to the variance.", minimum=0.0),
            Param("center", "bool", True, "Learn a shift (beta) per channel."),
            Param("scale", "bool", True, "Learn a scale (gamma) per channel."),
        ),
    ),
    LayerType(
        name="Activation",
        group="Core",
        description="Applies a non-linearity to every value.",
        params=(Param("activation", "choice", "relu", "The function applied.", choices=ACTIVATIONS),),
    ),
    LayerType(
        name="Add",
        group="Merge",
        description="Adds its inputs element by element: the join of a residual (skip) connection.",
        min_inputs=2,
        max_inputs=8,
    ),
    LayerType(
        name="Concatenate",
        group="Merge",
        description="Stacks its inputs along the channel axis.",
        min_inputs=2,
        max_inputs=8,
    ),
]

CATALOG: dict[str, LayerType] = {t.name: t for t in _TYPES}
GROUPS: tuple[str, ...] = ("Convolution", "Pooling", "Core", "Shape", "Regularization", "Normalization", "Merge")


def get(type_name: str) -> LayerType:
    """The catalog entry for ``type_name``; KeyError names the nearest valid type."""
    try:
        return CATALOG[type_name]
    except KeyError:
        raise KeyError(f'unknown layer type "{type_name}".{_suggest(type_name, CATALOG)}') from None


def by_group() -> dict[str, list[LayerType]]:
    """Layer types grouped for the palette, in catalog order."""
    out: dict[str, list[LayerType]] = {g: [] for g in GROUPS}
    for t in _TYPES:
        out[t.group].append(t)
    return out
