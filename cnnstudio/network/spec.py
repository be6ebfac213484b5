"""The network spec: an input and named layers forming a directed acyclic graph.

Pure Python (no TensorFlow, no Keras, no Qt): the GUI edits it, inference reads it,
the builder turns it into a ``keras.Model``. Hyperparameters are checked against the
layer catalog when a spec is read, so a hand-edited file with a misspelt name is refused
with the field and the fix instead of being silently dropped.
"""

from __future__ import annotations

import copy
import difflib
from dataclasses import dataclass, field
from typing import Any

from cnnstudio.network import catalog

INPUT = "input"
"""The name layers use to read the network's input."""


class SpecError(ValueError):
    """A spec or project file that cannot be read, with the field that is wrong."""

    def __init__(self, field_path: str, message: str):
        self.field = field_path
        self.reason = message
        super().__init__(f"{field_path}: {message}")


def printable(text: str) -> str:
    """``text`` with control characters (a terminal's escape sequences among them) written as
    ``\\x1b``-style escapes, so a hostile name cannot rewrite the terminal it is printed on."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c == " " else c.encode("unicode_escape").decode("ascii") for c in text)


def suggest(name: str, candidates) -> str:
    """' Did you mean "X"?' for the nearest candidate, or ''."""
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.5)
    return f' Did you mean "{close[0]}"?' if close else ""


@dataclass
class LayerSpec:
    """One layer: its unique name, catalog type, hyperparameters and the layers it reads.

    ``params`` holds only the values the user set; the catalog supplies the rest.
    ``inputs`` empty means "the layer before me in the list" (or the input for the first).
    ``trainable`` False freezes the layer's weights for fine-tuning (any layer type; a frozen
    BatchNormalization also keeps its moving statistics and normalises in inference mode).
    """

    name: str
    type: str
    params: dict[str, Any] = field(default_factory=dict)
    inputs: list[str] = field(default_factory=list)
    trainable: bool = True

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.type, "params": _copy_params(self.params)}
        if self.inputs:
            out["inputs"] = list(self.inputs)
        if not self.trainable:
            out["trainable"] = False
        return out

    def copy(self) -> LayerSpec:
        return LayerSpec(name=self.name, type=self.type, params=_copy_params(self.params),
                         inputs=list(self.inputs), trainable=self.trainable)

    def param(self, key: str) -> Any:
        """The effective value of a hyperparameter: the user's, or the catalog default."""
        if key in self.params:
            return self.params[key]
        return catalog.get(self.type).param(key).default


@dataclass
class NetworkSpec:
    """An input shape (H, W, C) or (L, C) and layers listed in a topological order."""

    input_shape: tuple[int, ...]
    layers: list[LayerSpec] = field(default_factory=list)
    name: str = "network"

    @property
    def rank(self) -> int:
        """Spatial rank of the input: 2 for images, 1 for sequences."""
        return len(self.input_shape) - 1

    def layer(self, name: str) -> LayerSpec:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)

    def index(self, name: str) -> int:
        for i, layer in enumerate(self.layers):
            if layer.name == name:
                return i
        raise KeyError(name)

    def inputs_of(self, i: int) -> list[str]:
        """The names layer ``i`` reads, resolving the implicit chain."""
        layer = self.layers[i]
        if layer.inputs:
            return list(layer.inputs)
        return [self.layers[i - 1].name] if i > 0 else [INPUT]

    def consumers(self) -> dict[str, list[str]]:
        """For each name (the input included), the layers that read it."""
        out: dict[str, list[str]] = {INPUT: []}
        out.update({layer.name: [] for layer in self.layers})
        for i, layer in enumerate(self.layers):
            for src in self.inputs_of(i):
                out.setdefault(src, []).append(layer.name)
        return out

    def outputs(self) -> list[str]:
        """Layers nobody reads: the network's outputs (the last one is the main output)."""
        consumers = self.consumers()
        return [layer.name for layer in self.layers if not consumers[layer.name]]

    def unique_name(self, type_name: str) -> str:
        """A fresh layer name like ``conv2d_3`` for a new layer of ``type_name``."""
        base = type_name.lower()
        taken = {layer.name for layer in self.layers}
        k = 1
        while f"{base}_{k}" in taken:
            k += 1
        return f"{base}_{k}"

    def copy(self) -> NetworkSpec:
        """An independent copy, made field by field: a generic deep copy took 12 s on a
        100,000-layer network, this a tenth of that."""
        return NetworkSpec(input_shape=tuple(self.input_shape), name=self.name,
                           layers=[layer.copy() for layer in self.layers])

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "input_shape": list(self.input_shape),
            "layers": [layer.to_dict() for layer in self.layers],
        }

    @classmethod
    def from_dict(cls, data: Any, where: str = "network") -> NetworkSpec:
        """Read and check a spec; raises SpecError naming the field and what was expected."""
        if not isinstance(data, dict):
            raise SpecError(where, f"expected an object, received {type(data).__name__}")
        _no_unknown_keys(data, {"name", "input_shape", "layers"}, where)
        name = data.get("name", "network")
        if not isinstance(name, str) or not name:
            raise SpecError(f"{where}.name", f"expected a non-empty string, received {name!r}")
        if "input_shape" not in data:
            raise SpecError(f"{where}.input_shape", "missing; expected [height, width, channels] or [length, channels]")
        shape = data["input_shape"]
        if (
            not isinstance(shape, list)
            or len(shape) not in (2, 3)
            or not all(v is None or (isinstance(v, int) and not isinstance(v, bool) and v >= 1) for v in shape[:-1])
            or not (isinstance(shape[-1], int) and not isinstance(shape[-1], bool) and shape[-1] >= 1)
        ):
            raise SpecError(
                f"{where}.input_shape",
                f"expected [height, width, channels] or [length, channels] of positive integers (height, width "
                f"or length may be null: any size), received {shape!r}",
            )
        raw_layers = data.get("layers", [])
        if not isinstance(raw_layers, list):
            raise SpecError(f"{where}.layers", f"expected a list of layers, received {type(raw_layers).__name__}")
        layers: list[LayerSpec] = []
        seen = {INPUT}
        for i, raw in enumerate(raw_layers):
            layers.append(_layer_from_dict(raw, f"{where}.layers[{i}]", seen))
            seen.add(layers[-1].name)
        return cls(input_shape=tuple(shape), layers=layers, name=name)


def _copy_params(params: dict[str, Any]) -> dict[str, Any]:
    """Hyperparameter values are numbers, strings and (nested) lists: only the lists need copying."""
    return {key: copy.deepcopy(value) if isinstance(value, list | dict) else value for key, value in params.items()}


def _no_unknown_keys(data: dict, allowed: set[str], where: str) -> None:
    for key in data:
        if key not in allowed:
            raise SpecError(f"{where}.{key}", f"unknown field; expected one of {sorted(allowed)}.{suggest(key, allowed)}")


def _layer_from_dict(raw: Any, where: str, seen: set[str]) -> LayerSpec:
    if not isinstance(raw, dict):
        raise SpecError(where, f"expected an object with name, type and params, received {type(raw).__name__}")
    _no_unknown_keys(raw, {"name", "type", "params", "inputs", "trainable"}, where)
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise SpecError(f"{where}.name", f"expected a non-empty string, received {name!r}")
    if name in seen:
        raise SpecError(f"{where}.name", f'"{name}" is already used; layer names must be unique')
    type_name = raw.get("type")
    if not isinstance(type_name, str):
        raise SpecError(f"{where}.type", f"expected a layer type name, received {type_name!r}")
    if type_name not in catalog.CATALOG:
        raise SpecError(
            f"{where}.type",
            f'unknown layer type "{type_name}"; expected one of the catalog\'s types.{suggest(type_name, catalog.CATALOG)}',
        )
    params = raw.get("params", {})
    if not isinstance(params, dict):
        raise SpecError(f"{where}.params", f"expected an object of hyperparameters, received {type(params).__name__}")
    try:
        params = catalog.get(type_name).check_params(params)
    except catalog.ParamError as exc:
        raise SpecError(f"{where}.params.{exc.param}", exc.reason) from None
    inputs = raw.get("inputs", [])
    if not isinstance(inputs, list) or not all(isinstance(s, str) for s in inputs):
        raise SpecError(f"{where}.inputs", f"expected a list of layer names, received {inputs!r}")
    for src in inputs:
        if src not in seen:
            raise SpecError(
                f"{where}.inputs",
                f'"{src}" is not the input or an earlier layer; layers must be listed after the layers they read.'
                f"{suggest(src, seen)}",
            )
    trainable = raw.get("trainable", True)
    if not isinstance(trainable, bool):
        raise SpecError(f"{where}.trainable", f"expected true or false, received {trainable!r}")
    return LayerSpec(name=name, type=type_name, params=params, inputs=list(inputs), trainable=trainable)
