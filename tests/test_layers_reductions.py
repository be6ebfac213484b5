"""layers.reductions: the slab sums behind the kernel and bias gradients, against numpy."""

import numpy as np
import pytest
import tensorflow as tf

from layers.reductions import add_bias, scale_channels, sum_to_channels


@pytest.mark.parametrize("rows", [1, 15, 16, 64, 77])  # plain sum, slabs, slabs after a pad
def test_sum_to_channels_sums_every_cell_of_each_channel(rows):
    x = np.random.default_rng(rows).normal(size=(rows, 2, 3)).astype("float32")
    np.testing.assert_allclose(
        np.asarray(sum_to_channels(x)), x.sum(axis=(0, 1)), rtol=1e-5, atol=1e-5
    )


def test_sum_to_channels_with_a_batch_known_only_when_the_graph_runs():
    summed = tf.function(sum_to_channels, input_signature=[tf.TensorSpec((None, 5, 3))])
    for batch in (1, 3, 8):
        x = np.random.default_rng(batch).normal(size=(batch, 5, 3)).astype("float32")
        np.testing.assert_allclose(summed(x).numpy(), x.sum(axis=(0, 1)), rtol=1e-5, atol=1e-5)


def test_bias_and_scale_gradients_are_the_sums_over_cells():
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=(3, 4, 5, 2)).astype("float32"))
    weights = tf.constant(rng.normal(size=(2,)).astype("float32"))
    r = rng.normal(size=(3, 4, 5, 2)).astype("float32")
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([x, weights])
        biased = tf.reduce_sum(add_bias(x, weights) * r)
        scaled = tf.reduce_sum(scale_channels(x, weights) * r)
    np.testing.assert_allclose(tape.gradient(biased, weights), r.sum(axis=(0, 1, 2)), rtol=1e-5)
    np.testing.assert_allclose(tape.gradient(biased, x), r, rtol=1e-6)
    np.testing.assert_allclose(
        tape.gradient(scaled, weights), (x.numpy() * r).sum(axis=(0, 1, 2)), rtol=1e-5, atol=1e-5
    )
    np.testing.assert_allclose(tape.gradient(scaled, x), r * weights.numpy(), rtol=1e-6)
