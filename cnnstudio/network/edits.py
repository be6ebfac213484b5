"""The edit algebra: every change to a network spec, as data.

Fixes the analysis offers and the editor's own commands are edits of this one kind, so a
"Remove layer" fix and the Delete key rewire a network the same way. Pure Python.
"""

from __future__ import annotations

import copy
from typing import Any

from cnnstudio.network.spec import INPUT, LayerSpec, NetworkSpec


class FixError(ValueError):
    """An edit that cannot be applied to this spec (a stale fix, a layer since removed)."""


def _resolved_inputs(spec: NetworkSpec) -> list[list[str]]:
    return [spec.inputs_of(i) for i in range(len(spec.layers))]


def _rebuild(layers: list[LayerSpec], resolved: list[list[str]]) -> None:
    """Store each layer's inputs, leaving them implicit where they follow the chain."""
    for i, (layer, srcs) in enumerate(zip(layers, resolved, strict=True)):
        implicit = [layers[i - 1].name] if i > 0 else [INPUT]
        layer.inputs = [] if srcs == implicit else list(srcs)


def apply_edit(spec: NetworkSpec, edit: Any) -> NetworkSpec:
    """A new spec with ``edit`` applied; ``spec`` is left as it was.

    ``edit`` is a dict, or anything with an ``edit`` dict (an analysis Fix).

    Edits: ``set_params`` {layer, params}, ``unset_params`` {layer, names},
    ``remove_layer`` {layer}, ``insert_after`` / ``insert_before`` {layer, type, params},
    ``change_type`` {layer, type, params}, ``set_inputs`` {layer, inputs},
    ``set_input_shape`` {shape}.
    """
    edit = getattr(edit, "edit", edit)
    new = spec.copy()
    op = edit.get("op")
    if op == "set_input_shape":
        new.input_shape = tuple(edit["shape"])
        return new
    names = [layer.name for layer in new.layers]
    target = edit.get("layer")
    if target not in names:
        raise FixError(f'The fix edits layer "{target}", which is not in the network any more. '
                       f"Expected one of {names}. Received: layer={target!r}")
    i = names.index(target)
    layer = new.layers[i]
    resolved = _resolved_inputs(new)
    if op == "set_params":
        layer.params.update(copy.deepcopy(edit["params"]))
    elif op == "unset_params":
        for key in edit["names"]:
            layer.params.pop(key, None)
    elif op == "change_type":
        layer.type = edit["type"]
        layer.params = copy.deepcopy(edit.get("params", {}))
    elif op == "set_inputs":
        resolved[i] = list(edit["inputs"])
        _rebuild(new.layers, resolved)
    elif op == "remove_layer":
        replacement = resolved[i]
        del new.layers[i], resolved[i]
        for srcs in resolved:
            if target in srcs:
                k = srcs.index(target)
                srcs[k:k + 1] = replacement[:1]
        _rebuild(new.layers, resolved)
    elif op in ("insert_after", "insert_before"):
        added = LayerSpec(name=new.unique_name(edit["type"]), type=edit["type"],
                          params=copy.deepcopy(edit.get("params", {})))
        if op == "insert_after":
            for srcs in resolved:
                srcs[:] = [added.name if s == target else s for s in srcs]
            new.layers.insert(i + 1, added)
            resolved.insert(i + 1, [target])
        else:
            new.layers.insert(i, added)
            resolved.insert(i, resolved[i][:1])
            resolved[i + 1] = [added.name] + resolved[i + 1][1:]
        _rebuild(new.layers, resolved)
    else:
        raise FixError(f"Unknown edit. Expected one of set_params, unset_params, remove_layer, "
                       f"insert_after, insert_before, change_type, set_inputs, set_input_shape. "
                       f"Received: op={op!r}")
    return new
