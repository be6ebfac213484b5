"""Keras' layer contract for every layer of ours: Keras' own run_layer_test, configs, formats.

``keras.src.testing.TestCase.run_layer_test`` builds each layer symbolically and eagerly,
checks its weights, its serialization round trip, that stateless layers are built at
construction, masking, and one compiled training step. Configs of ``keras.layers`` load
into ours with ``from_config``; channels_first gives the channels_last result transposed.
"""

import keras
import numpy as np
import pytest
from keras.src import testing

import layers

CASES = [
    (layers.Conv1D, {"filters": 3, "kernel_size": 3}, (2, 7, 2), (2, 5, 3), 2),
    (layers.Conv2D, {"filters": 4, "kernel_size": 3, "groups": 2, "padding": "same"}, (2, 6, 6, 2),
     (2, 6, 6, 4), 2),
    (layers.Conv1DTranspose, {"filters": 3, "kernel_size": 3, "strides": 2, "padding": "same"},
     (2, 4, 2), (2, 8, 3), 2),
    (layers.Conv2DTranspose, {"filters": 3, "kernel_size": 3, "strides": 2}, (2, 4, 4, 2),
     (2, 9, 9, 3), 2),
    (layers.DepthwiseConv1D, {"kernel_size": 3, "depth_multiplier": 2}, (2, 6, 2), (2, 4, 4), 2),
    (layers.DepthwiseConv2D, {"kernel_size": 3, "strides": 2}, (2, 7, 7, 3), (2, 3, 3, 3), 2),
    (layers.MaxPool1D, {"pool_size": 2}, (2, 6, 2), (2, 3, 2), 0),
    (layers.MaxPool2D, {"pool_size": 3, "strides": 1, "padding": "same"}, (2, 5, 5, 2), (2, 5, 5, 2), 0),
    (layers.AvgPool1D, {"pool_size": 2, "padding": 1}, (2, 5, 2), (2, 3, 2), 0),
    (layers.AvgPool2D, {"pool_size": 2}, (2, 6, 6, 2), (2, 3, 3, 2), 0),
    (layers.GlobalAvgPool1D, {}, (2, 6, 2), (2, 2), 0),
    (layers.GlobalAvgPool2D, {"keepdims": True}, (2, 5, 4, 2), (2, 1, 1, 2), 0),
    (layers.GlobalMaxPool1D, {}, (2, 6, 2), (2, 2), 0),
    (layers.GlobalMaxPool2D, {}, (2, 5, 4, 3), (2, 3), 0),
]


class _KerasTestCase(testing.TestCase):
    def runTest(self):
        """unittest needs a test method to make an instance; run_layer_test is called directly."""


@pytest.mark.parametrize(("cls", "kwargs", "input_shape", "output_shape", "weights"), CASES,
                         ids=[c[0].__name__ for c in CASES])
def test_keras_run_layer_test_passes(cls, kwargs, input_shape, output_shape, weights):
    _KerasTestCase().run_layer_test(
        cls,
        init_kwargs=kwargs,
        input_shape=input_shape,
        expected_output_shape=output_shape,
        expected_num_trainable_weights=weights,
        expected_num_non_trainable_weights=0,
        expected_num_seed_generators=0,
        expected_num_losses=0,
        supports_masking=cls is layers.GlobalAvgPool1D,
        run_training_check=True,
    )


KERAS_PAIRS = [
    (layers.Conv1D, keras.layers.Conv1D(3, 3, strides=2, padding="same", name="k"), (2, 9, 4)),
    (layers.Conv2D, keras.layers.Conv2D(4, (3, 2), dilation_rate=2, groups=2, name="k"), (2, 9, 8, 4)),
    (layers.Conv1DTranspose, keras.layers.Conv1DTranspose(3, 4, strides=2, name="k"), (2, 5, 2)),
    (layers.Conv2DTranspose, keras.layers.Conv2DTranspose(3, 3, strides=2, padding="same",
                                                          output_padding=1, name="k"), (2, 4, 5, 2)),
    (layers.DepthwiseConv2D, keras.layers.DepthwiseConv2D(3, depth_multiplier=2, name="k"), (2, 6, 6, 3)),
    (layers.DepthwiseConv1D, keras.layers.DepthwiseConv1D(3, padding="same", name="k"), (2, 6, 3)),
    (layers.MaxPool2D, keras.layers.MaxPooling2D(2, strides=1, name="k"), (2, 5, 5, 2)),
    (layers.AvgPool1D, keras.layers.AveragePooling1D(3, padding="same", name="k"), (2, 7, 2)),
    (layers.GlobalMaxPool2D, keras.layers.GlobalMaxPooling2D(keepdims=True, name="k"), (2, 4, 4, 2)),
    (layers.GlobalAvgPool1D, keras.layers.GlobalAveragePooling1D(name="k"), (2, 6, 2)),
]


@pytest.mark.parametrize(("ours_class", "reference", "shape"), KERAS_PAIRS,
                         ids=[p[0].__name__ for p in KERAS_PAIRS])
def test_configs_of_keras_layers_load_into_ours_and_compute_the_same(ours_class, reference, shape):
    config = reference.get_config()
    ours = ours_class.from_config(config)
    assert ours.get_config() == config
    x = np.random.default_rng(0).normal(size=shape).astype("float32")
    expected = np.asarray(reference(x))
    ours.build(shape)
    ours.set_weights(reference.get_weights())
    np.testing.assert_allclose(np.asarray(ours(x)), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    ("make", "shape"),
    [
        (lambda f: layers.Conv2D(3, 3, strides=2, padding="same", groups=1, data_format=f), (2, 7, 6, 2)),
        (lambda f: layers.Conv1D(4, 3, groups=2, data_format=f), (2, 9, 2)),
        (lambda f: layers.Conv2DTranspose(3, 3, strides=2, data_format=f), (2, 4, 5, 2)),
        (lambda f: layers.DepthwiseConv2D(3, depth_multiplier=2, data_format=f), (2, 6, 5, 3)),
        (lambda f: layers.MaxPool2D(2, data_format=f), (2, 6, 5, 3)),
        (lambda f: layers.AvgPool1D(2, padding="same", data_format=f), (2, 5, 3)),
        (lambda f: layers.GlobalAvgPool2D(keepdims=True, data_format=f), (2, 4, 3, 2)),
        (lambda f: layers.GlobalMaxPool1D(data_format=f), (2, 4, 3)),
    ],
)
def test_channels_first_is_channels_last_transposed(make, shape):
    x = np.random.default_rng(1).normal(size=shape).astype("float32")
    last, first = make("channels_last"), make("channels_first")
    expected = np.asarray(last(x))
    to_first = (0, len(shape) - 1, *range(1, len(shape) - 1))
    first.build(np.transpose(x, to_first).shape)
    first.set_weights(last.get_weights())
    got = np.asarray(first(np.transpose(x, to_first)))
    if got.ndim > 2:
        got = np.transpose(got, (0, *range(2, got.ndim), 1))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    assert first.compute_output_shape(np.transpose(x, to_first).shape) == tuple(
        np.asarray(first(np.transpose(x, to_first))).shape
    )


def test_an_unknown_data_format_is_refused_with_the_choices():
    with pytest.raises(ValueError) as info:
        layers.Conv2D(3, 3, data_format="channels_middle", name="c")
    assert str(info.value) == (
        "Conv2D 'c': data_format 'channels_middle' is not a data format. Expected \"channels_last\" "
        '(batch, spatial..., channels) or "channels_first" (batch, channels, spatial...). '
        "Received: data_format='channels_middle'"
    )


def test_global_average_after_masked_embedding_leaves_the_padding_out_like_keras():
    tokens = np.array([[3, 5, 0, 0], [7, 0, 0, 0]])
    inputs = keras.Input((4,), dtype="int32")
    embedded = keras.layers.Embedding(10, 3, mask_zero=True, name="e")(inputs)
    ours = keras.Model(inputs, layers.GlobalAvgPool1D()(embedded))
    reference = keras.Model(inputs, keras.layers.GlobalAveragePooling1D()(embedded))
    np.testing.assert_allclose(ours.predict(tokens, verbose=0), reference.predict(tokens, verbose=0),
                               rtol=1e-6, atol=1e-7)
    table = ours.get_layer("e").get_weights()[0]
    np.testing.assert_allclose(ours.predict(tokens, verbose=0)[1], table[7], rtol=1e-6)


def test_bad_groups_and_output_padding_are_refused_with_the_fix():
    with pytest.raises(ValueError, match=r"Conv2D 'c': each group needs the same number of filters\. "
                                         r"Expected filters divisible by groups\. Received: filters=5, groups=2"):
        layers.Conv2D(5, 3, groups=2, name="c")
    with pytest.raises(ValueError, match=r"Conv2D 'c': each group needs the same number of input channels\. "
                                         r"Expected input channels divisible by groups \(2\)\. Received: channels=3"):
        layers.Conv2D(4, 3, groups=2, name="c").build((None, 5, 5, 3))
    with pytest.raises(ValueError, match=r"Conv2DTranspose 't': output_padding must be smaller than the "
                                         r"stride on axis width\. Expected output_padding < strides \(2\)"):
        layers.Conv2DTranspose(2, 3, strides=2, output_padding=(0, 2), name="t")
    with pytest.raises(ValueError, match=r"DepthwiseConv2D 'd': depth_multiplier must be a positive integer"):
        layers.DepthwiseConv2D(3, depth_multiplier=0, name="d")
    with pytest.raises(ValueError, match=r"Conv1DTranspose 't': cropping 3 cells from each side of axis "
                                         r"length leaves no output"):
        layers.Conv1DTranspose(2, 3, strides=1, padding=3, name="t")(keras.Input((2, 1)))


def _fully_convolutional():
    inputs = keras.Input((None, None, 2))
    x = layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    x = layers.Conv2D(6, 3, strides=2, padding="same", groups=2)(x)
    x = layers.MaxPool2D(2, padding="same")(x)
    x = layers.AvgPool2D(3, strides=1, padding="same")(x)
    x = layers.DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2)(x)
    x = layers.Conv2DTranspose(4, 3, strides=2, padding="same")(x)
    x = layers.Conv2DTranspose(3, 4, strides=2, padding=1)(x)
    x = layers.Conv2D(2, 3, padding=1, dilation_rate=2)(x)
    return keras.Model(inputs, x)


SIZES = [(16, 16), (13, 21), (32, 8)]


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
def test_a_fully_convolutional_network_runs_on_any_size_and_its_keras_file_reloads(tmp_path):
    import tensorflow as tf

    model = _fully_convolutional()
    assert model.output_shape == (None, None, None, 2)
    any_size = tf.function(model, input_signature=[tf.TensorSpec((None, None, None, 2))])
    path = tmp_path / "fcn.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    for size in SIZES:
        x = np.random.default_rng(sum(size)).normal(size=(2, *size, 2)).astype("float32")
        expected = np.asarray(model(x))
        assert expected.shape == model.compute_output_shape(x.shape)
        np.testing.assert_allclose(any_size(x).numpy(), expected, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(loaded.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)

