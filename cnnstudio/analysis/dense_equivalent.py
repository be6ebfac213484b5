"""Why convolution: the parameters a fully connected layer would need for the same mapping.

The course's argument for weight sharing and locality: a 224x224 RGB image has 150,528
values, and one fully connected layer of the same size needs 150,528 x 150,528 weights
(about 22 billion). For each convolution of a network this gives the count a Dense layer
from the same input to the same output would have, beside the convolution's own. Pure Python.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from cnnstudio.analysis.shapes import Summary
from cnnstudio.network import catalog
from cnnstudio.network.spec import INPUT


@dataclass(frozen=True)
class DenseComparison:
    """One convolution's parameters against a fully connected layer's with the same input and output."""

    layer: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    params: int
    dense_params: int

    @property
    def ratio(self) -> float:
        """How many times more parameters the fully connected layer needs."""
        return self.dense_params / self.params if self.params else math.inf

    @property
    def formula(self) -> str:
        """(H*W*C_in) * (H'*W'*C_out) + H'*W'*C_out, with the numbers."""
        n_in, n_out = _dims(self.input_shape), _dims(self.output_shape)
        return f"({n_in}) * ({n_out}) + {n_out} = {self.dense_params:,}"

    def to_json(self) -> dict:
        return {"layer": self.layer, "input_shape": list(self.input_shape),
                "output_shape": list(self.output_shape), "params": self.params,
                "dense_params": self.dense_params, "ratio": self.ratio, "formula": self.formula}


def _dims(shape: tuple[int, ...]) -> str:
    return "*".join(str(d) for d in shape)


def dense_params(input_shape: tuple[int, ...], output_shape: tuple[int, ...]) -> int:
    """Weights and biases of a Dense layer from every input value to every output value."""
    n_in, n_out = math.prod(input_shape), math.prod(output_shape)
    return n_in * n_out + n_out


def compare_with_dense(summary: Summary) -> dict[str, DenseComparison]:
    """Per convolution whose shapes are known (not "any size"), its comparison with a fully connected layer."""
    shapes = {INPUT: tuple(summary.input_shape)}
    shapes.update({info.name: info.output_shape for info in summary.layers})
    result = {}
    for info in summary.layers:
        layer_type = catalog.CATALOG.get(info.type)
        if layer_type is None or layer_type.group != "Convolution" or info.output_shape is None:
            continue
        source = shapes.get(info.inputs[0]) if info.inputs else None
        if source is None or None in source or None in info.output_shape:  # any size: no fixed count
            continue
        result[info.name] = DenseComparison(info.name, tuple(source), tuple(info.output_shape), info.params,
                                            dense_params(source, info.output_shape))
    return result
