"""Layers written as Keras-style calls, e.g. ``Conv2D(filters=10, kernel_size=5, padding=2)``.

So that a student can check a design from the shell. Parsed with :mod:`ast` and
``ast.literal_eval`` (never ``eval``) against the catalog: positional arguments follow the
catalog's order (which is Keras' order), Keras' long names (``MaxPooling2D``) are accepted,
and a misspelt layer or argument gets the nearest valid name.
"""

from __future__ import annotations

import ast
from typing import Any

from cnnstudio.network import catalog
from cnnstudio.network.spec import LayerSpec, NetworkSpec, SpecError, printable, suggest

MAX_LENGTH = 1000
"""Longer than any layer call a person writes; short enough that Python's parser cannot be
driven into deep recursion or huge memory (100,000 minus signs, 60,000 ``+1``)."""


class ExpressionError(SpecError):
    """A layer expression that cannot be read; ``field`` is the expression itself."""


def parse_layer(text: str) -> LayerSpec:
    """One layer from ``Type(arg, key=value, ...)``; ``name="..."`` names it (else empty)."""
    if not isinstance(text, str):
        raise ExpressionError(printable(repr(text)), f"expected a layer call as text, received {type(text).__name__}")
    source = text.strip()
    if len(source) > MAX_LENGTH:
        raise ExpressionError(_shown(source), f"is {len(source):,} characters long. Expected a "
                                                             f"layer call of at most {MAX_LENGTH} characters")
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(_shown(source), f"is not a layer call ({exc.msg}). Expected something like "
                                                 f"{example()}") from None
    except (RecursionError, MemoryError, ValueError, OverflowError) as exc:
        raise ExpressionError(_shown(source), f"cannot be read ({type(exc).__name__}: it nests too deeply or "
                                                 "holds a value too large). Expected something like "
                                                 f"{example()}") from None
    try:
        return _layer_from_tree(tree, source)
    except (RecursionError, MemoryError, OverflowError) as exc:
        raise ExpressionError(_shown(source), f"cannot be read ({type(exc).__name__}: it nests too deeply or "
                                                 "holds a value too large)") from None


def example() -> str:
    """A layer call to show in error messages: the catalog's first type with its first two defaults."""
    layer_type = next(t for t in catalog.CATALOG.values() if len(t.params) >= 2)
    arguments = ", ".join(f"{p.name}={p.default!r}" for p in layer_type.params[:2])
    return f"{layer_type.name}({arguments})"


def _shown(source: str) -> str:
    """The expression as an error message quotes it: escaped, and cut short when long."""
    return printable(source if len(source) <= 80 else source[:60] + "...")


def _layer_from_tree(tree: ast.Expression, source: str) -> LayerSpec:
    shown = _shown(source)
    call = tree.body
    if isinstance(call, (ast.Name, ast.Attribute)):
        call = ast.Call(func=call, args=[], keywords=[])
    if not isinstance(call, ast.Call) or not isinstance(call.func, (ast.Name, ast.Attribute)):
        raise ExpressionError(shown, f"is not a layer call. Expected something like {example()}")
    written = call.func.id if isinstance(call.func, ast.Name) else call.func.attr
    aliases = catalog.by_keras_class_name()
    type_name = aliases.get(written, written)
    if type_name not in catalog.CATALOG:
        raise ExpressionError(shown, f'unknown layer type "{written}".'
                                      f"{suggest(written, list(aliases))} "
                                      f"Expected one of {', '.join(catalog.CATALOG)}")
    lt = catalog.CATALOG[type_name]
    if len(call.args) > len(lt.params):
        raise ExpressionError(shown, f"{type_name} takes at most {len(lt.params)} positional arguments "
                                      f"({', '.join(lt.param_names) or 'none'}); received {len(call.args)}")
    params: dict[str, Any] = {}
    for param, node in zip(lt.params, call.args, strict=False):
        params[param.name] = _literal(node, source, param.name)
    name = ""
    for keyword in call.keywords:
        if keyword.arg is None:
            raise ExpressionError(shown, "**kwargs cannot be read; write each argument as key=value")
        if keyword.arg == "name":
            name = _literal(keyword.value, source, "name")
            if not isinstance(name, str) or not name:
                raise ExpressionError(shown, f"name must be a non-empty string, received {printable(repr(name))}")
            continue
        if keyword.arg in params:
            raise ExpressionError(shown, f"{keyword.arg} is given twice")
        params[keyword.arg] = _literal(keyword.value, source, keyword.arg)
    try:
        params = lt.check_params(params)
    except catalog.ParamError as exc:
        raise ExpressionError(shown, f"{exc.param}: {exc.reason}") from None
    return LayerSpec(name=name, type=type_name, params=params)


def _literal(node: ast.expr, source: str, arg: str) -> Any:
    try:
        value = ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError):
        raise ExpressionError(_shown(source), f"{arg} must be a plain value (a number, string, True/False, "
                                                 f"None or a tuple of numbers); received "
                                                 f"{_shown(ast.unparse(node))}") from None
    return list(value) if isinstance(value, tuple) else value


def parse_chain(input_shape: tuple[int, ...], expressions: list[str], name: str = "network") -> NetworkSpec:
    """A plain chain of layers, each read from a Keras-style call."""
    spec = NetworkSpec(input_shape=tuple(input_shape), layers=[], name=name)
    for text in expressions:
        layer = parse_layer(text)
        if not layer.name:
            layer.name = spec.unique_name(layer.type)
        elif any(other.name == layer.name for other in spec.layers):
            raise ExpressionError(_shown(text.strip()), f'the name "{printable(layer.name)}" is already used')
        spec.layers.append(layer)
    return spec


def parse_shape(text: str) -> tuple[int, ...]:
    """``"32,32,3"`` or ``"32x32x3"`` -> (32, 32, 3)."""
    parts = [p.strip() for p in text[:100].replace("x", ",").split(",") if p.strip()]
    try:
        shape = tuple(int(p) for p in parts) if len(text) <= 100 else ()
    except ValueError:
        shape = ()
    if len(shape) not in (2, 3) or min(shape) < 1 or max(shape) > catalog.MAX_INT:
        raise ExpressionError(printable(text[:100]), "expected height,width,channels or length,channels of positive integers, "
                                    "e.g. 32,32,3")
    return shape
