"""The layer catalog: each layer type described once, with the behaviour it carries.

Everything that depends on the layer type asks this module: the palette and the canvas
(group, colour, description), the property editor and spec validation (hyperparameters),
the nodes (which hyperparameters they show), the builder and the Python export (the Keras
class, each hyperparameter's constructor argument and Keras' default), the importer (the
Keras class names it reads), shape analysis (the type's shape rule), receptive fields,
inspection and the explainer (which hyperparameters make its window) and the linter (the
rules that apply to it and the types its fixes insert). Nothing else names a layer type.
Pure Python: importing it pulls in neither TensorFlow nor Keras nor Qt (the Keras class
is a dotted name, resolved by the builder).
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


class _Required:
    """Keras has no default for this argument: the Python export always writes it."""

    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED = _Required()


class ShapeRule:
    """How shape analysis computes a type's output (analysis.shapes has one function per rule)."""

    CONVOLUTION = "convolution"
    CONVOLUTION_TRANSPOSE = "convolution_transpose"
    DEPTHWISE = "depthwise"
    POOLING = "pooling"
    GLOBAL_POOLING = "global_pooling"
    ZERO_PADDING = "zero_padding"
    FLATTEN = "flatten"
    DENSE = "dense"
    SAME_SHAPE = "same_shape"
    BATCH_NORM = "batch_norm"
    SUM = "sum"
    CONCATENATE = "concatenate"
    ALL = (CONVOLUTION, CONVOLUTION_TRANSPOSE, DEPTHWISE, POOLING, GLOBAL_POOLING, ZERO_PADDING, FLATTEN, DENSE, SAME_SHAPE,
           BATCH_NORM, SUM, CONCATENATE)


class LintRule:
    """The teaching checks that apply to a type (analysis.lint has one check per rule)."""

    RECEPTIVE_FIELD = "receptive_field"
    """The last layer with this rule should see a fair part of the input, and not far beyond it."""
    STRIDE_WITHIN_WINDOW = "stride_within_window"
    """A stride larger than the window skips input the layer never reads."""
    NOT_AN_OUTPUT = "not_an_output"
    """Only noise when it is the last layer (dropouts)."""
    VECTOR_INPUT = "vector_input"
    """Meant to read a vector: on feature maps it applies the same weights at every position."""
    CLASS_SCORES = "class_scores"
    """As the output, its units should be the data set's number of classes."""
    OUTPUT_ACTIVATION = "output_activation"
    """As the output, its activation should match the loss (softmax unless from logits)."""
    ALL = (RECEPTIVE_FIELD, STRIDE_WITHIN_WINDOW, NOT_AN_OUTPUT, VECTOR_INPUT, CLASS_SCORES,
           OUTPUT_ACTIVATION)


class Purpose:
    """What a fix may insert a type for; :func:`for_purpose` finds the type (of a rank)."""

    FLATTEN = "flatten"
    GLOBAL_AVERAGE = "global_average"
    DOWNSAMPLE = "downsample"
    CLASSIFIER = "classifier"
    JOIN_CHANNELS = "join_channels"
    ALL = (FLATTEN, GLOBAL_AVERAGE, DOWNSAMPLE, CLASSIFIER, JOIN_CHANNELS)


class Explain:
    """How the explainer breaks one window of the type down (its operation kinds)."""

    CONV = "conv"
    MAX = "max"
    AVG = "avg"
    ALL = (CONV, MAX, AVG)


class ToKeras:
    """How a hyperparameter's value becomes its Keras constructor argument."""

    VALUE = "value"
    """As it is (lists as tuples)."""
    INITIALIZER = "initializer"
    """An initializer name, seeded when the build is."""
    L2 = "l2"
    """An L2 factor: a ``keras.regularizers.L2`` when above 0, else no regularizer."""
    ALL = (VALUE, INITIALIZER, L2)


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
    ``padding`` ("valid", "same", an int >= 0 or one per spatial axis), ``optional_padding``
    (None or an int >= 0 per spatial axis: a transposed convolution's output_padding),
    ``int_or_pair``.
    """

    name: str
    kind: str
    default: Any
    help: str
    choices: tuple = ()
    minimum: float | None = None
    maximum: float | None = None
    argument: str = ""
    """The Keras constructor's keyword for it; empty means the same as ``name``."""
    keras_default: Any = REQUIRED
    """Keras' own default: the Python export leaves the argument out when the value equals it."""
    to_keras: str = ToKeras.VALUE
    node_label: str = ""
    """How the canvas node shows it (``"{} filters"``); empty: not shown on the node."""
    node_hidden: tuple = ()
    """Values (on every axis) the node leaves unsaid, such as a stride of 1."""

    def check(self, value: Any, rank: int | None) -> Any:
        """The value normalised for JSON (tuples become lists), or ParamError."""
        checker = _CHECKERS[self.kind]
        return checker(self, value, rank)

    @property
    def keras_argument(self) -> str:
        return self.argument or self.name


@dataclass(frozen=True)
class Window:
    """Which hyperparameters make a layer's sliding window; None means that part is always 1.

    A stride whose value is None is the window's size (pooling's "as pool_size").
    """

    size: str | None
    strides: str | None = "strides"
    dilation: str | None = None
    padding: str = "padding"
    pooling: bool = False
    """A pooling window: no weights, and explicit zeros must be fewer than its size."""
    transposed: bool = False
    """A transposed convolution's window: each input scatters it, S cells apart, into the output."""
    output_padding: str | None = None
    """The hyperparameter of a transposed window's extra output cells."""


@dataclass(frozen=True)
class LayerType:
    """A layer type: what it does, its hyperparameters, the inputs it accepts, how it behaves."""

    name: str
    group: str
    description: str
    params: tuple[Param, ...] = ()
    rank: int | None = None
    """Spatial rank of the input it expects (1 or 2), or None for any."""
    min_inputs: int = 1
    max_inputs: int = 1
    keras_class: str = ""
    """Dotted name of the Keras layer class it builds (ours in ``layers`` or ``keras.layers``')."""
    keras_names: tuple[str, ...] = field(default=())
    """Other class names of the same layer in ``keras.layers`` (for importing .keras files)."""
    keras_axis: str = ""
    """A Keras config key that must name the channel axis (last) for the import to accept it."""
    takes_seed: bool = False
    """The Keras class takes a ``seed`` (random at call time, like dropout)."""
    shape_rule: str = ""
    window: Window | None = None
    sees_whole_input: bool = False
    """Every output depends on every input position (flattening, global pooling)."""
    family: str = ""
    """Types sharing a family are the same layer for another rank (Conv1D, Conv2D)."""
    channels_param: str = ""
    """The hyperparameter that sets its number of output channels, if one does."""
    lint_rules: tuple[str, ...] = ()
    purposes: tuple[str, ...] = ()
    explain: str = ""
    """The explainer's operation kind for it (see :class:`Explain`); empty: not explained."""
    short_name: str = ""
    """The name a node seen from afar shows; empty: the name, with its words shortened."""

    def __post_init__(self):
        problems = []
        if not self.keras_class or "." not in self.keras_class:
            problems.append(f"keras_class must be a dotted class name such as 'keras.layers.{self.name}'. "
                            f"Received: keras_class={self.keras_class!r}")
        if self.shape_rule not in ShapeRule.ALL:
            problems.append(f"shape_rule must be one of {', '.join(ShapeRule.ALL)}. "
                            f"Received: shape_rule={self.shape_rule!r}")
        for values, allowed, what in ((self.lint_rules, LintRule.ALL, "lint_rules"),
                                      (self.purposes, Purpose.ALL, "purposes")):
            unknown = [v for v in values if v not in allowed]
            if unknown:
                problems.append(f"{what} must come from {', '.join(allowed)}. Received: {what}={unknown!r}")
        if self.explain and self.explain not in Explain.ALL:
            problems.append(f"explain must be one of {', '.join(Explain.ALL)}. Received: explain={self.explain!r}")
        names = [p.name for p in self.params]
        for p in self.params:
            if p.to_keras not in ToKeras.ALL:
                problems.append(f"{p.name}.to_keras must be one of {', '.join(ToKeras.ALL)}. "
                                f"Received: to_keras={p.to_keras!r}")
        if self.window is not None:
            for part in (self.window.size, self.window.strides, self.window.dilation, self.window.padding,
                         self.window.output_padding):
                if part is not None and part not in names:
                    problems.append(f"the window names {part!r}, which is not one of its hyperparameters {names}")
        if self.channels_param and self.channels_param not in names:
            problems.append(f"channels_param {self.channels_param!r} is not one of its hyperparameters {names}")
        if problems:
            raise ValueError(f"The catalog entry {self.name!r} is incomplete: " + "; ".join(problems))

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

    @property
    def keras_module(self) -> str:
        """The module of its Keras class: ``layers`` (ours) or ``keras.layers``."""
        return self.keras_class.rsplit(".", 1)[0]

    @property
    def keras_class_name(self) -> str:
        return self.keras_class.rsplit(".", 1)[1]

    @property
    def is_ours(self) -> bool:
        """Built from CNN Studio's own ``layers`` package."""
        return self.keras_module == "layers"


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
    "optional_padding": lambda p, v, rank: None if v is None else _int_tuple(p, v, rank, 0, "padding"),
    "int_or_pair": lambda p, v, rank: _int_tuple(p, v, 2, 0, "padding"),
}


# --------------------------------------------------------------------------- shared hyperparameters

def _activation(default: str, help_text: str, keras_default: Any = "linear") -> Param:
    return Param("activation", "choice", default, help_text, choices=ACTIVATIONS, keras_default=keras_default,
                 node_label="{}", node_hidden=("linear",))


def _use_bias(help_text: str) -> Param:
    return Param("use_bias", "bool", True, help_text, keras_default=True)


def _initializer(name: str, default: str, help_text: str) -> Param:
    return Param(name, "choice", default, help_text, choices=INITIALIZERS, keras_default=default,
                 to_keras=ToKeras.INITIALIZER)


def _kernel_l2(help_text: str) -> Param:
    return Param("kernel_l2", "float", 0.0, help_text, minimum=0.0, argument="kernel_regularizer",
                 keras_default=0.0, to_keras=ToKeras.L2)


def _filters() -> Param:
    return Param("filters", "int", 32, "Number of filters, i.e. output channels.", minimum=1,
                 node_label="{} filters")


def _window_kernel_size() -> Param:
    return Param("kernel_size", "size", 3, "Width of each filter's window (F).", minimum=1, node_label="{}")


def _window_strides() -> Param:
    return Param("strides", "size", 1, "Step S between windows; S > 1 shrinks the output.", minimum=1,
                 keras_default=1, node_label="stride {}", node_hidden=(None, 1))


def _zero_padding(default: str) -> Param:
    return Param("padding", "padding", default,
                 'Zeros around the input: "valid" (none), "same" (keep the size at stride 1) or P per side.',
                 keras_default="valid", node_label="{}")


def _dilation() -> Param:
    return Param("dilation_rate", "size", 1, "Gap D between kernel taps: F_eff = D*(F-1)+1.", minimum=1,
                 keras_default=1, node_label="dilation {}", node_hidden=(1,))


def _filter_outputs(bias_help: str, kernel_initializer: str = "kernel_initializer") -> tuple[Param, ...]:
    """The activation, bias and initialisers that every layer of learned filters has, in this order."""
    return (
        _activation("relu", "Non-linearity applied to each output."),
        _use_bias(bias_help),
        _initializer(kernel_initializer, "glorot_uniform", "How filter weights start."),
        _initializer("bias_initializer", "zeros", "How biases start."),
    )


def _rate(default: float, help_text: str) -> Param:
    return Param("rate", "float", default, help_text, minimum=0.0, maximum=0.99, node_label="rate {}")


# --------------------------------------------------------------------------- the types

def _convolution(name: str, rank: int, **fields) -> LayerType:
    """A layer of the Convolution group, our class of the same name."""
    return LayerType(name=name, group="Convolution", rank=rank, keras_class=f"layers.{name}", **fields)


def _conv(rank: int) -> LayerType:
    return _convolution(
        f"Conv{rank}D",
        rank,
        description=(
            "Slides learned filters over the input; each output channel is one filter's "
            "dot product with the window it covers."
        ),
        shape_rule=ShapeRule.CONVOLUTION,
        window=Window(size="kernel_size", dilation="dilation_rate"),
        family="Conv",
        channels_param="filters",
        lint_rules=(LintRule.RECEPTIVE_FIELD, LintRule.STRIDE_WITHIN_WINDOW),
        explain=Explain.CONV,
        params=(
            _filters(),
            _window_kernel_size(),
            _window_strides(),
            _zero_padding("valid"),
            _dilation(),
            Param("groups", "int", 1,
                  "Split the channels into G groups, each with its own filters (ResNeXt); "
                  "input channels and filters must divide by G.",
                  minimum=1, keras_default=1, node_label="{} groups", node_hidden=(1,)),
            *_filter_outputs("Add a learned bias per filter."),
            _kernel_l2("L2 weight decay on the filters (0 = none)."),
        ),
    )


def _conv_transpose(rank: int) -> LayerType:
    return _convolution(
        f"Conv{rank}DTranspose",
        rank,
        description=(
            "Upsamples with learned filters: each input value scatters a scaled copy of the "
            "kernel into the output, S cells apart (the decoder of autoencoders and U-nets)."
        ),
        short_name="ConvT",
        shape_rule=ShapeRule.CONVOLUTION_TRANSPOSE,
        window=Window(size="kernel_size", dilation="dilation_rate", transposed=True,
                      output_padding="output_padding"),
        family="ConvTranspose",
        channels_param="filters",
        params=(
            _filters(),
            Param("kernel_size", "size", 3, "Width of each filter (F).", minimum=1, node_label="{}"),
            Param("strides", "size", 2, "Step S between the kernel copies: S > 1 enlarges the output S times.",
                  minimum=1, keras_default=1, node_label="stride {}", node_hidden=(None, 1)),
            Param("padding", "padding", "same",
                  'Cells cropped from the output: "valid" (none), "same" (output = input*S) or P per side.',
                  keras_default="valid", node_label="{}"),
            Param("output_padding", "optional_padding", None,
                  "Extra cells at the end (< S) to pick among the sizes a stride allows; empty: from padding.",
                  keras_default=None, node_label="out pad {}", node_hidden=(None,)),
            _dilation(),
            *_filter_outputs("Add a learned bias per filter."),
            _kernel_l2("L2 weight decay on the filters (0 = none)."),
        ),
    )


def _depthwise(rank: int) -> LayerType:
    return _convolution(
        f"DepthwiseConv{rank}D",
        rank,
        description=(
            "Filters each channel on its own (depth_multiplier filters per channel, no mixing "
            "across channels): MobileNet's cheap spatial step."
        ),
        short_name="DWConv",
        shape_rule=ShapeRule.DEPTHWISE,
        window=Window(size="kernel_size", dilation="dilation_rate"),
        family="DepthwiseConv",
        lint_rules=(LintRule.RECEPTIVE_FIELD, LintRule.STRIDE_WITHIN_WINDOW),
        params=(
            _window_kernel_size(),
            Param("depth_multiplier", "int", 1, "Filters per input channel: output channels = channels * this.",
                  minimum=1, keras_default=1, node_label="x{}", node_hidden=(1,)),
            _window_strides(),
            _zero_padding("same"),
            _dilation(),
            *_filter_outputs("Add a learned bias per output channel.", "depthwise_initializer"),
            Param("kernel_l2", "float", 0.0, "L2 weight decay on the filters (0 = none).", minimum=0.0,
                  argument="depthwise_regularizer", keras_default=0.0, to_keras=ToKeras.L2),
        ),
    )


def _pool(kind: str, rank: int) -> LayerType:
    verb = "the largest" if kind == "Max" else "the mean"
    return LayerType(
        name=f"{kind}Pool{rank}D",
        group="Pooling",
        description=f"Keeps {verb} value of each window, per channel; no weights to learn.",
        rank=rank,
        keras_class=f"layers.{kind}Pool{rank}D",
        keras_names=(f"{kind}Pooling{rank}D" if kind == "Max" else f"AveragePooling{rank}D",),
        shape_rule=ShapeRule.POOLING,
        window=Window(size="pool_size", pooling=True),
        family=f"{kind}Pool",
        lint_rules=(LintRule.STRIDE_WITHIN_WINDOW,),
        purposes=(Purpose.DOWNSAMPLE,) if kind == "Max" else (),
        explain=Explain.MAX if kind == "Max" else Explain.AVG,
        params=(
            Param("pool_size", "size", 2, "Width of each pooling window.", minimum=1, node_label="{}"),
            Param("strides", "optional_size", None, "Step between windows; empty means pool_size.", minimum=1,
                  keras_default=None, node_label="stride {}", node_hidden=(None, 1)),
            Param("padding", "padding", "valid",
                  '"valid" (no padding), "same" (cover every input) or P per side.',
                  keras_default="valid", node_label="{}"),
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
        keras_class=f"layers.Global{kind}Pool{rank}D",
        keras_names=(f"Global{long_name}Pooling{rank}D",),
        shape_rule=ShapeRule.GLOBAL_POOLING,
        sees_whole_input=True,
        family=f"Global{kind}Pool",
        purposes=(Purpose.GLOBAL_AVERAGE,) if kind == "Avg" else (),
    )


def _spatial_dropout(rank: int) -> LayerType:
    return LayerType(
        name=f"SpatialDropout{rank}D",
        group="Regularization",
        description="During training, drops whole feature maps (channels) at random.",
        rank=rank,
        keras_class=f"keras.layers.SpatialDropout{rank}D",
        takes_seed=True,
        shape_rule=ShapeRule.SAME_SHAPE,
        family="SpatialDropout",
        lint_rules=(LintRule.NOT_AN_OUTPUT,),
        params=(_rate(0.2, "Fraction of channels dropped while training."),),
    )


_TYPES = [
    _conv(2), _conv(1), _conv_transpose(2), _conv_transpose(1), _depthwise(2), _depthwise(1),
    _pool("Max", 2), _pool("Max", 1), _pool("Avg", 2), _pool("Avg", 1),
    _global_pool("Avg", 2), _global_pool("Max", 2), _global_pool("Avg", 1), _global_pool("Max", 1),
    LayerType(
        name="ZeroPadding2D",
        group="Shape",
        description="Adds rows and columns of zeros around each feature map.",
        rank=2,
        keras_class="keras.layers.ZeroPadding2D",
        shape_rule=ShapeRule.ZERO_PADDING,
        window=Window(size=None, strides=None),
        params=(Param("padding", "int_or_pair", 1, "Zeros added on each side: P, or [rows, columns].",
                      keras_default=1, node_label="{}"),),
    ),
    LayerType(
        name="Flatten",
        group="Shape",
        description="Unrolls feature maps into one vector, so Dense layers can read them.",
        keras_class="keras.layers.Flatten",
        shape_rule=ShapeRule.FLATTEN,
        sees_whole_input=True,
        purposes=(Purpose.FLATTEN,),
    ),
    LayerType(
        name="Dense",
        group="Core",
        description="Fully connected: every output is a weighted sum of every input.",
        keras_class="keras.layers.Dense",
        shape_rule=ShapeRule.DENSE,
        channels_param="units",
        lint_rules=(LintRule.VECTOR_INPUT, LintRule.CLASS_SCORES, LintRule.OUTPUT_ACTIVATION),
        purposes=(Purpose.CLASSIFIER,),
        params=(
            Param("units", "int", 10, "Number of outputs (the classes, for the last layer).", minimum=1,
                  node_label="{} units"),
            _activation("linear", "Non-linearity applied to each output."),
            _use_bias("Add a learned bias per unit."),
            _initializer("kernel_initializer", "glorot_uniform", "How weights start."),
            _kernel_l2("L2 weight decay on the weights (0 = none)."),
        ),
    ),
    LayerType(
        name="Dropout",
        group="Regularization",
        description="During training, zeroes a random fraction of values to fight overfitting.",
        keras_class="keras.layers.Dropout",
        takes_seed=True,
        shape_rule=ShapeRule.SAME_SHAPE,
        lint_rules=(LintRule.NOT_AN_OUTPUT,),
        params=(_rate(0.5, "Fraction of values dropped while training."),),
    ),
    _spatial_dropout(2), _spatial_dropout(1),
    LayerType(
        name="BatchNormalization",
        group="Normalization",
        description="Normalises each channel over the batch, then scales and shifts it; steadies training.",
        keras_class="layers.BatchNormalization",
        keras_axis="axis",
        shape_rule=ShapeRule.BATCH_NORM,
        params=(
            Param("momentum", "float", 0.99, "Momentum of the running mean and variance.", minimum=0.0, maximum=1.0,
                  keras_default=0.99),
            Param("epsilon", "float", 1e-3, "Small number added to the variance.", minimum=0.0,
                  keras_default=1e-3),
            Param("center", "bool", True, "Learn a shift (beta) per channel.", keras_default=True),
            Param("scale", "bool", True, "Learn a scale (gamma) per channel.", keras_default=True),
        ),
    ),
    LayerType(
        name="Activation",
        group="Core",
        description="Applies a non-linearity to every value.",
        keras_class="keras.layers.Activation",
        shape_rule=ShapeRule.SAME_SHAPE,
        lint_rules=(LintRule.OUTPUT_ACTIVATION,),
        params=(_activation("relu", "The function applied.", keras_default=REQUIRED),),
    ),
    LayerType(
        name="Add",
        group="Merge",
        description="Adds its inputs element by element: the join of a residual (skip) connection.",
        min_inputs=2,
        max_inputs=8,
        keras_class="keras.layers.Add",
        shape_rule=ShapeRule.SUM,
    ),
    LayerType(
        name="Concatenate",
        group="Merge",
        description="Stacks its inputs along the channel axis.",
        min_inputs=2,
        max_inputs=8,
        keras_class="keras.layers.Concatenate",
        keras_axis="axis",
        short_name="Concat",
        shape_rule=ShapeRule.CONCATENATE,
        purposes=(Purpose.JOIN_CHANNELS,),
    ),
]

CATALOG: dict[str, LayerType] = {t.name: t for t in _TYPES}
GROUPS: tuple[str, ...] = ("Convolution", "Pooling", "Core", "Shape", "Regularization", "Normalization", "Merge")
GROUP_COLOURS: dict[str, str] = {
    "Convolution": "#3572b0",
    "Pooling": "#2e8b7a",
    "Core": "#7a4fb0",
    "Shape": "#8a6d3b",
    "Regularization": "#9a5b7a",
    "Normalization": "#4f7f3b",
    "Merge": "#b0562f",
}
"""Each group's colour on the canvas, so a node's kind reads at a glance."""


def get(type_name: str) -> LayerType:
    """The catalog entry for ``type_name``; KeyError names the nearest valid type."""
    try:
        return CATALOG[type_name]
    except KeyError:
        raise KeyError(f'unknown layer type "{type_name}".{_suggest(type_name, CATALOG)}') from None


def by_group() -> dict[str, list[LayerType]]:
    """Layer types grouped for the palette, in catalog order (a group the list lacks comes last)."""
    out: dict[str, list[LayerType]] = {g: [] for g in GROUPS}
    for t in CATALOG.values():
        out.setdefault(t.group, []).append(t)
    return out


def for_purpose(purpose: str, rank: int | None = None) -> LayerType | None:
    """The first type a fix inserts for ``purpose`` that accepts inputs of spatial ``rank``."""
    for t in CATALOG.values():
        if purpose in t.purposes and (t.rank is None or t.rank == rank):
            return t
    return None


def same_family(type_name: str, rank: int) -> LayerType | None:
    """The same layer for inputs of another spatial rank (Conv2D -> Conv1D), if there is one."""
    family = get(type_name).family
    if not family:
        return None
    for t in CATALOG.values():
        if t.family == family and t.rank == rank:
            return t
    return None


def with_rule(rule: str) -> list[LayerType]:
    """Every type the lint rule ``rule`` applies to."""
    return [t for t in CATALOG.values() if rule in t.lint_rules]


def merges() -> list[LayerType]:
    """The types that join several branches."""
    return [t for t in CATALOG.values() if t.is_merge]


def by_keras_class_name() -> dict[str, str]:
    """Keras class name -> catalog type, for reading models made elsewhere (first entry wins)."""
    out: dict[str, str] = {}
    for t in CATALOG.values():
        for name in (t.keras_class_name, t.name, *t.keras_names):
            out.setdefault(name, t.name)
    return out
