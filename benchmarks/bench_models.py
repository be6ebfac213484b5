"""Train whole networks of our layers against the same networks of ``keras.layers``.

Four networks, each built twice from the same code (``layers`` or ``keras.layers`` for the
convolutions, poolings and batch normalizations, which share their names): LeNet-5 on 28x28x1, a small VGG on
32x32x3 (conv 32-32-pool-64-64-pool, 3x3 "same"), a 1D CNN on 40x1 (``mnist1d-cnn``'s
layout) and a ResNet-style network on 32x32x3 (a stem and two basic residual blocks with
batch normalization, the second strided with a projection shortcut). Ours train as the app
trains them, compiled with XLA (``jit_compile=True``, the default of ``TrainingSettings``);
the built-in ones as a Keras user trains them, with ``compile``'s defaults (on a CPU-only
machine Keras then runs without XLA) and one batch per call of the step, ours as the app
runs them, 8 batches per call with each batch's loss recorded (``cnnstudio.training.groups``).
Both: Adam, sparse cross-entropy, batch 64, one epoch of 2,048 random images per round
(``fit``, after a warm-up epoch that compiles), timed from the epoch's beginning to its end
(``_EpochClock``: without fit's iterator setup and teardown).

Ours also train without XLA (``--no-xla`` in the app), shown beside: on a busy 2-core CPU
the XLA-compiled step of a BatchNormalization network was measured slower than TensorFlow's
graph (which runs the matmuls in oneDNN), for Keras' own layers too.

Rounds interleave every network and every variant (rotating which goes first), since the
machine is shared; each row gives the median images/s of each and the median of the rounds'
time ratios (ours / built-in; below 1 means ours is faster), with the rounds' spread for the
XLA one, and the median ratio of process CPU time for the XLA variant (steadier than wall
time on a machine shared with other work). The last line is the geometric mean of the XLA
ratios (the app's default), and of the no-XLA ones. The studio's own per-batch callback is left out here (see
``bench_training.py`` for its overhead).

With ``KERAS_BACKEND=jax`` (where JAX is installed: a GPU machine, which has no TensorFlow)
both sides are compiled by JAX, ours one batch per call (several per call is the TensorFlow
trainer's), and float32 matmuls and convolutions run at full precision on both (a GPU would
otherwise use TF32); the line above the table names the device, and the no-XLA columns are
left out.

Usage: ``python benchmarks/bench_models.py [--rounds N] [--network NAME ...]``
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

import layers  # noqa: E402
from cnnstudio.training import groups  # noqa: E402

BATCH = 64
IMAGES = 2048


def lenet5(nn):
    inputs = keras.Input((28, 28, 1))
    x = nn.MaxPool2D(2)(nn.Conv2D(6, 5, padding="same", activation="relu")(inputs))
    x = nn.MaxPool2D(2)(nn.Conv2D(16, 5, activation="relu")(x))
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(120, activation="relu")(x)
    x = keras.layers.Dense(84, activation="relu")(x)
    return keras.Model(inputs, keras.layers.Dense(10)(x))


def small_vgg(nn):
    inputs = keras.Input((32, 32, 3))
    x = inputs
    for filters in (32, 64):
        x = nn.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = nn.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = nn.MaxPool2D(2)(x)
    x = keras.layers.Dense(128, activation="relu")(keras.layers.Flatten()(x))
    return keras.Model(inputs, keras.layers.Dense(10)(x))


def cnn1d(nn):
    inputs = keras.Input((40, 1))
    x = nn.MaxPool1D(2)(nn.Conv1D(32, 5, padding="same", activation="relu")(inputs))
    x = nn.MaxPool1D(2)(nn.Conv1D(64, 3, padding="same", activation="relu")(x))
    x = nn.Conv1D(64, 3, padding="same", activation="relu")(x)
    x = keras.layers.Dense(64, activation="relu")(keras.layers.Flatten()(x))
    return keras.Model(inputs, keras.layers.Dense(10)(x))


def resnet_blocks(nn):
    def conv_bn(x, filters, strides=1, kernel=3):
        x = nn.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=False)(x)
        return nn.BatchNormalization()(x)

    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Activation("relu")(conv_bn(inputs, 16))
    for filters, strides in ((16, 1), (32, 2)):
        y = keras.layers.Activation("relu")(conv_bn(x, filters, strides))
        y = conv_bn(y, filters)
        shortcut = x if strides == 1 else conv_bn(x, filters, strides, kernel=1)
        x = keras.layers.Activation("relu")(keras.layers.Add()([y, shortcut]))
    x = nn.GlobalAvgPool2D()(x)
    return keras.Model(inputs, keras.layers.Dense(10)(x))


NETWORKS = {"lenet5": lenet5, "small_vgg": small_vgg, "cnn1d": cnn1d, "resnet_blocks": resnet_blocks}


class _EpochClock(keras.callbacks.Callback):
    """Wall and process CPU seconds from an epoch's beginning to its end.

    ``fit`` also builds a tf.data iterator before the epoch and destroys it after, the same
    for both variants; the destruction waits for tf.data's autotune thread (0.2-0.6 s, idle,
    measured here), which timed around ``fit`` drowned the gap between the variants: epochs
    of 1.6-2.3 s came out at 2.6 s for both. The app pays it once per run, not per epoch.
    """

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter(), time.process_time()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds = time.perf_counter() - self.started[0], time.process_time() - self.started[1]


def random_data(make, rng):
    """``IMAGES`` random images of the network's input shape and labels of 10 classes."""
    shape = make(keras.layers).input_shape[1:]
    return rng.random((IMAGES, *shape)).astype("float32"), rng.integers(0, 10, IMAGES)


def _fitter(make, nn, jit_compile, x, y, grouped=False):
    """A function that trains one epoch and returns its (wall, CPU) seconds; ``grouped``: as the
    app does, several batches per call with each batch's loss recorded
    (``cnnstudio.training.groups``)."""
    keras.utils.set_random_seed(0)
    model = make(nn)
    compiled = {"jit_compile": True} if jit_compile else {}
    if grouped:
        per_call = groups.batches_per_call(model, BATCH)
        model = groups.recording_model(model, per_call)
        compiled["steps_per_execution"] = per_call
    model.compile(
        optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), **compiled
    )
    clock = _EpochClock()

    def fit():
        model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, shuffle=False, callbacks=[clock])
        return clock.seconds

    fit()  # compiles
    return fit


def run_rounds(fits, rounds):
    """(wall, CPU) seconds of each network's variants, one list per variant, from ``fits``
    (network -> variant -> the function that trains one epoch): every round trains each
    network with each variant, rotating which variant goes first."""
    times = {name: {key: [] for key in variants} for name, variants in fits.items()}
    cpu_times = {name: {key: [] for key in variants} for name, variants in fits.items()}
    for round_index in range(rounds):
        for name, variants in fits.items():
            keys = list(variants)
            shift = round_index % len(keys)
            for key in keys[shift:] + keys[:shift]:
                wall, cpu = variants[key]()
                times[name][key].append(wall)
                cpu_times[name][key].append(cpu)
    return times, cpu_times


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="timed epochs per variant")
    parser.add_argument("--network", nargs="*", choices=sorted(NETWORKS), help="networks to run")
    args = parser.parse_args(argv)
    names = args.network or list(NETWORKS)
    on_tensorflow = keras.backend.backend() == "tensorflow"
    if not on_tensorflow:
        _full_float32_matmuls()
    rng = np.random.default_rng(0)
    fits = {}
    for name in names:
        x, y = random_data(NETWORKS[name], rng)
        fits[name] = {
            "builtin": _fitter(NETWORKS[name], keras.layers, False, x, y),
            "ours": _fitter(NETWORKS[name], layers, True, x, y, grouped=on_tensorflow),
        }
        if on_tensorflow:
            fits[name]["ours_no_xla"] = _fitter(NETWORKS[name], layers, False, x, y, grouped=True)
    variants = tuple(fits[names[0]])
    times, cpu_times = run_rounds(fits, args.rounds)
    if not on_tensorflow:
        print(f"backend {keras.backend.backend()}, device {_device()}, float32 matmuls at full precision")
    no_xla = "ours_no_xla" in variants
    print(f"{'network':<15} {'keras img/s':>12} {'ours img/s':>11} {'ratio':>6} {'spread':>10} "
          f"{'cpu ratio':>9}" + (f" {'no-XLA img/s':>13} {'ratio':>6}" if no_xla else ""))
    ratios = {key: [] for key in variants if key != "builtin"}
    for name in names:
        builtin = times[name]["builtin"]
        row = {}
        for key in ratios:
            round_ratios = [t / b for t, b in zip(times[name][key], builtin, strict=True)]
            row[key] = (statistics.median(round_ratios), min(round_ratios), max(round_ratios))
            ratios[key].append(row[key][0])
        spread = f"{row['ours'][1]:.2f}-{row['ours'][2]:.2f}"
        cpu_ratio = statistics.median(
            t / b for t, b in zip(cpu_times[name]["ours"], cpu_times[name]["builtin"], strict=True))
        print(f"{name:<15} {IMAGES / statistics.median(builtin):12,.0f} "
              f"{IMAGES / statistics.median(times[name]['ours']):11,.0f} {row['ours'][0]:6.2f} {spread:>10} "
              f"{cpu_ratio:9.2f}"
              + (f" {IMAGES / statistics.median(times[name]['ours_no_xla']):13,.0f} "
                 f"{row['ours_no_xla'][0]:6.2f}" if no_xla else ""),
              flush=True)
    means = {key: float(np.exp(np.mean(np.log(values)))) for key, values in ratios.items()}
    if no_xla:
        print(f"geometric mean ours/keras time ratio: {means['ours']:.2f} with XLA, "
              f"{means['ours_no_xla']:.2f} without")
    else:
        print(f"geometric mean ours/keras time ratio: {means['ours']:.2f}")


def _full_float32_matmuls():
    """On JAX, float32 matmuls and convolutions at full precision on both sides: a GPU would
    otherwise run them in TF32 (10-bit mantissas), which compares tensor cores, not layers."""
    import jax

    jax.config.update("jax_default_matmul_precision", "highest")


def _device():
    import jax

    device = jax.devices()[0]
    return f"{device.platform} ({device.device_kind})"


if __name__ == "__main__":
    main()
