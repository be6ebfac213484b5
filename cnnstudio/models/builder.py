"""Turns a NetworkSpec into a ``keras.Model`` with the functional API.

Convolutions and poolings come from CNN Studio's own ``layers`` package, everything else
from ``keras.layers``; each Keras layer takes its spec's name, so the inspection and the
summary table can find it. Shapes and parameter counts equal :func:`infer`'s (a property
test holds the two together). Keras is imported inside the functions, so importing this
module stays cheap.
"""

from __future__ import annotations

from typing import Any

from cnnstudio.analysis.analyze import infer
from cnnstudio.network.spec import INPUT, NetworkSpec

OURS = ("Conv1D", "Conv2D", "MaxPool1D", "MaxPool2D", "AvgPool1D", "AvgPool2D",
        "GlobalAvgPool1D", "GlobalAvgPool2D", "GlobalMaxPool1D", "GlobalMaxPool2D")
"""Catalog types built from CNN Studio's ``layers`` package, under the same class name."""
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
        sources = [tensors[src] for src in spec.inputs_of(i)]
        tensors[layer.name] = keras_layer(sources if len(sources) > 1 else sources[0])
    return keras.Model(inputs, tensors[spec.layers[-1].name], name=_model_name(name or spec.name))


def _model_name(name: str) -> str:
    return name.replace("/", "_")


def make_layer(type_name: str, config: dict[str, Any], name: str, seed: int | None = None):
    """One Keras layer from a catalog type and its resolved hyperparameters."""
    import keras

    import layers as ours

    c = config
    if type_name in ("Conv1D", "Conv2D"):
        return getattr(ours, type_name)(
            filters=c["filters"], kernel_size=_tuple(c["kernel_size"]), strides=_tuple(c["strides"]),
            padding=_tuple(c["padding"]), dilation_rate=_tuple(c["dilation_rate"]),
            activation=c["activation"], use_bias=c["use_bias"],
            kernel_initializer=_initializer(c["kernel_initializer"], seed),
            bias_initializer=_initializer(c["bias_initializer"], seed),
            kernel_regularizer=_l2(c["kernel_l2"]), name=name,
        )
    if type_name in OURS and "pool_size" in c:
        return getattr(ours, type_name)(pool_size=_tuple(c["pool_size"]), strides=_tuple(c["strides"]),
                                        padding=_tuple(c["padding"]), name=name)
    if type_name in OURS:
        return getattr(ours, type_name)(name=name)
    if type_name == "Dense":
        return keras.layers.Dense(
            c["units"], activation=c["activation"], use_bias=c["use_bias"],
            kernel_initializer=_initializer(c["kernel_initializer"], seed),
            kernel_regularizer=_l2(c["kernel_l2"]), name=name,
        )
    if type_name == "ZeroPadding2D":
        return keras.layers.ZeroPadding2D(padding=_tuple(c["padding"]), name=name)
    if type_name == "Flatten":
        return keras.layers.Flatten(name=name)
    if type_name == "Dropout":
        return keras.layers.Dropout(c["rate"], seed=seed, name=name)
    if type_name in ("SpatialDropout1D", "SpatialDropout2D"):
        return getattr(keras.layers, type_name)(c["rate"], seed=seed, name=name)
    if type_name == "BatchNormalization":
        return keras.layers.BatchNormalization(momentum=c["momentum"], epsilon=c["epsilon"],
                                               center=c["center"], scale=c["scale"], name=name)
    if type_name == "Activation":
        return keras.layers.Activation(c["activation"], name=name)
    if type_name == "Add":
        return keras.layers.Add(name=name)
    if type_name == "Concatenate":
        return keras.layers.Concatenate(name=name)
    raise BuildError(name, [f'{name}: no Keras layer for the catalog type "{type_name}"'])


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
