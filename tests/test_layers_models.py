"""Our layers inside real models: parameter counts, saving, SavedModel export, training, errors."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import layers


def _image_model():
    inputs = keras.Input((9, 8, 3))
    x = layers.Conv2D(4, 3, padding=1, activation="relu", kernel_regularizer="l2")(inputs)
    x = layers.MaxPool2D(2, padding="same")(x)
    x = layers.Conv2D(5, (3, 2), strides=2, dilation_rate=(1, 2), padding="same")(x)
    x = layers.AvgPool2D(2, strides=1, padding=1)(x)
    x = layers.Conv2D(6, 1, use_bias=False)(x)
    pooled = [layers.GlobalAvgPool2D()(x), layers.GlobalMaxPool2D()(x)]
    return keras.Model(inputs, keras.layers.Concatenate()(pooled))


def _sequence_model():
    inputs = keras.Input((12, 2))
    x = layers.Conv1D(3, 3, strides=2, padding="same", activation="tanh")(inputs)
    x = layers.MaxPool1D(2, strides=1, padding=1)(x)
    x = layers.AvgPool1D(2, padding="same")(x)
    x = layers.Conv1D(4, 2, dilation_rate=2)(x)
    x = keras.layers.Concatenate()([layers.GlobalAvgPool1D()(x), layers.GlobalMaxPool1D()(x)])
    return keras.Model(inputs, x)


@pytest.fixture(scope="module", params=["image", "sequence"])
def model_and_input(request):
    model = _image_model() if request.param == "image" else _sequence_model()
    x = np.random.default_rng(0).normal(size=(3, *model.input_shape[1:])).astype("float32")
    return model, x


def test_course_conv_has_760_parameters_and_keeps_32x32():
    inputs = keras.Input((32, 32, 3))
    conv = layers.Conv2D(10, 5, strides=1, padding=2)
    assert conv(inputs).shape == (None, 32, 32, 10)
    assert conv.count_params() == 760


def test_weights_have_keras_names_and_shapes_and_copy_both_ways():
    ours, reference = layers.Conv2D(4, (3, 2)), keras.layers.Conv2D(4, (3, 2))
    ours.build((None, 6, 6, 3))
    reference.build((None, 6, 6, 3))
    assert [(w.name, w.shape) for w in ours.weights] == [
        (w.name, w.shape) for w in reference.weights
    ]
    reference.set_weights(ours.get_weights())
    x = np.random.default_rng(1).normal(size=(2, 6, 6, 3)).astype("float32")
    np.testing.assert_allclose(ours(x), reference(x), rtol=1e-5, atol=1e-5)
    ours.set_weights([w * 2 for w in reference.get_weights()])
    np.testing.assert_allclose(ours.get_weights()[0], reference.get_weights()[0] * 2)


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
def test_saved_keras_file_loads_back_with_identical_outputs(model_and_input, tmp_path):
    model, x = model_and_input
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert [type(layer) for layer in loaded.layers] == [type(layer) for layer in model.layers]
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_saved_model_export_runs_with_tensorflow_alone(model_and_input, tmp_path):
    model, x = model_and_input
    path = str(tmp_path / "exported")
    model.export(path, format="tf_saved_model", verbose=False)
    restored = tf.saved_model.load(path)
    np.testing.assert_allclose(
        restored.serve(tf.constant(x)).numpy(), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6
    )


def test_config_round_trip_keeps_every_argument():
    conv = layers.Conv2D(
        3, (3, 1), strides=(2, 1), padding=(1, 0), dilation_rate=1, activation="relu",
        use_bias=False, kernel_initializer="he_normal", kernel_regularizer="l2",
        bias_constraint="non_neg", name="c",
    )
    clone = layers.Conv2D.from_config(conv.get_config())
    assert clone.get_config() == conv.get_config()
    assert clone.padding == (1, 0)
    pool = layers.MaxPool1D(3, strides=None, padding=2, name="p")
    assert layers.MaxPool1D.from_config(pool.get_config()).get_config() == pool.get_config()
    assert pool.strides == (3,)


@pytest.mark.parametrize("jit_compile", [False, True])
def test_model_trains_with_and_without_xla(jit_compile):
    keras.utils.set_random_seed(0)
    model = _image_model()
    model.compile(optimizer="adam", loss="mse", jit_compile=jit_compile)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 9, 8, 3)).astype("float32")
    y = rng.normal(size=(16, 12)).astype("float32")
    before = model.evaluate(x, y, verbose=0)
    history = model.fit(x, y, epochs=3, batch_size=8, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert model.evaluate(x, y, verbose=0) < before


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda: layers.Conv2D(4, 3, strides=0, name="c"),
            "Conv2D 'c': strides must be at least 1 on every axis. Expected an integer >= 1 or "
            "a tuple of 2 integers >= 1. Received: strides=0",
        ),
        (
            lambda: layers.Conv1D(4, 3, dilation_rate=0, name="c"),
            "Conv1D 'c': dilation_rate must be at least 1 on every axis. Expected an integer "
            ">= 1 or a tuple of one integer >= 1. Received: dilation_rate=0",
        ),
        (
            lambda: layers.Conv2D(4, 3, padding=(1, -1), name="c"),
            "Conv2D 'c': padding must be a mode or a number of zeros per side that is not "
            'negative. Expected "valid", "same", an integer >= 0 or a tuple of 2 integers '
            ">= 0. Received: padding=(1, -1)",
        ),
        (
            lambda: layers.Conv2D(0, 3, name="c"),
            "Conv2D 'c': filters must be a positive integer. Expected filters >= 1. "
            "Received: filters=0",
        ),
        (
            lambda: layers.MaxPool2D(2, strides=-1, name="p"),
            "MaxPool2D 'p': strides must be at least 1 on every axis. Expected an integer >= 1 "
            "or a tuple of 2 integers >= 1. Received: strides=-1",
        ),
        (
            lambda: layers.AvgPool1D(2, padding=2, name="p"),
            "AvgPool1D 'p': padding of 2 would make windows of padding only on axis length. "
            "Expected padding < pool_size (2) on every axis. Received: padding=(2,), "
            "pool_size=(2,)",
        ),
    ],
)
def test_bad_arguments_are_refused_at_construction(make, message):
    with pytest.raises(ValueError) as info:
        make()
    assert str(info.value) == message


def test_kernel_or_window_larger_than_the_input_is_refused_when_called():
    with pytest.raises(ValueError, match=(
        "Conv2D 'c': the dilated kernel of extent 5 exceeds the padded input of 4 on axis width"
    )):
        layers.Conv2D(2, 3, dilation_rate=2, padding=1, name="c")(keras.Input((9, 2, 1)))
    with pytest.raises(ValueError, match=(
        "MaxPool2D 'p': the pool window of 3 exceeds the padded input of 2 on axis height"
    )):
        layers.MaxPool2D(3, name="p")(keras.Input((2, 5, 1)))


def test_unknown_channels_are_refused_at_build_with_the_fix():
    with pytest.raises(ValueError, match=(
        r"Conv1D 'c': the input's channels must be known to build the layer's weights\. "
        r"Expected an input shape like \(batch, length, channels\) with a number of channels "
        r"\(the length may be None\)\. Received: input_shape=\(None, None, None\)"
    )):
        layers.Conv1D(2, 3, name="c").build((None, None, None))


def test_layers_use_no_framework_convolution_or_pooling():
    """Attribute names in layers/*.py (code only, not docstrings): no conv or pool op, no TF."""
    import ast
    import pathlib

    forbidden = {"conv", "conv_transpose", "depthwise_conv", "separable_conv", "max_pool", "average_pool",
                 "extract_patches", "nn", "Conv1D", "Conv2D", "MaxPooling1D", "MaxPooling2D",
                 "AveragePooling1D", "AveragePooling2D"}
    folder = pathlib.Path(__file__).resolve().parent.parent / "layers"
    found = []
    for path in sorted(folder.glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in forbidden:
                found.append(f"{path.name}:{node.lineno} .{node.attr}")
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [alias.name for alias in node.names] + [getattr(node, "module", None) or ""]
                found += [f"{path.name}:{node.lineno} import {n}" for n in names if n.startswith("tensorflow")]
    assert found == []
