"""The course's ideas measured on real models: equivariance of convolution, invariance from
pooling, the patches and synthetic images a channel responds to."""

import json

import keras
import numpy as np
import pytest

from cnnstudio.analysis.analyze import infer
from cnnstudio.cli import main
from cnnstudio.inspection import detectors, equivariance, pictures, probes
from cnnstudio.models import builder
from cnnstudio.network import presets
from cnnstudio.network.spec import LayerSpec, NetworkSpec

SAME = {"kernel_size": 3, "padding": "same", "activation": "relu"}


@pytest.fixture(scope="module")
def strided():
    """Two stride-1 "same" convolutions, then a stride-2 one and a classifier."""
    spec = NetworkSpec((16, 16, 1), [
        LayerSpec("a", "Conv2D", {"filters": 4, **SAME}),
        LayerSpec("b", "Conv2D", {"filters": 4, **SAME}),
        LayerSpec("c", "Conv2D", {"filters": 4, **SAME, "strides": 2}),
        LayerSpec("gap", "GlobalAvgPool2D", {}),
        LayerSpec("out", "Dense", {"units": 3, "activation": "softmax"}),
    ])
    return spec, builder.build_model(spec, seed=3)


def test_shift_input_moves_content_and_fills_or_wraps():
    x = np.arange(12, dtype=np.float32).reshape(3, 4, 1)
    right = equivariance.shift_input(x, 1, 0)
    np.testing.assert_array_equal(right[:, 1:, 0], x[:, :-1, 0])
    assert not right[:, 0].any()
    down_wrapped = equivariance.shift_input(x, 0, 1, mode="wrap")
    np.testing.assert_array_equal(down_wrapped[0], x[-1])
    sequence = np.arange(5, dtype=np.float32)[:, None]
    np.testing.assert_array_equal(equivariance.shift_input(sequence, -2)[:, 0], [2, 3, 4, 0, 0])
    with pytest.raises(ValueError, match="Expected one of zeros, wrap. Received: mode='mirror'"):
        equivariance.shift_input(x, 1, 0, mode="mirror")
    with pytest.raises(ValueError, match="Expected dy=0. Received: dy=1"):
        equivariance.shift_input(sequence, 0, 1)


def test_stride_one_convolutions_are_equivariant_away_from_the_borders_and_stride_two_is_not(strided):
    spec, model = strided
    sample = np.random.default_rng(0).random((16, 16, 1)).astype(np.float32)
    shifts = [(dx, dy) for dx in range(-3, 4) for dy in (-2, 0, 1)]
    test = equivariance.shift_test(model, infer(spec), sample, shifts)
    for name in ("a", "b"):
        entry = test.layer(name)
        assert all(entry.exact) and max(entry.error) < 1e-5, (name, entry.error)
        assert min(entry.interior_units) > 0
    c = test.layer("c")
    odd = [e for e, ex, n in zip(c.error, c.exact, c.interior_units, strict=True) if not ex and n]
    even = [e for e, ex, n in zip(c.error, c.exact, c.interior_units, strict=True) if ex and n]
    assert max(even) < 1e-5
    assert min(odd) > 100 * max(even) and max(odd) > 1e-2
    assert test.layer("gap").error == [None] * len(shifts)
    assert test.prediction_change[shifts.index((0, 0))] == pytest.approx(0.0, abs=1e-6)
    assert all(0.0 <= v <= 1.0 for v in test.prediction_change)
    data = test.to_json()
    assert data["shifts"][0] == [-3, -2] and set(data["layers"]) == {"a", "b", "c", "gap", "out"}


def test_wrapping_shifts_of_a_one_dimensional_network():
    spec = NetworkSpec((20, 2), [
        LayerSpec("a", "Conv1D", {"filters": 3, "kernel_size": 5, "padding": "same"}),
        LayerSpec("pool", "MaxPool1D", {"pool_size": 2}),
        LayerSpec("flat", "Flatten", {}),
        LayerSpec("out", "Dense", {"units": 2, "activation": "softmax"}),
    ])
    model = builder.build_model(spec, seed=1)
    sample = np.random.default_rng(1).standard_normal((20, 2)).astype(np.float32)
    test = equivariance.shift_test(model, infer(spec), sample, [(2, 0), (3, 0)], mode="wrap")
    assert max(test.layer("a").error) < 1e-5
    pool = test.layer("pool")
    assert pool.exact == [True, False] and pool.error[0] < 1e-5


def _activations_of(model, layer, images):
    probe = keras.Model(model.inputs[0], model.get_layer(layer).output)
    return keras.ops.convert_to_numpy(probe(images))


def test_top_patches_are_the_receptive_fields_of_the_strongest_units(strided):
    spec, model = strided
    images = np.random.default_rng(2).random((40, 16, 16, 1)).astype(np.float32)
    summary = infer(spec)
    patches = detectors.top_patches(model, summary, "c", 1, images, k=9, batch_size=16)
    maps = _activations_of(model, "c", images)[..., 1]
    strongest = maps.reshape(len(images), -1).max(axis=1)
    expected = np.argsort(-strongest, kind="stable")[:9]
    assert [p.image_index for p in patches] == list(expected)
    for patch in patches:
        row, col = np.unravel_index(np.argmax(maps[patch.image_index]), maps.shape[1:])
        assert patch.position == (row, col)
        assert patch.activation == pytest.approx(maps[patch.image_index, row, col], rel=1e-6)
        box = probes.receptive_box(summary, "c", row, col)
        assert patch.box == box and patch.pixels.shape == (*box.size, 1)
        top, left, bottom, right = box.rect()
        inside = patch.pixels[top - box.start[0]:bottom - box.start[0], left - box.start[1]:right - box.start[1]]
        np.testing.assert_array_equal(inside, images[patch.image_index, top:bottom, left:right])
    assert patches[0].activation >= patches[-1].activation


def test_top_patches_refuse_a_vector_layer_and_a_missing_channel(strided):
    spec, model = strided
    images = np.zeros((2, 16, 16, 1), np.float32)
    with pytest.raises(ValueError, match=r"'gap' has no spatial positions.*Expected a convolution or pooling layer"):
        detectors.top_patches(model, infer(spec), "gap", 0, images)
    with pytest.raises(ValueError, match=r"has 4 channels. Expected 0 <= channel < 4. Received: channel=4"):
        detectors.top_patches(model, infer(spec), "c", 4, images)


def test_gradient_ascent_raises_the_channel_against_its_random_start(strided):
    _, model = strided
    made = detectors.synthesize(model, "b", 2, steps=25, seed=4)
    assert made.image.shape == (16, 16, 1)
    assert made.image.min() >= 0.0 and made.image.max() <= 1.0
    probe = keras.Model(model.inputs[0], model.get_layer("b").output)
    start = 0.5 + 0.05 * np.random.default_rng(4).standard_normal((1, 16, 16, 1))
    before = float(np.mean(keras.ops.convert_to_numpy(probe(np.clip(start, 0, 1).astype(np.float32)))[..., 2]))
    after = float(np.mean(keras.ops.convert_to_numpy(probe(made.image[None]))[..., 2]))
    assert made.activations[0] == pytest.approx(before, rel=1e-5)
    assert after == pytest.approx(made.activations[-1], rel=1e-5)
    assert after > max(5 * before, before + 0.05)


@pytest.fixture(scope="module")
def digits_model_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("course") / "digits.keras"
    builder.build_model(presets.get("digits-cnn"), seed=0).save(path)
    return path


def test_cli_shift_test_prints_each_layers_equivariance_as_json(digits_model_file, capsys):
    code = main(["inspect", str(digits_model_file), "--dataset", "digits", "--sample", "3",
                 "--shift-test", "--shift-range", "2", "--shift-axis", "y", "--shift-mode", "wrap"])
    assert code == 0
    data = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert data["shifts"] == [[0, s] for s in range(-2, 3)] and data["mode"] == "wrap"
    assert data["layers"]["flatten"]["error"] == [None] * 5
    assert len(data["prediction_change"]) == 5 and data["prediction_change"][2] == pytest.approx(0, abs=1e-6)
    assert main(["inspect", str(digits_model_file), "--shift-test"]) == 2
    assert "need an example" in capsys.readouterr().err


def test_cli_writes_a_channels_top_patches_and_its_gradient_ascent_image(digits_model_file, tmp_path, capsys):
    patches, made = tmp_path / "patches.png", tmp_path / "made.png"
    code = main(["inspect", str(digits_model_file), "--dataset", "digits", "--layer", "conv2", "--channel", "1",
                 "--patches", str(patches), "--synthesize", str(made)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "Top patches of conv2 channel 1" in out and out.count("#") >= 9
    assert "Gradient ascent on conv2 channel 1" in out
    assert pictures.read_png(patches).shape[2] == 3 and pictures.read_png(made).shape[:2] == (48, 48)
    assert main(["inspect", str(digits_model_file), "--dataset", "digits", "--patches", str(patches)]) == 2
    assert "Expected --layer NAME and --channel K" in capsys.readouterr().err
