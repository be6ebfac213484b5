"""layers.BatchNormalization against keras.layers.BatchNormalization: one training step (outputs,
input and weight gradients, moving statistics), eagerly and with XLA; which path each case
takes; Keras' layer contract; configs and archives both ways."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras.src import testing

import layers
from layers import normalization

RNG = np.random.default_rng(0)


def _pair(**kwargs):
    return layers.BatchNormalization(**kwargs), keras.layers.BatchNormalization(**kwargs)


def _step(layer, x, upstream, jit_compile, **call_kwargs):
    """Outputs, gradients (input, then trainable weights) and the moving statistics after one call."""

    def run(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, **call_kwargs)
        return y, tape.gradient(y, [x, *layer.trainable_variables], output_gradients=upstream)

    y, grads = (tf.function(run, jit_compile=True) if jit_compile else run)(x)
    return [y, *grads, layer.moving_mean, layer.moving_variance]


def _assert_same_step(ours, ref, shape, jit_compile=False, dtype="float32", **call_kwargs):
    x = tf.constant(RNG.normal(1.5, 3.0, shape).astype(dtype))
    upstream = tf.constant(RNG.normal(0.0, 1.0, shape).astype(dtype))
    ref.build(shape)
    ours.build(shape)
    ref.set_weights([RNG.normal(1.0, 0.3, w.shape).astype("float32") for w in ref.get_weights()])
    ours.set_weights(ref.get_weights())
    got = _step(ours, x, upstream, jit_compile, **call_kwargs)
    want = _step(ref, x, upstream, jit_compile, **call_kwargs)
    assert len(got) == len(want)
    for a, b in zip(got, want, strict=True):
        a, b = np.asarray(a, "float64"), np.asarray(b, "float64")
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5 * max(1.0, float(np.abs(b).max())))


TRAINING_CASES = [
    ({}, (8, 5, 6, 7)),
    ({"center": False}, (4, 9, 3)),
    ({"scale": False}, (16, 5)),
    ({"center": False, "scale": False}, (3, 4, 4, 2)),
    ({"momentum": 0.5, "epsilon": 1e-5}, (64, 6, 6, 16)),
    ({"axis": 3}, (2, 3, 3, 5)),
]


@pytest.mark.parametrize("jit_compile", [False, True], ids=["eager", "xla"])
@pytest.mark.parametrize(("kwargs", "shape"), TRAINING_CASES, ids=[str(c) for c, _ in TRAINING_CASES])
def test_training_step_takes_the_channel_sums_and_matches_keras(kwargs, shape, jit_compile, monkeypatch):
    calls = []
    original = normalization._normalize
    monkeypatch.setattr(normalization, "_normalize", lambda *a: calls.append(1) or original(*a))
    _assert_same_step(*_pair(**kwargs), shape, jit_compile, training=True)
    assert calls, "the training step did not take the channel sums"


KERAS_PATH_CASES = [
    ("inference", {}, {"training": False}, "float32"),
    ("channels first", {"axis": 1}, {"training": True}, "float32"),
    ("float16", {"dtype": "float16"}, {"training": True}, "float16"),
    ("renorm", {"renorm": True}, {"training": True}, "float32"),
]


@pytest.mark.parametrize(("name", "kwargs", "call_kwargs", "dtype"), KERAS_PATH_CASES,
                         ids=[c[0] for c in KERAS_PATH_CASES])
def test_other_cases_run_keras_own_call(name, kwargs, call_kwargs, dtype, monkeypatch):
    monkeypatch.setattr(normalization, "_normalize", None)  # calling it would fail
    ours, ref = _pair(**kwargs)
    shape = (4, 5, 6, 3)
    x = RNG.normal(0.0, 2.0, shape).astype(dtype)
    ref.build(shape)
    ours.build(shape)
    ours.set_weights(ref.get_weights())
    np.testing.assert_allclose(np.asarray(ours(x, **call_kwargs), "float32"),
                               np.asarray(ref(x, **call_kwargs), "float32"), rtol=1e-3, atol=1e-3)


def test_a_frozen_layer_normalizes_with_its_moving_statistics_as_keras_does(monkeypatch):
    monkeypatch.setattr(normalization, "_normalize", None)
    ours, ref = _pair()
    ours.trainable = ref.trainable = False
    _assert_same_step(ours, ref, (6, 4, 4, 3), training=True)


def test_a_mask_runs_keras_own_call(monkeypatch):
    monkeypatch.setattr(normalization, "_normalize", None)
    ours, ref = _pair()
    x = RNG.normal(size=(3, 7, 4)).astype("float32")
    mask = RNG.random((3, 7)) > 0.3
    ref.build(x.shape)
    ours.build(x.shape)
    np.testing.assert_allclose(ours(x, training=True, mask=mask), ref(x, training=True, mask=mask),
                               rtol=1e-5, atol=1e-5)


def test_a_batch_known_only_when_the_graph_runs():
    ours, ref = _pair()
    ours.build((None, 5, 3))
    ref.build((None, 5, 3))
    step = tf.function(lambda x: ours(x, training=True), input_signature=[tf.TensorSpec((None, 5, 3))])
    for batch in (1, 3, 17):
        x = RNG.normal(size=(batch, 5, 3)).astype("float32")
        np.testing.assert_allclose(step(x), ref(x, training=True), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ours.moving_variance, ref.moving_variance, rtol=1e-5)


class _KerasTestCase(testing.TestCase):
    def runTest(self):
        """unittest needs a test method to make an instance; run_layer_test is called directly."""


def test_keras_run_layer_test_passes():
    _KerasTestCase().run_layer_test(
        layers.BatchNormalization,
        init_kwargs={"momentum": 0.9},
        input_shape=(4, 5, 3),
        expected_output_shape=(4, 5, 3),
        expected_num_trainable_weights=2,
        expected_num_non_trainable_weights=2,
        expected_num_seed_generators=0,
        expected_num_losses=0,
        supports_masking=True,
        run_training_check=True,
    )


def test_configs_and_weights_copy_both_ways_and_an_archive_reloads_ours(tmp_path):
    ref = keras.layers.BatchNormalization(momentum=0.8, epsilon=1e-4, center=False, name="bn")
    ours = layers.BatchNormalization.from_config(ref.get_config())
    assert ours.get_config() == ref.get_config()
    inputs = keras.Input((4, 4, 3))
    model = keras.Model(inputs, ours(inputs))
    ours.set_weights([RNG.normal(1.0, 0.2, (3,)).astype("float32") for _ in range(3)])
    path = tmp_path / "bn.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded.get_layer("bn")) is layers.BatchNormalization
    x = RNG.normal(size=(2, 4, 4, 3)).astype("float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
    ref.build((None, 4, 4, 3))
    ref.set_weights(ours.get_weights())
    np.testing.assert_allclose(ref(x), ours(x), rtol=1e-6)
