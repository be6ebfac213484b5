"""Time one training step of our layers against their ``keras.layers`` counterparts.

A step is the forward pass and the gradients of ``sum(output * r)`` with respect to the
weights and the input (not the input for LeNet's first layer, as in training). The built-in
layers run as Keras runs them by default (a tf.function without XLA); ours run both without
and with XLA (``jit_compile=True``). The three are interleaved and each case reports medians,
since the machine is shared. The last line is the geometric mean of ours / built-in.

Usage: ``python benchmarks/bench_layers.py [--repeats N] [--case NAME ...]``
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
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import layers  # noqa: E402

CASES = {
    "lenet_conv5x5": (
        (128, 28, 28, 1),
        lambda: layers.Conv2D(6, 5),
        lambda: keras.layers.Conv2D(6, 5),
        False,
    ),
    "conv3x3_s1": (
        (64, 32, 32, 32),
        lambda: layers.Conv2D(64, 3, padding="same"),
        lambda: keras.layers.Conv2D(64, 3, padding="same"),
        True,
    ),
    "conv3x3_s2": (
        (64, 32, 32, 32),
        lambda: layers.Conv2D(64, 3, strides=2, padding="same"),
        lambda: keras.layers.Conv2D(64, 3, strides=2, padding="same"),
        True,
    ),
    "conv3x3_d2": (
        (64, 32, 32, 32),
        lambda: layers.Conv2D(64, 3, dilation_rate=2, padding="same"),
        lambda: keras.layers.Conv2D(64, 3, dilation_rate=2, padding="same"),
        True,
    ),
    "conv1d_k5": (
        (64, 128, 32),
        lambda: layers.Conv1D(64, 5, padding="same"),
        lambda: keras.layers.Conv1D(64, 5, padding="same"),
        True,
    ),
    "maxpool2x2": (
        (64, 32, 32, 64),
        lambda: layers.MaxPool2D(2),
        lambda: keras.layers.MaxPooling2D(2),
        True,
    ),
}


def _train_step(layer, shape, input_gradient, jit_compile):
    """A compiled forward+backward step of ``layer`` on a fixed random input."""
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=shape).astype("float32"))
    out_shape = layer.compute_output_shape(shape)
    r = tf.constant(rng.normal(size=out_shape).astype("float32"))

    @tf.function(jit_compile=jit_compile)
    def step():
        with tf.GradientTape() as tape:
            if input_gradient:
                tape.watch(x)
            loss = tf.reduce_sum(layer(x) * r)
        sources = [x, *layer.trainable_variables] if input_gradient else layer.trainable_variables
        return tape.gradient(loss, sources) if sources else loss

    return step


def _time(step):
    start = time.perf_counter()
    result = step()
    tf.nest.map_structure(lambda t: t.numpy(), result)
    return time.perf_counter() - start


def run_case(name, repeats):
    shape, make_ours, make_builtin, input_gradient = CASES[name]
    ours, builtin = make_ours(), make_builtin()
    ours.build(shape)
    builtin.build(shape)
    builtin.set_weights(ours.get_weights())
    steps = {
        "builtin": _train_step(builtin, shape, input_gradient, jit_compile=False),
        "ours": _train_step(ours, shape, input_gradient, jit_compile=False),
        "ours_xla": _train_step(ours, shape, input_gradient, jit_compile=True),
    }
    for step in steps.values():
        _time(step)
        _time(step)
    times = {key: [] for key in steps}
    for _ in range(repeats):
        for key, step in steps.items():
            times[key].append(_time(step))
    return {key: statistics.median(values) for key, values in times.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15, help="timed steps per variant")
    parser.add_argument("--case", nargs="*", choices=sorted(CASES), help="cases to run")
    args = parser.parse_args(argv)
    names = args.case or list(CASES)
    print(f"{'case':<15} {'keras ms':>9} {'ours ms':>9} {'xla ms':>9} {'ratio':>7} {'xla ratio':>9}")
    ratios, xla_ratios = [], []
    for name in names:
        medians = run_case(name, args.repeats)
        ratio = medians["ours"] / medians["builtin"]
        xla_ratio = medians["ours_xla"] / medians["builtin"]
        ratios.append(ratio)
        xla_ratios.append(xla_ratio)
        print(
            f"{name:<15} {medians['builtin'] * 1e3:9.2f} {medians['ours'] * 1e3:9.2f} "
            f"{medians['ours_xla'] * 1e3:9.2f} {ratio:7.2f} {xla_ratio:9.2f}",
            flush=True,
        )
    mean = float(np.exp(np.mean(np.log(ratios))))
    xla_mean = float(np.exp(np.mean(np.log(xla_ratios))))
    print(f"geometric mean ours/keras: {mean:.2f} without XLA, {xla_mean:.2f} with XLA")


if __name__ == "__main__":
    main()
