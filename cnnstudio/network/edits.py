"""The edit algebra: every change to a network spec, as data.

Fixes the analysis offers and the editor's own commands are edits of this one kind: the
document turns each of its commands (Delete, Insert, Move, Connect, Rename, a property
change) into an edit and applies it here, so a "Remove layer" fix and the Delete key
rewire a network the same way, and every change lands on the same undo stack. Pure Python.

Removing a layer rewires every layer that read it to read the removed layer's first
input instead, in the same slot. With ``add`` reading ``[a, b]`` and ``b`` reading ``a``,
removing ``b`` leaves ``add`` reading ``[a, a]``: the merge keeps its number of inputs, so
the network stays valid (an Add of a single input is an error, and silently dropping a
branch would change what the merge computes in a way the user did not ask for). The user
can then disconnect the duplicate branch, which the merge refuses only when it is its last.
"""

from __future__ import annotations

import copy
from typing import Any

from cnnstudio.network.spec import INPUT, LayerSpec, NetworkSpec

OPS = ("set_params", "unset_params", "remove_layer", "insert_after", "insert_before", "append_layer",
       "change_type", "set_inputs", "move_layer", "rename_layer", "set_trainable", "set_input_shape")


class FixError(ValueError):
    """An edit that cannot be applied to this spec (a stale fix, a layer since removed)."""


def _resolved_inputs(spec: NetworkSpec) -> list[list[str]]:
    return [spec.inputs_of(i) for i in range(len(spec.layers))]


def _rebuild(layers: list[LayerSpec], resolved: list[list[str]]) -> None:
    """Store each layer's inputs, leaving them implicit where they follow the chain."""
    for i, (layer, srcs) in enumerate(zip(layers, resolved, strict=True)):
        implicit = [layers[i - 1].name] if i > 0 else [INPUT]
        layer.inputs = [] if srcs == implicit else list(srcs)


def _detach(layers: list[LayerSpec], resolved: list[list[str]], i: int) -> LayerSpec:
    """Take layer ``i`` out; its readers read its first input in its place (see the module doc)."""
    name = layers[i].name
    replacement = resolved[i][:1]
    removed = layers.pop(i)
    del resolved[i]
    for srcs in resolved:
        while name in srcs:
            k = srcs.index(name)
            srcs[k:k + 1] = replacement
    return removed


def _check_order(layers: list[LayerSpec], resolved: list[list[str]], what: str) -> None:
    seen = {INPUT}
    for layer, srcs in zip(layers, resolved, strict=True):
        late = [s for s in srcs if s not in seen]
        if late:
            raise FixError(f'{what}: "{layer.name}" would read {late} before they are computed. '
                           "Expected every layer below the layers it reads.")
        seen.add(layer.name)


def apply_edit(spec: NetworkSpec, edit: Any) -> NetworkSpec:
    """A new spec with ``edit`` applied; ``spec`` is left as it was.

    ``edit`` is a dict, or anything with an ``edit`` dict (an analysis Fix).

    Edits: ``set_params`` {layer, params}, ``unset_params`` {layer, names},
    ``remove_layer`` {layer}, ``insert_after`` / ``insert_before`` {layer, type, params,
    optional name; insert_before also an optional ``source``: the input of ``layer`` it
    goes between, its first by default}, ``append_layer`` {type, params, optional name},
    ``change_type`` {layer, type, params}, ``set_inputs`` {layer, inputs},
    ``move_layer`` {layer, index}, ``rename_layer`` {layer, name}, ``set_trainable`` {layer,
    trainable}, ``set_input_shape`` {shape}.
    Parameter values are taken as given: the caller (the document, the analysis) checks them.
    """
    edit = getattr(edit, "edit", edit)
    new = spec.copy()
    op = edit.get("op")
    if op not in OPS:
        raise FixError(f"Unknown edit. Expected one of {', '.join(OPS)}. Received: op={op!r}")
    if op == "set_input_shape":
        new.input_shape = tuple(edit["shape"])
        return new
    resolved = _resolved_inputs(new)
    if op == "append_layer":
        added = _new_layer(new, edit)
        resolved.append([new.layers[-1].name if new.layers else INPUT])
        new.layers.append(added)
        _rebuild(new.layers, resolved)
        return new
    names = [layer.name for layer in new.layers]
    target = edit.get("layer")
    if target not in names:
        raise FixError(f'The fix edits layer "{target}", which is not in the network any more. '
                       f"Expected one of {names}. Received: layer={target!r}")
    i = names.index(target)
    layer = new.layers[i]
    if op == "set_params":
        layer.params.update(copy.deepcopy(edit["params"]))
    elif op == "unset_params":
        for key in edit["names"]:
            layer.params.pop(key, None)
    elif op == "change_type":
        layer.type = edit["type"]
        layer.params = copy.deepcopy(edit.get("params", {}))
    elif op == "set_trainable":
        if not isinstance(edit.get("trainable"), bool):
            raise FixError(f"set_trainable takes trainable true or false. Received: trainable={edit.get('trainable')!r}")
        layer.trainable = edit["trainable"]
    elif op == "rename_layer":
        for srcs in resolved:
            srcs[:] = [edit["name"] if s == target else s for s in srcs]
        layer.name = edit["name"]
        _rebuild(new.layers, resolved)
    elif op == "set_inputs":
        resolved[i] = list(edit["inputs"])
        _rebuild(new.layers, resolved)
    elif op == "remove_layer":
        _detach(new.layers, resolved, i)
        _rebuild(new.layers, resolved)
    elif op == "move_layer":
        index = edit["index"]
        moved = _detach(new.layers, resolved, i)  # its readers read its input; it reads the layer before
        before = new.layers[index - 1].name if index > 0 else INPUT
        new.layers.insert(index, moved)
        resolved.insert(index, [before])
        if index + 1 < len(new.layers):
            resolved[index + 1] = [target if s == before else s for s in resolved[index + 1]]
        _check_order(new.layers, resolved, f'Cannot move "{target}" to position {index}')
        _rebuild(new.layers, resolved)
    else:  # insert_after, insert_before
        added = _new_layer(new, edit)
        if op == "insert_after":
            for srcs in resolved:
                srcs[:] = [added.name if s == target else s for s in srcs]
            new.layers.insert(i + 1, added)
            resolved.insert(i + 1, [target])
        else:
            source = edit.get("source", resolved[i][0])
            if source not in resolved[i]:
                raise FixError(f'There is no connection "{source}" -> "{target}". Expected an existing '
                               f"connection. Received: source={source!r}")
            new.layers.insert(i, added)
            resolved.insert(i, [source])
            k = resolved[i + 1].index(source)
            resolved[i + 1][k] = added.name
        _rebuild(new.layers, resolved)
    return new


def _new_layer(spec: NetworkSpec, edit: dict) -> LayerSpec:
    return LayerSpec(name=edit.get("name") or spec.unique_name(edit["type"]), type=edit["type"],
                     params=copy.deepcopy(edit.get("params", {})))
