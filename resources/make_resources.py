"""Regenerate the files in resources/: the app icon, the sample images and the default project.

Run from the repository root: ``.venv/bin/python resources/make_resources.py``. The files are
committed; tests/test_resources.py checks they still match what this script makes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cnnstudio.inspection.pictures import write_png
from cnnstudio.network import presets
from cnnstudio.workspace.project import Project, save_project

RESOURCES = Path(__file__).resolve().parent
SAMPLE_SCALE = 8  # an 8x8 digit becomes 64x64; the window resizes it back exactly


def icon(size: int = 128) -> np.ndarray:
    """A 5x5 input grid with a 3x3 kernel window on it, in the canvas' Conv2D blue."""
    pixels = np.zeros((size, size, 4), np.uint8)
    yy, xx = np.mgrid[:size, :size]
    radius, margin = size // 6, size // 16
    inner = (np.clip(np.minimum(yy, size - 1 - yy) - margin, None, radius) - radius,
             np.clip(np.minimum(xx, size - 1 - xx) - margin, None, radius) - radius)
    inside = np.hypot(*inner) <= radius
    pixels[inside] = (45, 108, 181, 255)
    cell, gap = (size - 2 * margin) // 6, max(2, size // 64)
    origin = (size - 5 * cell) // 2
    for row in range(5):
        for col in range(5):
            window = 1 <= row <= 3 and 1 <= col <= 3
            top, left = origin + row * cell + gap, origin + col * cell + gap
            color = (243, 156, 18, 255) if window else (225, 234, 245, 255)
            pixels[top:top + cell - 2 * gap, left:left + cell - 2 * gap] = color
    return pixels


def digit_samples() -> dict[str, np.ndarray]:
    """The first example of each class of scikit-learn's digits, ink 16 -> white, as 64x64 grey."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    samples = {}
    for label in range(10):
        index = int(np.flatnonzero(digits.target == label)[0])
        grey = np.rint(digits.images[index] * 255.0 / 16.0).astype(np.uint8)
        samples[f"digit_{label}_index_{index}.png"] = np.kron(grey, np.ones((SAMPLE_SCALE, SAMPLE_SCALE), np.uint8))
    return samples


def default_project() -> Project:
    return Project(network=presets.get("digits-cnn"))


def main() -> None:
    for folder in ("icons", "samples"):
        (RESOURCES / folder).mkdir(exist_ok=True)
    write_png(RESOURCES / "icons" / "cnnstudio.png", icon())
    for name, pixels in digit_samples().items():
        write_png(RESOURCES / "samples" / name, pixels[..., None])
    save_project(default_project(), RESOURCES / "default.cnnproj.json")


if __name__ == "__main__":
    main()
