"""Data formats at the layers' edges: the arithmetic works in channels_last only.

A channels_first input is transposed to channels_last on the way in and back on the way
out, so every layer of ours accepts both values of Keras' ``data_format`` argument.
"""

from __future__ import annotations

import keras
from keras import ops

from layers.arithmetic import normalize_data_format


def resolve_data_format(data_format, layer_name) -> str:
    """Keras' rule: None means ``keras.config.image_data_format()``."""
    if data_format is None:
        data_format = keras.config.image_data_format()
    return normalize_data_format(data_format, layer_name)


def shape_to_channels_last(shape, data_format) -> tuple:
    shape = tuple(shape)
    if data_format == "channels_last" or len(shape) < 3:
        return shape
    return (shape[0], *shape[2:], shape[1])


def shape_from_channels_last(shape, data_format) -> tuple:
    shape = tuple(shape)
    if data_format == "channels_last" or len(shape) < 3:
        return shape
    return (shape[0], shape[-1], *shape[1:-1])


def to_channels_last(x, data_format):
    if data_format == "channels_last":
        return x
    rank = len(x.shape)
    return ops.transpose(x, (0, *range(2, rank), 1))


def from_channels_last(x, data_format):
    if data_format == "channels_last":
        return x
    rank = len(x.shape)
    return ops.transpose(x, (0, rank - 1, *range(1, rank - 1)))


def channel_axis(data_format) -> int:
    return -1 if data_format == "channels_last" else 1
