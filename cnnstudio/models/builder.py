"""Turns a NetworkSpec into a ``keras.Model`` with the functional API.

Each type's Keras class (ours from ``layers``, or ``keras.layers``') and the constructor
argument of each hyperparameter come from the catalog, so this module names no layer
type; each Keras layer takes its spec's name, so the inspection and the
summary table can find it. Shapes and parameter counts equal :func:`infer`'s (a property
test holds the two together). Keras is imported inside the functions, so importing this
module stays cheap.
"""

from __future__ import annotations

from typing import Any

from cnnstudio.analysis.analyze import infer
from cnnstudio.network import catalog
from cnnstudio.network.spec import INPUT, NetworkSpec

UNSEEDED_INITIALIZERS = ("zeros", "ones")


class BuildError(ValueError):
    """A spec that cannot be built; the message lists what inference found wrong."""

    def __init__(self, spec_name: str, problems: list[str]):
        self.problems = problems
        listing = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f'The network "{spec_name}" cannot be built: fix these first.\n{listing}')


def build_model(spec: NetworkSpec, name: str | None = None, seed: int | None = None):
    """A fresh ``keras.Model`` for ``spec``; ``seed`` makes its initial weights reproducible.

    Raises BuildError listing the spec's errors when inference finds any.
    """
    import keras

    summary = infer(spec)
    if not summary.ok:
        raise BuildError(spec.name, [str(issue) for issue in summary.errors() if not issue.caused_by])
    inputs = keras.Input(shape=tuple(spec.input_shape), name=INPUT)
    tensors = {INPUT: inputs}
    for i, layer in enumerate(spec.layers):
        layer_seed = None if seed is None else seed + i
        keras_layer = make_layer(layer.type, summary.layers[i].config, layer.name, layer_seed)
        keras_layer.trainable = layer.trainable
        sources = [tensors[src] for src in spec.inputs_of(i)]
        tensors[layer.name] = keras_layer(sources if len(sources) > 1 else sources[0])
    return keras.Model(inputs, tensors[spec.layers[-1].name], name=_model_name(name or spec.name))


def _model_name(name: str) -> str:
    return name.replace("/", "_")


def keras_class(type_name: str):
    """The Keras layer class the catalog names for ``type_name``, imported on first use."""
    import importlib

    layer_type = catalog.get(type_name)
    module = importlib.import_module(layer_type.keras_module)
    return getattr(module, layer_type.keras_class_name)


def keras_arguments(type_name: str, config: dict[str, Any], seed: int | None = None) -> dict[str, Any]:
    """The constructor arguments of ``type_name``'s Keras class for resolved hyperparameters."""
    layer_type = catalog.get(type_name)
    arguments = {p.keras_argument: _to_keras(p, config[p.name], seed) for p in layer_type.params}
    if layer_type.takes_seed:
        arguments["seed"] = seed
    return arguments


def make_layer(type_name: str, config: dict[str, Any], name: str, seed: int | None = None):
    """One Keras layer from a catalog type and its resolved hyperparameters."""
    try:
        cls = keras_class(type_name)
    except (KeyError, ImportError, AttributeError) as exc:
        raise BuildError(name, [f'{name}: no Keras layer for the catalog type "{type_name}" ({exc})']) from None
    return cls(**keras_arguments(type_name, config, seed), name=name)


def _to_keras(param: catalog.Param, value, seed: int | None):
    if param.to_keras == catalog.ToKeras.INITIALIZER:
        return _initializer(value, seed)
    if param.to_keras == catalog.ToKeras.L2:
        return _l2(value)
    return _tuple(value)


def _tuple(value):
    return tuple(value) if isinstance(value, list) else value


def _initializer(name: str, seed: int | None):
    if seed is None or name in UNSEEDED_INITIALIZERS:
        return name
    import keras

    return keras.initializers.get({"class_name": name, "config": {"seed": seed}})


def _l2(factor: float):
    if not factor:
        return None
    import keras

    return keras.regularizers.L2(factor)
