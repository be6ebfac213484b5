"""Opening a ``.keras`` model made elsewhere as a CNN Studio network, weights included.

A model whose every layer the catalog knows (built with ``layers`` or with the matching
``keras.layers`` classes, which the catalog lists in ``keras_names``) becomes a
``NetworkSpec`` plus its weights by layer name; ``rebuild`` makes a model of our layers
from them, so the network can be edited, inspected and retrained here. Anything the
catalog cannot express (an LSTM, channels-first data, grouped convolutions, an
asymmetric padding) is refused with the layer's name and what is supported.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import keras
import numpy as np

from cnnstudio import safe_json
from cnnstudio.archives import MAX_UNPACKED_BYTES, ArchiveError, check_zip
from cnnstudio.network import catalog
from cnnstudio.network.spec import INPUT, LayerSpec, NetworkSpec


class ImportRefused(ValueError):
    """A model that cannot become a CNN Studio network; the message names the layer and why."""


KERAS_CONFIG_DEPTH = 200
"""A functional model's config nests about 15 levels (layers, nodes, tensors, histories)."""
KERAS_CONFIG_BYTES = 64 * 1024**2


def import_keras(path) -> tuple[NetworkSpec, dict[str, list[np.ndarray]]]:
    """The network and the weights (by layer name) of a ``.keras`` file."""
    model = load_keras_file(path, compile=False)
    return spec_from_model(model), weights_by_layer(model)


def load_keras_file(path, compile: bool = True, max_bytes: int = MAX_UNPACKED_BYTES) -> keras.Model:
    """``keras.saving.load_model`` (safe mode) on a file checked first; ImportRefused saying
    "Cannot read X as a Keras model: why" for anything that goes wrong, never a traceback.

    Before Keras opens it: the archive must be a zip whose members declare at most
    ``max_bytes`` together (a zip bomb is refused unopened) and whose ``config.json`` is
    bounded, finite JSON (no RecursionError inside Keras).
    """
    import layers

    layers.load_all()
    path = Path(path)
    shown = repr(str(path))
    if not path.is_file():
        raise ImportRefused(f"No model file at {shown}. Expected a .keras file. Received: path={shown}")
    try:
        members = {m.filename: m for m in check_zip(path, shown, max_bytes)}
        if "config.json" not in members:
            raise ImportRefused(f"Cannot read {shown} as a Keras model: the archive has no config.json. "
                                "Expected a file written by model.save(\"NAME.keras\").")
        if members["config.json"].file_size > KERAS_CONFIG_BYTES:
            raise ImportRefused(f"Cannot read {shown} as a Keras model: its config.json is "
                                f"{members['config.json'].file_size:,} bytes. Expected at most "
                                f"{KERAS_CONFIG_BYTES:,}.")
        with zipfile.ZipFile(path) as archive:
            config = safe_json.loads(archive.read("config.json"), "its config.json", KERAS_CONFIG_DEPTH)
        _check_sizes(config)
    except (ArchiveError, safe_json.JSONReadError) as exc:
        raise ImportRefused(f"Cannot read {shown} as a Keras model: {exc}") from None
    except (OSError, zipfile.BadZipFile, EOFError, RuntimeError, NotImplementedError) as exc:
        raise ImportRefused(f"Cannot read {shown} as a Keras model: {type(exc).__name__}: {exc}") from None
    try:
        return keras.saving.load_model(path, compile=compile)
    except Exception as exc:  # Keras, h5py and TensorFlow raise many kinds: each is a broken file here
        raise ImportRefused(f"Cannot read {shown} as a Keras model: {_reason(exc)}") from None


_SIZE_KEYS = ("units", "filters", "kernel_size", "pool_size", "strides", "dilation_rate", "depth_multiplier",
              "input_dim", "output_dim", "batch_shape", "shape")


def _check_sizes(config) -> None:
    """ImportRefused for a size in the config over 2**31 - 1 (a Dense of 2**40 units would make Keras
    try to allocate terabytes before a weight is read)."""
    stack = [config]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                sizes = item if isinstance(item, list) else [item]
                if key in _SIZE_KEYS and any(isinstance(v, int) and abs(v) > catalog.MAX_INT for v in sizes):
                    raise safe_json.JSONReadError(f"its config.json sets {key}={_short(item)}. Expected sizes of "
                                                  f"at most {catalog.MAX_INT} (2**31 - 1)")
                stack.append(item)
        elif isinstance(value, list):
            stack.extend(value)


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:50] + "..."


def _reason(exc: BaseException) -> str:
    """An exception as one short line (TensorFlow's messages run to pages)."""
    text = " ".join(str(exc).split())
    if len(text) > 300:
        text = text[:300] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def weights_by_layer(model: keras.Model) -> dict[str, list[np.ndarray]]:
    """Each layer's weights (in ``get_weights`` order) by layer name; layers without weights left out."""
    return {layer.name: [np.asarray(w) for w in layer.get_weights()] for layer in model.layers if layer.weights}


def supported_types() -> list[str]:
    """Every class name the importer accepts: the catalog's types and their Keras names."""
    return sorted(catalog.by_keras_class_name())


def spec_from_model(model: keras.Model) -> NetworkSpec:
    """The ``NetworkSpec`` of a Keras model whose layers the catalog knows."""
    graph = getattr(model, "_functional", None) or model
    if not hasattr(graph, "_nodes_by_depth"):
        raise ImportRefused(f"Model {model.name!r} ({type(model).__name__}) is subclassed code, not a graph of "
                            "layers. Expected a Sequential or functional model.")
    if len(graph.inputs) != 1:
        raise ImportRefused(f"Model {model.name!r} has {len(graph.inputs)} inputs. Expected one input.")
    input_shape = tuple(graph.inputs[0].shape[1:])
    if len(input_shape) not in (2, 3) or any(v is None for v in input_shape):
        raise ImportRefused(f"Model {model.name!r} reads inputs shaped {input_shape}. Expected a fixed "
                            "(height, width, channels) or (length, channels).")
    sources: dict[str, list[str]] = {}
    input_names = set()
    for nodes in graph._nodes_by_depth.values():
        for node in nodes:
            op = node.operation
            if isinstance(op, keras.layers.InputLayer):
                input_names.add(op.name)
            else:
                sources[op.name] = [t._keras_history.operation.name for t in node.input_tensors]
    rename = {name: INPUT for name in input_names}
    if INPUT in sources:  # a layer called "input" would clash with the network's input
        rename[INPUT] = _free_name(INPUT, sources)
    specs = []
    previous = INPUT
    for layer in graph.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        name = rename.get(layer.name, layer.name)
        type_name, params = _layer_params(layer)
        inputs = [rename.get(s, s) for s in sources[layer.name]]
        specs.append(LayerSpec(name=name, type=type_name, params=params,
                               inputs=[] if inputs == [previous] else inputs))
        previous = name
    return NetworkSpec.from_dict(
        NetworkSpec(input_shape=input_shape, layers=specs, name=model.name).to_dict()
    )


def _free_name(base: str, taken) -> str:
    k = 1
    while f"{base}_{k}" in taken:
        k += 1
    return f"{base}_{k}"


def _layer_params(layer) -> tuple[str, dict]:
    class_name = type(layer).__name__
    type_name = catalog.by_keras_class_name().get(class_name)
    if type_name is None:
        raise ImportRefused(
            f"layer {layer.name!r} of type {class_name} is not in CNN Studio's catalog; "
            f"supported: {', '.join(supported_types())}."
        )
    config = layer.get_config()
    lt = catalog.get(type_name)
    refuse = _refusal(layer, class_name)
    if config.get("data_format", "channels_last") != "channels_last":
        refuse("data_format", config["data_format"], "channels_last")
    if config.get("keepdims", False):
        refuse("keepdims", True, "False")
    params = {}
    for p in lt.params:
        if p.to_keras == catalog.ToKeras.L2:
            params[p.name] = _l2(config.get(p.keras_argument), refuse)
        elif p.to_keras == catalog.ToKeras.INITIALIZER:
            params[p.name] = _initializer(config.get(p.keras_argument), p, refuse)
        elif p.name == "activation":
            value = config.get("activation")
            params[p.name] = value if isinstance(value, str) else refuse("activation", value, "a named activation")
        elif p.kind == "int_or_pair":
            params[p.name] = _symmetric_padding(config[p.keras_argument], refuse)
        elif p.keras_argument in config:
            params[p.name] = _compact(config[p.keras_argument])
    axis_key = lt.keras_axis
    if axis_key and config.get(axis_key, -1) not in (-1, [-1], len(layer.output.shape) - 1):
        refuse(axis_key, config[axis_key], "-1 (channels last)")
    window = lt.window
    if (window is not None and window.size and window.strides
            and lt.param(window.strides).kind == "optional_size"
            and params.get(window.strides) == params.get(window.size)):
        params[window.strides] = None  # Keras stores the default "as pool_size" as its value
    params = {k: v for k, v in params.items()
              if lt.param(k).keras_default is catalog.REQUIRED or v != lt.param(k).default}
    try:
        params = lt.check_params(params)
    except catalog.ParamError as exc:
        raise ImportRefused(f"layer {layer.name!r} ({class_name}): {exc}") from None
    return type_name, params


def _refusal(layer, class_name: str):
    def refuse(key, value, expected):
        raise ImportRefused(f"layer {layer.name!r} ({class_name}) has {key}={value!r}, which CNN Studio "
                            f"cannot express. Expected {key}={expected}.")
    return refuse


def _compact(value):
    """Tuples from get_config as the catalog stores them: an int when every axis agrees."""
    if isinstance(value, (list, tuple)):
        values = list(value)
        return values[0] if len(set(values)) == 1 else values
    return value


def _l2(regularizer, refuse) -> float:
    if regularizer is None:
        return 0.0
    if isinstance(regularizer, dict) and regularizer.get("class_name") == "L2":
        return float(regularizer["config"]["l2"])
    return refuse("kernel_regularizer", regularizer, "None or L2")


def _initializer(config, param, refuse) -> str:
    name = config if isinstance(config, str) else (config or {}).get("class_name", "")
    snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")
    if snake in param.choices:
        return snake
    return refuse(param.name, name, f"one of {', '.join(param.choices)}")


def _symmetric_padding(padding, refuse):
    if isinstance(padding, int):
        return padding
    pairs = [tuple(p) if isinstance(p, (list, tuple)) else (p, p) for p in padding]
    if any(a != b for a, b in pairs):
        refuse("padding", padding, "the same zeros on both sides of each axis")
    return _compact([a for a, _ in pairs])


def rebuild(spec: NetworkSpec, weights: dict[str, list[np.ndarray]] | None = None) -> keras.Model:
    """A model of CNN Studio's layers for ``spec``, with ``weights`` (by layer name) set."""
    from cnnstudio.models.builder import build_model

    model = build_model(spec)
    for name, values in (weights or {}).items():
        layer = model.get_layer(name)
        try:
            layer.set_weights(values)
        except ValueError as exc:
            raise ImportRefused(f"The weights of layer {name!r} do not fit the rebuilt layer: {exc}") from None
    return model


def rebuild_from_file(spec: NetworkSpec, weights_file) -> keras.Model:
    """A model for ``spec`` with the weights of a ``.weights.h5`` file (fresh ones if None)."""
    from cnnstudio.models.builder import build_model

    model = build_model(spec)
    if weights_file is not None:
        try:
            model.load_weights(weights_file)
        except Exception as exc:  # h5py/Keras raise OSError, KeyError, ValueError... for a damaged file
            raise ImportRefused(f"Cannot read the weights {str(weights_file)!r}: {_reason(exc)}. Expected a "
                                ".weights.h5 file saved for this network; retrain or remove the run.") from None
    return model
