"""What a network is trained for, read from its shapes: classes, or images from images.

A network whose output is a vector scores classes (cross-entropy on integer labels). A
network whose output has its input's shape maps images to images: here it learns to
denoise, reconstructing each clean image from a noisy copy (mean squared error). Training,
the Results tab and the linter all ask :func:`task_of`, so they agree on the task.
"""

from __future__ import annotations

import numpy as np

CLASSIFY = "classify"
DENOISE = "denoise"

NOISE_STD = 0.3
"""Standard deviation of the Gaussian noise added to images in [0, 1] (then clipped to [0, 1])."""


VALIDATION_SEED = 1
"""The noise of the validation images, the same in training and in the Results tab."""


def task_of(input_shape, output_shape) -> str:
    """DENOISE when the output (batch axis excluded) has the input's shape, else CLASSIFY."""
    if output_shape is None or input_shape is None:
        return CLASSIFY
    return DENOISE if tuple(output_shape) == tuple(input_shape) and len(input_shape) > 1 else CLASSIFY


def model_task(model) -> str:
    """The task of a built ``keras.Model`` (its shapes carry the batch axis)."""
    return task_of(tuple(model.input_shape[1:]), tuple(model.output_shape[1:]))


def noisy(x, seed: int, std: float = NOISE_STD) -> np.ndarray:
    """``x`` plus Gaussian noise of ``std`` drawn with ``seed``, clipped to [0, 1], as float32."""
    x = np.asarray(x, dtype="float32")
    noise = np.random.default_rng(seed).normal(0.0, std, size=x.shape).astype("float32")
    return np.clip(x + noise, 0.0, 1.0)
