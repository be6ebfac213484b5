"""Kernels, activations, predictions, confusion and the timeline, on real Keras models."""

import keras
import numpy as np
import pytest

import layers
from cnnstudio.inspection import pictures, probes


@pytest.fixture(scope="module")
def rgb_model():
    """A tiny functional CNN with our layers, reading RGB pictures."""
    keras.utils.set_random_seed(1)
    inputs = keras.Input((12, 12, 3), name="input")
    x = layers.Conv2D(4, 3, activation="relu", name="conv_a")(inputs)
    x = layers.MaxPool2D(2, name="pool")(x)
    x = layers.Conv2D(5, 2, padding="same", activation="relu", name="conv_b")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    outputs = keras.layers.Dense(3, activation="softmax", name="dense")(x)
    return keras.Model(inputs, outputs)


@pytest.fixture(scope="module")
def samples():
    return np.random.default_rng(0).random((6, 12, 12, 3)).astype(np.float32)


def test_conv_layers_lists_layers_with_a_kernel(rgb_model):
    assert probes.conv_layers(rgb_model) == ["conv_a", "conv_b"]


def test_kernels_equal_the_layer_weights_filters_first(rgb_model):
    k = probes.kernels(rgb_model, "conv_b")
    weight = rgb_model.get_layer("conv_b").kernel.numpy()
    assert k.shape == (5, 2, 2, 4)
    for f in range(5):
        np.testing.assert_array_equal(k[f], weight[..., f])


def test_kernels_of_a_1d_convolution():
    inputs = keras.Input((20, 2))
    outputs = layers.Conv1D(3, 5, name="c1")(inputs)
    model = keras.Model(inputs, outputs)
    k = probes.kernels(model, "c1")
    assert k.shape == (3, 5, 2)
    np.testing.assert_array_equal(k[1], model.get_layer("c1").kernel.numpy()[..., 1])
    pictures = probes.kernel_images(model, "c1")
    assert pictures.tiles.shape == (3, 1, 2, 5, 3) and not pictures.color


def test_kernels_refuses_a_layer_without_kernel_and_an_unknown_name(rgb_model):
    with pytest.raises(ValueError, match=r"Layer 'pool' \(MaxPool2D\) has no convolution kernel.*conv_a, conv_b"):
        probes.kernels(rgb_model, "pool")
    with pytest.raises(ValueError, match=r"no layer named 'conv_z'.*Received: layer_name='conv_z'"):
        probes.kernels(rgb_model, "conv_z")


def test_first_layer_rgb_kernels_are_composed_in_colour(rgb_model):
    shared = probes.kernel_images(rgb_model, "conv_a")
    k = probes.kernels(rgb_model, "conv_a")
    assert shared.color and shared.tiles.shape == (4, 1, 3, 3, 3)
    expected = (k - k.min()) / (k.max() - k.min())
    np.testing.assert_allclose(shared.tiles[:, 0], expected, atol=1e-6)
    per_filter = probes.kernel_images(rgb_model, "conv_a", scaling="per_filter")
    for f in range(4):
        assert per_filter.tiles[f].min() == pytest.approx(0.0) and per_filter.tiles[f].max() == pytest.approx(1.0)


def test_deeper_kernels_are_drawn_per_input_channel_centred_on_zero(rgb_model):
    pictures = probes.kernel_images(rgb_model, "conv_b", scaling="per_filter")
    k = probes.kernels(rgb_model, "conv_b")
    assert not pictures.color and pictures.tiles.shape == (5, 4, 2, 2, 3)
    np.testing.assert_allclose(pictures.limits[:, 1], np.abs(k).reshape(5, -1).max(axis=1), rtol=1e-6)
    strongest = np.unravel_index(np.argmax(np.abs(k[0])), k[0].shape)  # (kh, kw, cin)
    red_or_blue = pictures.tiles[0, strongest[2], strongest[0], strongest[1]]
    assert red_or_blue.min() < 0.2  # the extreme weight sits at the saturated end of the scale
    picture = pictures.picture(scale=4)
    assert picture.dtype == np.uint8 and picture.shape == (5 * 9 + 1, 4 * 9 + 1, 3)


def test_kernel_images_refuses_unknown_scaling_and_impossible_colour(rgb_model):
    with pytest.raises(ValueError, match=r"shared, per_filter. Received: scaling='global'"):
        probes.kernel_images(rgb_model, "conv_a", scaling="global")
    with pytest.raises(ValueError, match=r"reads 4 channels; colour kernels need 3"):
        probes.kernel_images(rgb_model, "conv_b", color=True)


def test_activations_equal_a_model_over_the_intermediate_outputs(rgb_model, samples):
    acts = probes.activations(rgb_model, samples)
    names = [layer.name for layer in rgb_model.layers[1:]]
    assert list(acts) == names
    reference = keras.Model(rgb_model.inputs, [rgb_model.get_layer(n).output for n in names])
    for name, expected in zip(names, reference.predict(samples, verbose=0), strict=True):
        np.testing.assert_allclose(acts[name], expected, rtol=1e-5, atol=1e-6)
    one = probes.activations(rgb_model, samples[2])
    np.testing.assert_allclose(one["conv_b"], acts["conv_b"][2], rtol=1e-5, atol=1e-6)


def test_activations_probe_is_built_once_per_model(rgb_model, samples):
    probes.activations(rgb_model, samples[0])
    probe = probes._probe(rgb_model)[0]
    probes.activations(rgb_model, samples[1])
    assert probes._probe(rgb_model)[0] is probe


def test_activations_refuse_a_wrongly_shaped_input(rgb_model):
    with pytest.raises(ValueError, match=r"Expected one sample shaped \(12, 12, 3\).*Received: x.shape=\(12, 12\)"):
        probes.activations(rgb_model, np.zeros((12, 12)))


def test_activation_picture_grids_the_feature_maps(rgb_model, samples):
    acts = probes.activations(rgb_model, samples[0])
    picture = probes.activation_picture(acts["conv_a"], scale=2)
    assert picture.shape == (2 * (10 * 2 + 1) + 1, 2 * (10 * 2 + 1) + 1, 3)
    assert len(np.unique(picture.reshape(-1, 3), axis=0)) > 10
    strip = probes.activation_picture(acts["dense"], scale=2)
    assert strip.shape == (8, 3 * 8, 3)
    block = probes.activation_picture(acts["flatten"], scale=2)  # 5 * 5 * 5 = 125 values
    assert block.shape == (4 * 8, 32 * 8, 3)
    assert (block[-1, -8:] == 40).all()  # the 3 unused cells of the last row are grey


def test_predict_topk_orders_classes_by_probability(rgb_model, samples):
    probs = rgb_model.predict(samples[:1], verbose=0)[0]
    top = probes.predict_topk(rgb_model, samples[0], k=2, class_names=["cat", "dog", "fox"])
    order = np.argsort(-probs)
    assert [name for name, _ in top] == [["cat", "dog", "fox"][i] for i in order[:2]]
    assert [p for _, p in top] == pytest.approx(list(probs[order[:2]]), rel=1e-5)
    assert [c for c, _ in probes.predict_topk(rgb_model, samples[0], k=5)] == list(order)


def test_predict_topk_applies_softmax_to_logits():
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(3, name="logits")(inputs))
    x = np.array([1.0, -2.0, 0.5, 3.0], np.float32)
    logits = model.predict(x[None], verbose=0)[0]
    expected = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    top = probes.predict_topk(model, x, k=3)
    assert sum(p for _, p in top) == pytest.approx(1.0)
    assert [p for _, p in top] == pytest.approx(sorted(expected, reverse=True), rel=1e-5)


def test_predict_topk_checks_class_names(rgb_model, samples):
    with pytest.raises(ValueError, match=r"predicts 3 classes but 2 class names"):
        probes.predict_topk(rgb_model, samples[0], class_names=["a", "b"])


def test_confusion_and_misclassified_agree_with_the_predictions(rgb_model):
    x = np.random.default_rng(3).random((40, 12, 12, 3)).astype(np.float32)
    probs = rgb_model.predict(x, verbose=0)
    predicted = probs.argmax(axis=1)
    y = np.random.default_rng(4).integers(0, 3, size=40)
    matrix = probes.confusion(rgb_model, x, y, 3)
    assert matrix.sum() == 40 and np.trace(matrix) == np.sum(predicted == y)
    for t in range(3):
        for p in range(3):
            assert matrix[t, p] == np.sum((y == t) & (predicted == p))
    one_hot = np.eye(3)[y]
    np.testing.assert_array_equal(probes.confusion(rgb_model, x, one_hot, 3), matrix)
    wrong = probes.misclassified(rgb_model, x, y, limit=5)
    assert len(wrong) == min(5, int(np.sum(predicted != y)))
    confidences = [w.confidence for w in wrong]
    assert confidences == sorted(confidences, reverse=True)
    for w in wrong:
        assert w.true == y[w.index] and w.predicted == predicted[w.index] != w.true
        assert w.confidence == pytest.approx(probs[w.index].max(), rel=1e-5)
    worst_overall = max(np.flatnonzero(predicted != y), key=lambda i: probs[i].max())
    assert wrong[0].index == worst_overall


def test_timeline_snapshots_kernels_and_activations_each_epoch(rgb_model, samples):
    model = keras.models.clone_model(rgb_model)
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="sparse_categorical_crossentropy")
    callback = probes.TimelineCallback(model, samples[0])
    before = probes.kernels(model, "conv_a")
    model.fit(samples, np.array([0, 1, 2, 0, 1, 2]), epochs=2, batch_size=3, verbose=0, callbacks=[callback])
    timeline = callback.timeline
    assert len(timeline) == 3 and timeline.epochs == [0, 1, 2]
    epoch, kernels0, acts0 = timeline.at(0)
    np.testing.assert_array_equal(kernels0["conv_a"], before)
    epoch, kernels2, acts2 = timeline.at(-1)
    assert epoch == 2
    np.testing.assert_array_equal(kernels2["conv_b"], probes.kernels(model, "conv_b"))
    np.testing.assert_allclose(acts2["dense"], probes.activations(model, samples[0])["dense"], rtol=1e-5)
    assert not np.array_equal(kernels0["conv_a"], kernels2["conv_a"])
    with pytest.raises(IndexError, match=r"has 3 snapshots. Expected 0 <= index < 3. Received: index=3"):
        timeline.at(3)


def test_timeline_follows_one_sample(rgb_model, samples):
    with pytest.raises(ValueError, match=r"follows one input"):
        probes.TimelineCallback(rgb_model, samples)


def test_kernel_picture_is_a_valid_png(rgb_model, tmp_path):
    picture = probes.kernel_images(rgb_model, "conv_a").picture(scale=8)
    path = pictures.write_png(tmp_path / "filters.png", picture)
    np.testing.assert_array_equal(pictures.read_png(path), picture)
