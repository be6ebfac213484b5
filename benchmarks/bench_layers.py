"""Time one training step of our layers against their ``keras.layers`` counterparts.

A step is the forward pass and the gradients, for a fixed random upstream gradient ``r``,
with respect to the weights and the input (not the input for LeNet's first layer, as in
training). The built-in layers run as Keras runs them by default (a tf.function without
XLA); ours run both without and with XLA (``jit_compile=True``). The three are interleaved
and each case reports medians, since the machine is shared; a case's ratio is the median of
the rounds' ratios. A LeNet-5 fit step (built-in layers against ours) is shown too, outside
the mean. The last line is the geometric mean of ours / built-in over the layer cases.

Usage: ``python benchmarks/bench_layers.py [--repeats N] [--case NAME ...] [--no-model]``
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
    "convT3x3_s2": (
        (64, 16, 16, 32),
        lambda: layers.Conv2DTranspose(32, 3, strides=2, padding="same"),
        lambda: keras.layers.Conv2DTranspose(32, 3, strides=2, padding="same"),
        True,
    ),
    "convT4x4_s2": (
        (64, 16, 16, 32),
        lambda: layers.Conv2DTranspose(16, 4, strides=2),
        lambda: keras.layers.Conv2DTranspose(16, 4, strides=2),
        True,
    ),
    "convT1d_k5_s2": (
        (64, 64, 32),
        lambda: layers.Conv1DTranspose(32, 5, strides=2, padding="same"),
        lambda: keras.layers.Conv1DTranspose(32, 5, strides=2, padding="same"),
        True,
    ),
    "depthwise3x3": (
        (64, 32, 32, 32),
        lambda: layers.DepthwiseConv2D(3, padding="same"),
        lambda: keras.layers.DepthwiseConv2D(3, padding="same"),
        True,
    ),
    "depthwise3x3_s2_m2": (
        (64, 32, 32, 32),
        lambda: layers.DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2),
        lambda: keras.layers.DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2),
        True,
    ),
    "conv3x3_groups4": (
        (64, 32, 32, 32),
        lambda: layers.Conv2D(64, 3, padding="same", groups=4),
        lambda: keras.layers.Conv2D(64, 3, padding="same", groups=4),
        True,
    ),
    "maxpool3x3_s2": (
        (64, 32, 32, 64),
        lambda: layers.MaxPool2D(3, strides=2, padding="same"),
        lambda: keras.layers.MaxPooling2D(3, strides=2, padding="same"),
        True,
    ),
}


def _train_step(layer, shape, input_gradient, jit_compile):
    """A compiled forward+backward step of ``layer`` on a fixed random input.

    The upstream gradient ``r`` comes in as the next layer would send it back (the tape's
    ``output_gradients``), and the output goes out as it would go on to that layer. Reducing
    the output to a loss, ``sum(output * r)``, gave the same gradients but timed a reduction
    of a whole activation that no layer's step has, and on its own it cost XLA 2-3x what
    it cost TensorFlow (64x32x32x32: 4.2 against 1.8 ms); copying whole results out added
    the same time to both sides.
    """
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=shape).astype("float32"))
    out_shape = layer.compute_output_shape(shape)
    r = tf.constant(rng.normal(size=out_shape).astype("float32"))

    @tf.function(jit_compile=jit_compile)
    def step():
        with tf.GradientTape() as tape:
            if input_gradient:
                tape.watch(x)
            output = layer(x)
        sources = [x, *layer.trainable_variables] if input_gradient else layer.trainable_variables
        # The output is returned too: the gradients of a linear layer do not need it, so
        # neither TensorFlow nor XLA would compute the forward pass otherwise.
        return output, tape.gradient(output, sources, output_gradients=r)

    return step


def _time(step):
    """Seconds of one call; one value of each result is read, so that the call has finished,
    without copying whole tensors out (the same for every variant)."""
    start = time.perf_counter()
    result = step()
    tf.nest.map_structure(lambda t: tf.reshape(t, [-1])[-1].numpy(), result)
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
    return _interleave(steps, repeats)


def _interleave(steps, repeats):
    """Median time of each step, and the median of each round's ratio to the built-in one.

    A round times every step back to back, so a round's ratio is steadier on a busy machine
    than the ratio of two medians.
    """
    times = {key: [] for key in steps}
    for _ in range(repeats):
        for key, step in steps.items():
            times[key].append(_time(step))
    medians = {key: statistics.median(values) for key, values in times.items()}
    ratios = {
        key: statistics.median(t / b for t, b in zip(values, times["builtin"], strict=True))
        for key, values in times.items()
    }
    return medians, ratios


def _lenet(conv, pool):
    inputs = keras.Input((28, 28, 1))
    x = pool(2)(conv(6, 5, padding="same", activation="relu")(inputs))
    x = pool(2)(conv(16, 5, activation="relu")(x))
    x = keras.layers.Dense(10)(keras.layers.Flatten()(x))
    return keras.Model(inputs, x)


def run_model(repeats):
    """A LeNet-5 training step (Adam, cross-entropy, batch 128), built-in against ours."""
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=(128, 28, 28, 1)).astype("float32"))
    y = tf.constant(rng.integers(0, 10, size=128))
    steps = {}
    for key, conv, pool, jit in (
        ("builtin", keras.layers.Conv2D, keras.layers.MaxPooling2D, False),
        ("ours", layers.Conv2D, layers.MaxPool2D, False),
        ("ours_xla", layers.Conv2D, layers.MaxPool2D, True),
    ):
        keras.utils.set_random_seed(0)
        model = _lenet(conv, pool)
        model.compile(
            optimizer="adam",
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            jit_compile=jit,
        )
        model.make_train_function()
        train_function = model.train_function

        def step(train_function=train_function):
            return train_function(iter([(x, y)]))

        steps[key] = step
    for step in steps.values():
        _time(step)
        _time(step)
    return _interleave(steps, repeats)


def _print_row(name, medians, ratios):
    print(
        f"{name:<15} {medians['builtin'] * 1e3:9.2f} {medians['ours'] * 1e3:9.2f} "
        f"{medians['ours_xla'] * 1e3:9.2f} {ratios['ours']:7.2f} {ratios['ours_xla']:9.2f}",
        flush=True,
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15, help="timed steps per variant")
    parser.add_argument("--case", nargs="*", choices=sorted(CASES), help="cases to run")
    parser.add_argument("--no-model", action="store_true", help="skip the whole-model step")
    args = parser.parse_args(argv)
    names = args.case or list(CASES)
    header = ("case", "keras ms", "ours ms", "xla ms", "ratio", "xla ratio")
    print("{:<15} {:>9} {:>9} {:>9} {:>7} {:>9}".format(*header))
    ratios, xla_ratios = [], []
    for name in names:
        medians, case_ratios = run_case(name, args.repeats)
        ratios.append(case_ratios["ours"])
        xla_ratios.append(case_ratios["ours_xla"])
        _print_row(name, medians, case_ratios)
    if not args.no_model:
        medians, model_ratios = run_model(args.repeats)
        _print_row("lenet5_model*", medians, model_ratios)
        print("* whole-model fit step, not part of the geometric mean")
    mean = float(np.exp(np.mean(np.log(ratios))))
    xla_mean = float(np.exp(np.mean(np.log(xla_ratios))))
    print(f"geometric mean ours/keras: {mean:.2f} without XLA, {xla_mean:.2f} with XLA")


if __name__ == "__main__":
    main()
