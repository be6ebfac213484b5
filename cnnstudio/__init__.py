"""CNN Studio's engine: specs, the layer catalog, shape inference, building, data, training,
inspection, export and the command line. It never imports Qt; only ``ui`` does."""

from cnnstudio import lean_keras

lean_keras.install()

__version__ = "0.1.0"
