"""Several batches per call of the training step, with each batch's loss kept and Stop honoured
at the end of the group.

Keras' ``fit`` calls its compiled training step once per batch from Python unless
``compile(steps_per_execution=N)`` runs N batches in one call (a loop inside the compiled
graph). Measured on a 2-core CPU with XLA, our layers, batch 64, epochs of 32 batches, 8
batches per call against 1 (interleaved epochs, medians): the ResNet-style network of
``benchmarks/bench_models.py`` 0.87-0.93x the time, the small VGG 0.95x, LeNet-5 0.82x; Keras'
own layers without XLA gained too (small VGG 0.94x, LeNet-5 0.75x). Weights after an epoch
were bit for bit those of one batch per call.

Within a group Keras reports nothing, so each batch's loss is kept in the graph: the fitted
model's ``compute_loss`` writes it into a ring of ``capacity`` slots and counts the batches
(``recording_model``), and the studio's callback reads the new ones at the end of each group.
Keras checks Stop (``model.stop_training``) between calls, so a run stops at the end of the
group in progress; groups are kept small enough (``GROUP_MACS``) that this is a fraction of a
second. (A ``take_while`` on the batches was tried to stop within a group, but the graph's
loop fetches batches ahead of the step, so batches fetched before Stop still trained: four
after it in one run at batch size 1.)

Only the TensorFlow backend, one device and batches of arrays take this route, and only as
many batches per call as keep a group's work small (``batches_per_call``); the rest calls the
step once per batch.
"""

from __future__ import annotations

import functools
import math

BATCHES_PER_CALL = 8
"""Batches per call of the training step at most: a group of a small VGG's batches takes
~0.4 s on a 2-core CPU, the longest a Stop then waits for its group to end."""

GROUP_MACS = 40e9
"""Multiply-accumulates a group's training steps may hold (forward, input and weight
gradients: 3x the forward's): above, fewer batches go per call, so that a large network's
progress, loss curve and Stop still come every batch or few (where a call's overhead is
negligible anyway). The small VGG at batch 64 takes 4.8e9 a batch, so 8; VGG-16 on 224x224
images one."""


def applies(feed: dict, distributed: bool) -> bool:
    """Whether this run trains several batches per call: arrays (not an image folder read a
    batch at a time), one device, the TensorFlow backend (where it was measured and tested;
    the JAX trainer keeps non-trainable writes inside the step differently)."""
    import keras

    return "y" in feed and not distributed and keras.backend.backend() == "tensorflow"


def batches_per_call(model, batch_size: int) -> int:
    """``BATCHES_PER_CALL``, or fewer where a group's training would exceed ``GROUP_MACS``."""
    step = 3 * _forward_macs(model) * batch_size
    return max(1, min(BATCHES_PER_CALL, int(GROUP_MACS // step) if step else BATCHES_PER_CALL))


def _forward_macs(model) -> int:
    """Multiply-accumulates of one example's forward pass, roughly: each layer's kernel times
    the cells of its output (nested models included; a transposed convolution is overcounted)."""
    total = 0
    for layer in model.layers:
        if hasattr(layer, "layers"):
            total += _forward_macs(layer)
            continue
        kernel = getattr(layer, "kernel", None)
        if kernel is None:
            kernel = getattr(layer, "depthwise_kernel", None)
        if kernel is None:
            continue
        try:
            shape = layer.output.shape
        except (AttributeError, ValueError):  # a layer never called in a graph
            continue
        cells = math.prod(length or 1 for length in shape[1:-1])
        total += math.prod(kernel.shape) * cells
    return total


@functools.cache
def _recorder_class():
    """The model class that keeps each training batch's loss; built on first use so that
    importing this module does not load Keras."""
    import keras
    import numpy as np
    from keras import ops

    class BatchLossRecorder(keras.Model):
        """A functional model around the network being fitted whose ``compute_loss`` also
        writes each training batch's total loss (the one Keras reports) into ``losses`` at slot
        ``count % capacity`` and counts the batches."""

        def __init__(self, inputs, outputs, capacity, **kwargs):
            super().__init__(inputs=inputs, outputs=outputs, **kwargs)
            self.capacity = capacity
            self.batch_losses = keras.Variable(
                np.zeros(capacity, "float32"), trainable=False, name="batch_losses")
            self.batch_count = keras.Variable(0, dtype="int32", trainable=False, name="batch_count")

        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
            loss = super().compute_loss(x, y, y_pred, sample_weight, training)
            if training:
                slot = ops.reshape(ops.mod(self.batch_count, self.capacity), (1, 1))
                value = ops.reshape(ops.cast(loss, "float32"), (1,))
                self.batch_losses.assign(ops.scatter_update(self.batch_losses, slot, value))
                self.batch_count.assign_add(1)
            return loss

        def recorded(self) -> tuple[int, list[float]]:
            """(batches trained so far, the ring of their latest losses)."""
            return int(ops.convert_to_numpy(self.batch_count)), ops.convert_to_numpy(self.batch_losses).tolist()

    return BatchLossRecorder


def recording_model(model, per_call: int):
    """``model`` inside a model that records each training batch's loss (same weights), for
    groups of ``per_call`` batches: its ring holds two groups, so a group's losses are still
    there when they are read after it."""
    import keras

    inputs = keras.Input(shape=model.input_shape[1:])
    return _recorder_class()(inputs, model(inputs), 2 * per_call, name=f"{model.name}_recorded")
