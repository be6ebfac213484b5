"""CNN Studio's engine: specs, the layer catalog, shape inference, building, data, training,
inspection, export and the command line. It never imports Qt; only ``ui`` does."""

__version__ = "0.1.0"
