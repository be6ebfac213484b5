"""MNIST-1D, generated locally: ten 1D digit templates, shifted, scaled, sheared and noised.

Follows Greydanus' MNIST-1D ("Scaling down deep learning", 2020) and its default arguments:
templates of length 12, padded by 36..60 zeros, dilated to 72 points, scaled by up to +-20%,
translated by up to 48 points, filled with correlated noise where the signal is zero, given
iid noise and a linear shear, then subsampled to 40 points. A small, hard benchmark for 1D
CNNs that needs no download. NumPy and SciPy only; seeded, so the same seed gives the same set.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d

TEMPLATE_LEN = 12
PADDING = (36, 60)
SCALE_COEFF = 0.4
MAX_TRANSLATION = 48
CORR_NOISE_SCALE = 0.25
IID_NOISE_SCALE = 2e-2
SHEAR_SCALE = 0.75
FINAL_SEQ_LENGTH = 40


def templates() -> np.ndarray:
    """The ten digit templates, shape (10, 12): whitened, starting at 0, divided by 6."""
    x = np.asarray(
        [
            [5, 6, 6.5, 6.75, 7, 7, 7, 7, 6.75, 6.5, 6, 5],
            [5, 3, 3, 3.4, 3.8, 4.2, 4.6, 5, 5.4, 5.8, 5, 5],
            [5, 6, 6.5, 6.5, 6, 5.25, 4.75, 4, 3.5, 3.5, 4, 5],
            [5, 6, 6.5, 6.5, 6, 5, 5, 6, 6.5, 6.5, 6, 5],
            [5, 4.4, 3.8, 3.2, 2.6, 2.6, 5, 5, 5, 5, 5, 5],
            [5, 3, 3, 3, 3, 5, 6, 6.5, 6.5, 6, 4.5, 5],
            [5, 4, 3.5, 3.25, 3, 3, 3, 3, 3.25, 3.5, 4, 5],
            [5, 7, 7, 6.6, 6.2, 5.8, 5.4, 5, 4.6, 4.2, 5, 5],
            [5, 4, 3.5, 3.5, 4, 5, 5, 4, 3.5, 3.5, 4, 5],
            [5, 4, 3.5, 3.5, 4, 5, 5, 5, 5, 4.7, 4.3, 5],
        ]
    )
    x = x - x.mean(axis=1, keepdims=True)
    x = x / x.std(axis=1, keepdims=True)
    x = x - x[:, :1]
    return x / 6.0


def _interpolate(x: np.ndarray, n: int) -> np.ndarray:
    return np.interp(np.linspace(0, 1, n), np.linspace(0, 1, len(x)), x)


def _transform(x: np.ndarray, rng: np.random.Generator, eps: float = 1e-8) -> np.ndarray:
    low, high = PADDING
    pad = low + int(rng.random() * (high - low + 1))
    out = np.concatenate([x + eps, np.zeros(pad)])
    out = _interpolate(out, TEMPLATE_LEN + PADDING[-1])
    out = out * (1 + SCALE_COEFF * (rng.random() - 0.5))
    k = int(rng.integers(MAX_TRANSLATION))
    out = np.concatenate([out[len(out) - k:], out[: len(out) - k]])
    mask = out != 0
    corr_noise = gaussian_filter1d(CORR_NOISE_SCALE * rng.standard_normal(out.shape), 2)
    out = mask * out + (1 - mask) * corr_noise
    out = out + IID_NOISE_SCALE * rng.standard_normal(out.shape)
    shear = SHEAR_SCALE * (rng.random() - 0.5)
    out = out - shear * np.linspace(-0.5, 0.5, len(out))
    return _interpolate(out, FINAL_SEQ_LENGTH)


@dataclass
class Mnist1D:
    """Generated sequences: x_* of shape (N, 40, 1) float32, y_* integer labels 0..9."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray


def generate(num_samples: int = 5000, train_split: float = 0.8, seed: int = 42) -> Mnist1D:
    """``num_samples`` sequences (as many of each digit), shuffled and split; deterministic."""
    if not isinstance(num_samples, int) or num_samples < 10:
        raise ValueError(
            f"MNIST-1D needs at least one sample per digit. Expected num_samples >= 10. "
            f"Received: num_samples={num_samples!r}"
        )
    if not 0 < train_split < 1:
        raise ValueError(
            f"The train split is a fraction. Expected 0 < train_split < 1. Received: train_split={train_split!r}"
        )
    rng = np.random.default_rng(seed)
    shapes = templates()
    per_class = num_samples // len(shapes)
    xs = np.stack([_transform(shapes[label], rng) for label in range(len(shapes)) for _ in range(per_class)])
    ys = np.repeat(np.arange(len(shapes)), per_class)
    order = rng.permutation(len(ys))
    xs = xs[order].astype("float32")[..., None]
    ys = ys[order].astype("int64")
    split = int(len(ys) * train_split)
    return Mnist1D(xs[:split], ys[:split], xs[split:], ys[split:])
