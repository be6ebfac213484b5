"""CNN Studio's own convolution and pooling layers, written with ``keras.ops`` only, and a
BatchNormalization that is Keras' own but for a faster training step.

``from layers import Conv2D`` works as usual. The Keras classes load on first use, so that
``layers.arithmetic`` (the pure, None-aware shape arithmetic the GUI's preview shares with
the layers) can be imported without pulling in Keras and TensorFlow. Once Keras is loaded,
``import layers`` registers every class for ``keras.saving`` straight away.
"""

from __future__ import annotations

import importlib
import sys

_CLASSES = {
    "Conv1D": "layers.conv",
    "Conv2D": "layers.conv",
    "Conv1DTranspose": "layers.transposed",
    "Conv2DTranspose": "layers.transposed",
    "DepthwiseConv1D": "layers.depthwise",
    "DepthwiseConv2D": "layers.depthwise",
    "MaxPool1D": "layers.pooling",
    "MaxPool2D": "layers.pooling",
    "AvgPool1D": "layers.pooling",
    "AvgPool2D": "layers.pooling",
    "GlobalAvgPool1D": "layers.pooling",
    "GlobalAvgPool2D": "layers.pooling",
    "GlobalMaxPool1D": "layers.pooling",
    "GlobalMaxPool2D": "layers.pooling",
    "BatchNormalization": "layers.normalization",
}

__all__ = sorted(_CLASSES)


def __getattr__(name: str):
    if name in _CLASSES:
        return getattr(importlib.import_module(_CLASSES[name]), name)
    raise AttributeError(f"module 'layers' has no attribute {name!r}")


def load_all() -> None:
    """Import every layer class, registering them for ``keras.saving.load_model``."""
    for module in sorted(set(_CLASSES.values())):
        importlib.import_module(module)


if "keras" in sys.modules:
    load_all()
