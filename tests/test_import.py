"""Importing .keras files made elsewhere (keras.layers or our layers) as CNN Studio networks."""

import keras
import numpy as np
import pytest

import layers
from cnnstudio.analysis.analyze import infer
from cnnstudio.models import builder, importer
from cnnstudio.network import presets


@pytest.fixture(scope="module")
def keras_made(tmp_path_factory):
    """A branching CNN made with plain keras.layers, trained a little, saved as .keras."""
    keras.utils.set_random_seed(2)
    inputs = keras.Input((10, 10, 3), name="pixels")
    x = keras.layers.Conv2D(6, (3, 3), padding="same", activation="relu",
                            kernel_regularizer=keras.regularizers.L2(1e-4), name="c1")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    skip = keras.layers.Conv2D(6, 1, kernel_initializer="he_normal", name="skip")(x)
    x = keras.layers.Add(name="join")([x, skip])
    x = keras.layers.MaxPooling2D(2, name="pool")(x)
    x = keras.layers.ZeroPadding2D(1, name="pad")(x)
    x = keras.layers.AveragePooling2D(2, strides=1, name="avg")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    x = keras.layers.Dropout(0.3, name="drop")(x)
    outputs = keras.layers.Dense(4, activation="softmax", name="probs")(x)
    model = keras.Model(inputs, outputs, name="elsewhere")
    model.compile("adam", "sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    model.fit(rng.random((16, 10, 10, 3)), rng.integers(0, 4, 16), epochs=1, verbose=0)
    path = tmp_path_factory.mktemp("import") / "elsewhere.keras"
    model.save(path)
    return model, path


def test_a_keras_layers_model_opens_as_a_spec_with_its_weights(keras_made):
    model, path = keras_made
    spec, weights = importer.import_keras(path)
    assert [layer.name for layer in spec.layers] == [layer.name for layer in model.layers[1:]]
    assert [layer.type for layer in spec.layers] == [
        "Conv2D", "BatchNormalization", "Conv2D", "Add", "MaxPool2D", "ZeroPadding2D", "AvgPool2D",
        "GlobalAvgPool2D", "Dropout", "Dense"]
    assert spec.input_shape == (10, 10, 3) and spec.name == "elsewhere"
    c1 = spec.layer("c1")
    assert c1.params == {"filters": 6, "kernel_size": 3, "padding": "same", "kernel_l2": pytest.approx(1e-4)}
    assert spec.layer("skip").param("kernel_initializer") == "he_normal"
    assert spec.layer("skip").param("activation") == "linear"
    assert spec.layer("join").inputs == ["bn", "skip"]
    assert spec.layer("avg").param("strides") == 1
    assert infer(spec).ok
    assert set(weights) == {"c1", "bn", "skip", "probs"}
    np.testing.assert_array_equal(weights["bn"][2], model.get_layer("bn").get_weights()[2])


def test_the_rebuilt_model_of_our_layers_gives_the_same_outputs(keras_made):
    model, path = keras_made
    spec, weights = importer.import_keras(path)
    rebuilt = importer.rebuild(spec, weights)
    assert type(rebuilt.get_layer("c1")).__module__ == "layers.conv"
    assert rebuilt.count_params() == model.count_params()
    x = np.random.default_rng(5).random((3, 10, 10, 3)).astype(np.float32)
    np.testing.assert_allclose(rebuilt.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-4, atol=1e-6)


def test_a_model_of_our_layers_round_trips(tmp_path):
    spec = presets.get("mnist1d-cnn")
    model = builder.build_model(spec, seed=3)
    model.save(tmp_path / "ours.keras")
    imported, weights = importer.import_keras(tmp_path / "ours.keras")
    assert imported.to_dict() == spec.to_dict()
    x = np.random.default_rng(1).random((2, 40, 1)).astype(np.float32)
    np.testing.assert_allclose(importer.rebuild(imported, weights).predict(x, verbose=0),
                               model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_a_sequential_model_with_an_unknown_layer_is_refused_by_name(tmp_path):
    model = keras.Sequential([keras.Input((12, 3)), keras.layers.Conv1D(4, 3, name="conv"),
                              keras.layers.LSTM(5, name="lstm_1"), keras.layers.Dense(2)])
    model.save(tmp_path / "rnn.keras")
    with pytest.raises(importer.ImportRefused,
                       match=r"layer 'lstm_1' of type LSTM is not in CNN Studio's catalog; supported: .*Conv2D.*"
                             r"MaxPooling2D"):
        importer.import_keras(tmp_path / "rnn.keras")


def test_grouped_transposed_and_depthwise_convolutions_import_with_their_settings():
    inputs = keras.Input((8, 8, 2))
    x = keras.layers.Conv2D(4, 3, groups=2, name="g")(inputs)
    x = keras.layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same", name="dw")(x)
    x = keras.layers.Conv2DTranspose(3, 3, strides=2, output_padding=1, name="up")(x)
    model = keras.Model(inputs, x)
    spec = importer.spec_from_model(model)
    assert [layer.type for layer in spec.layers] == ["Conv2D", "DepthwiseConv2D", "Conv2DTranspose"]
    assert spec.layers[0].params["groups"] == 2
    assert spec.layers[1].params["depth_multiplier"] == 2
    assert spec.layers[2].params["output_padding"] == 1
    rebuilt = importer.rebuild(spec, {layer.name: layer.get_weights() for layer in model.layers[1:]})
    assert rebuilt.count_params() == model.count_params()
    x = np.random.default_rng(0).normal(size=(2, 8, 8, 2)).astype("float32")
    np.testing.assert_allclose(rebuilt.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-4, atol=1e-5)


def test_settings_the_catalog_cannot_express_are_refused():
    inputs = keras.Input((8, 8, 2))
    lopsided = keras.Model(inputs, keras.layers.ZeroPadding2D(((1, 2), (0, 0)), name="zp")(inputs))
    with pytest.raises(importer.ImportRefused, match=r"layer 'zp' \(ZeroPadding2D\) has padding="):
        importer.spec_from_model(lopsided)
    kept = keras.Model(inputs, keras.layers.GlobalAveragePooling2D(keepdims=True, name="gk")(inputs))
    with pytest.raises(importer.ImportRefused, match=r"keepdims=True"):
        importer.spec_from_model(kept)


def test_a_missing_or_unreadable_file_is_refused(tmp_path):
    with pytest.raises(importer.ImportRefused, match=r"No model file at"):
        importer.import_keras(tmp_path / "none.keras")
    junk = tmp_path / "junk.keras"
    junk.write_bytes(b"not a zip")
    with pytest.raises(importer.ImportRefused, match=r"Cannot read .*junk.keras.* as a Keras model"):
        importer.import_keras(junk)


def test_weights_that_do_not_fit_are_refused():
    spec = presets.get("digits-cnn")
    with pytest.raises(importer.ImportRefused, match=r"weights of layer 'conv1' do not fit"):
        importer.rebuild(spec, {"conv1": [np.zeros((5, 5, 1, 32)), np.zeros(32)]})


def test_layers_classes_are_known_to_the_importer():
    assert set(layers.__all__) <= set(importer.supported_types())
