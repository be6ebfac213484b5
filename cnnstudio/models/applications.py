"""Pretrained architectures from ``keras.applications`` as CNN Studio networks, weights copied.

VGG16 and ResNet50 are made of layers the catalog knows, so :func:`import_application` builds
Keras' model, reads it as a ``NetworkSpec`` (our convolution and pooling layers) and keeps its
weights by layer name; :func:`cnnstudio.models.importer.rebuild` gives the model of our
layers, whose outputs equal the original's. The weights are ImageNet's (``"imagenet"``:
Keras downloads them once into ~/.keras/models), a ``.weights.h5`` or ``.keras`` file the
user saved (offline), or random (None). Importing this module loads neither Keras nor
TensorFlow (the window lists the applications before they are loaded).
"""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np

from cnnstudio.network.spec import NetworkSpec

APPLICATIONS: dict[str, str] = {
    "VGG16": "VGG16 (2014) as keras.applications has it: 13 convolutions, 3 dense layers; input >= 32x32x3",
    "ResNet50": "ResNet50 (2015) as keras.applications has it: bottleneck blocks; input >= 32x32x3",
}
DOWNLOAD_TIMEOUT_S = 60


def import_application(name: str, weights=None, input_shape=(224, 224, 3), classes: int = 1000,
                       include_top: bool = True) -> tuple[NetworkSpec, dict[str, list[np.ndarray]]]:
    """The network and its weights by layer name. ``weights``: None (random), "imagenet", or
    the path of a ``.weights.h5`` or ``.keras`` file of the same architecture."""
    from cnnstudio.models.importer import ImportRefused, spec_from_model, weights_by_layer

    if name not in APPLICATIONS:
        raise ImportRefused(f"Unknown application {name!r}. Expected one of {', '.join(APPLICATIONS)}.")
    import keras

    factory = getattr(keras.applications, name)
    if weights == "imagenet" and (tuple(input_shape) != (224, 224, 3) or classes != 1000) and include_top:
        raise ImportRefused(f"ImageNet's {name} weights come with a 224x224x3 input and 1000 classes. Expected "
                            f"those, or include_top off for another size. Received: input_shape={tuple(input_shape)}, "
                            f"classes={classes}")
    path = Path(weights) if weights not in (None, "imagenet") else None
    if path is not None and not path.is_file():
        raise ImportRefused(f"No weights file at {str(path)!r}. Expected a .weights.h5 or .keras file saved "
                            f"from keras.applications.{name}.")
    try:
        if path is not None and path.suffix == ".keras":
            model = keras.saving.load_model(str(path), compile=False)
        else:
            previous = socket.getdefaulttimeout()
            socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
            try:
                model = factory(weights=str(path) if path else weights, input_shape=tuple(input_shape),
                                classes=classes, include_top=include_top)
            finally:
                socket.setdefaulttimeout(previous)
    except Exception as exc:
        if weights == "imagenet":
            raise ImportRefused(
                f"Could not download ImageNet's {name} weights ({type(exc).__name__}: {exc}). Keras keeps "
                f"them in ~/.keras/models once downloaded; offline, save keras.applications.{name}"
                f"(weights='imagenet') on a machine with internet (model.save('{name.lower()}.keras')) "
                f"and open that file instead."
            ) from None
        raise ImportRefused(f"Cannot make keras.applications.{name} with weights {weights!r}: {exc}") from None
    spec = spec_from_model(model)
    spec.name = name.lower()
    return spec, weights_by_layer(model)
