"""Train ``bench_models.py``'s four networks in PyTorch beside ours and Keras' own layers.

What a user might pick instead of the studio: the same four networks (LeNet-5, the small VGG,
the 1D CNN, the ResNet-style blocks, layer for layer as ``bench_models.py`` builds them) written
with ``torch.nn``, trained on the CPU with 2 threads by a plain PyTorch loop (Adam, cross-entropy,
batch 64, one epoch of the same 2,048 random images, already tensors in memory, no DataLoader).
Ours train as ``bench_models.py`` trains them (XLA, several batches per call), Keras' layers as a
Keras user trains them. Rounds interleave the three and rotate which goes first; each row gives
the median images/s of each and the medians of the rounds' time ratios to PyTorch.

PyTorch is not one of the studio's dependencies: run this in an environment that has both, e.g.
a virtual environment with ``pip install torch==2.13.0`` whose site-packages also reach the
project's (a ``.pth`` file naming ``.venv/lib/python3.11/site-packages``). ``make bench`` leaves it
out (it runs ``bench_*.py``).

Usage: ``python benchmarks/pytorch_models.py [--rounds N] [--network NAME ...]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bench_models  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

import layers  # noqa: E402

THREADS = 2


def _batch_norm(channels):
    """Keras' BatchNormalization defaults (momentum 0.99, epsilon 1e-3) in PyTorch's terms."""
    return nn.BatchNorm2d(channels, eps=1e-3, momentum=0.01)


def lenet5():
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10),
    )


def small_vgg():
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 8 * 8, 128), nn.ReLU(), nn.Linear(128, 10),
    )


def cnn1d():
    return nn.Sequential(
        nn.Conv1d(1, 32, 5, padding=2), nn.ReLU(), nn.MaxPool1d(2),
        nn.Conv1d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool1d(2),
        nn.Conv1d(64, 64, 3, padding=1), nn.ReLU(),
        nn.Flatten(), nn.Linear(64 * 10, 64), nn.ReLU(), nn.Linear(64, 10),
    )


class _BasicBlock(nn.Module):
    """conv-BN-ReLU-conv-BN plus the shortcut (a strided 1x1 conv-BN where the shape changes)."""

    def __init__(self, channels, filters, stride):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, filters, 3, stride, padding=1, bias=False), _batch_norm(filters),
            nn.ReLU(),
            nn.Conv2d(filters, filters, 3, padding=1, bias=False), _batch_norm(filters),
        )
        self.shortcut = nn.Identity() if stride == 1 else nn.Sequential(
            nn.Conv2d(channels, filters, 1, stride, bias=False), _batch_norm(filters)
        )

    def forward(self, x):
        return torch.relu(self.body(x) + self.shortcut(x))


def resnet_blocks():
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1, bias=False), _batch_norm(16), nn.ReLU(),
        _BasicBlock(16, 16, 1), _BasicBlock(16, 32, 2),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10),
    )


TORCH_NETWORKS = {
    "lenet5": lenet5, "small_vgg": small_vgg, "cnn1d": cnn1d, "resnet_blocks": resnet_blocks,
}


def torch_fitter(make, x, y):
    """A function that trains one epoch of the PyTorch network and returns its (wall, CPU)
    seconds; ``x`` is channels-last as Keras takes it, moved to PyTorch's channels-first."""
    torch.manual_seed(0)
    model = make()
    images = torch.from_numpy(np.ascontiguousarray(np.moveaxis(x, -1, 1)))
    labels = torch.from_numpy(y.astype("int64"))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = nn.CrossEntropyLoss()
    batch = bench_models.BATCH

    def fit():
        model.train()
        started = time.perf_counter(), time.process_time()
        for start in range(0, len(images), batch):
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(images[start:start + batch]), labels[start:start + batch])
            loss.backward()
            optimizer.step()
        return time.perf_counter() - started[0], time.process_time() - started[1]

    fit()  # warm-up, as the Keras sides' compiling epoch
    return fit


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="timed epochs per variant")
    parser.add_argument("--network", nargs="*", choices=sorted(TORCH_NETWORKS))
    args = parser.parse_args(argv)
    torch.set_num_threads(THREADS)
    names = args.network or list(TORCH_NETWORKS)
    rng = np.random.default_rng(0)
    fits = {}
    for name in names:
        x, y = bench_models.random_data(bench_models.NETWORKS[name], rng)
        make = bench_models.NETWORKS[name]
        fits[name] = {
            "pytorch": torch_fitter(TORCH_NETWORKS[name], x, y),
            "keras": bench_models._fitter(make, keras.layers, False, x, y),
            "ours": bench_models._fitter(make, layers, True, x, y, grouped=True),
        }
    variants = ("pytorch", "keras", "ours")
    times, _ = bench_models.run_rounds(fits, args.rounds)
    print(f"PyTorch {torch.__version__}, {THREADS} threads; time ratios to PyTorch (below 1: faster)")
    print(f"{'network':<15} {'pytorch img/s':>14} {'keras img/s':>12} {'ours img/s':>11} "
          f"{'keras/pt':>9} {'ours/pt':>8}")
    ratios = {"keras": [], "ours": []}
    for name in names:
        reference = times[name]["pytorch"]
        rates = {
            key: bench_models.IMAGES / statistics.median(times[name][key]) for key in variants
        }
        row = {}
        for key in ratios:
            row[key] = statistics.median(
                t / r for t, r in zip(times[name][key], reference, strict=True)
            )
            ratios[key].append(row[key])
        print(f"{name:<15} {rates['pytorch']:>14,.0f} {rates['keras']:>12,.0f} "
              f"{rates['ours']:>11,.0f} {row['keras']:>9.2f} {row['ours']:>8.2f}")
    means = {key: float(np.exp(np.mean(np.log(values)))) for key, values in ratios.items()}
    print(f"geometric mean time ratio to PyTorch: keras {means['keras']:.2f}, ours {means['ours']:.2f}")


if __name__ == "__main__":
    main()
