"""`cnnstudio export` and `cnnstudio inspect` on a digits-cnn trained one epoch by `cnnstudio train`."""

import struct

import keras
import numpy as np
import pytest

from cnnstudio.cli import main
from cnnstudio.inspection import pictures, probes
from cnnstudio.models import builder
from cnnstudio.network import presets
from cnnstudio.training.data import load_dataset
from cnnstudio.workspace.project import Project, load_project, save_project


@pytest.fixture(scope="module")
def trained_files(tmp_path_factory):
    """A project with one recorded run, and the same model saved as .keras."""
    folder = tmp_path_factory.mktemp("cli")
    project = folder / "digits.cnnproj"
    save_project(Project(network=presets.get("digits-cnn")), project)
    model = folder / "digits.keras"
    code = main(["train", str(project), "--dataset", "digits", "--epochs", "1", "--seed", "0", "--no-xla",
                 "--save", str(model)])  # XLA is not what these tests check: skip its compile
    assert code == 0 and model.is_file()
    assert len(load_project(project).runs) == 1
    return project, model


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def test_export_a_keras_model_as_savedmodel_and_refuse_to_overwrite(trained_files, tmp_path, capsys):
    import tensorflow as tf

    _, model_path = trained_files
    out = tmp_path / "sm"
    assert main(["export", str(model_path), "--format", "savedmodel", str(out)]) == 0
    captured = capsys.readouterr()
    assert f"Exported savedmodel to {out}" in captured.out and "warning" not in captured.err
    x = np.random.default_rng(0).random((2, 8, 8, 1)).astype(np.float32)
    served = tf.saved_model.load(str(out)).signatures["serving_default"](image=tf.constant(x))["probabilities"]
    np.testing.assert_allclose(served.numpy(), keras.saving.load_model(model_path).predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)
    assert main(["export", str(model_path), "--format", "savedmodel", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["export", str(model_path), "--format", "savedmodel", str(out), "--force"]) == 0


def test_export_a_project_uses_its_latest_run_weights(trained_files, tmp_path, capsys):
    project, model_path = trained_files
    assert main(["export", str(project), "--format", "keras", str(tmp_path / "p.keras")]) == 0
    assert "warning" not in capsys.readouterr().err
    exported = keras.saving.load_model(tmp_path / "p.keras")
    original = keras.saving.load_model(model_path)
    for a, b in zip(exported.get_weights(), original.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_export_a_project_without_runs_warns_on_stderr(tmp_path, capsys):
    project = tmp_path / "fresh.cnnproj"
    save_project(Project(network=presets.get("digits-cnn")), project)
    assert main(["export", str(project), "--format", "python", str(tmp_path / "fresh.py")]) == 0
    err = capsys.readouterr().err
    assert "warning: The network looks untrained (the project has no training run)" in err
    assert (tmp_path / "fresh.py").is_file() and (tmp_path / "fresh.weights.h5").is_file()


def test_export_an_untrained_keras_file_warns(tmp_path, capsys):
    builder.build_model(presets.get("digits-cnn")).save(tmp_path / "fresh.keras")
    assert main(["export", str(tmp_path / "fresh.keras"), "--format", "keras", str(tmp_path / "copy.keras")]) == 0
    assert "every bias is still at its initial value" in capsys.readouterr().err


def test_export_refuses_an_unknown_source_and_a_script_for_foreign_layers(tmp_path, capsys):
    assert main(["export", str(tmp_path / "model.h5"), "--format", "keras", str(tmp_path / "o.keras")]) == 2
    assert "Expected a .keras model or a .cnnproj project" in capsys.readouterr().err
    model = keras.Sequential([keras.Input((6, 2)), keras.layers.LSTM(3, name="lstm_1")])
    model.save(tmp_path / "rnn.keras")
    assert main(["export", str(tmp_path / "rnn.keras"), "--format", "python", str(tmp_path / "r.py")]) == 2
    assert "layer 'lstm_1' of type LSTM is not in CNN Studio's catalog" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "rnn.keras"), "--format", "keras", str(tmp_path / "r.keras")]) == 0


def _png_size(path):
    data = path.read_bytes()
    assert data[:8] == pictures.PNG_SIGNATURE
    width, height = struct.unpack(">II", data[16:24])
    return height, width


def test_inspect_writes_filters_and_activations_and_prints_the_prediction(trained_files, digits, tmp_path, capsys):
    _, model_path = trained_files
    filters, acts = tmp_path / "filters.png", tmp_path / "acts.png"
    code = main(["inspect", str(model_path), "--dataset", "digits", "--sample", "4",
                 "--filters", str(filters), "--activations", str(acts)])
    out = capsys.readouterr().out
    assert code == 0
    assert f"label {digits.class_names[digits.y_val[4]]}" in out
    model = keras.saving.load_model(model_path)
    top = probes.predict_topk(model, digits.x_val[4], k=3, class_names=digits.class_names)
    assert "Prediction: " + ", ".join(f"{c} {p:.1%}" for c, p in top) in out
    # conv1 has 32 filters of 3x3 over one channel: one view each, a 6x6 grid; by default each
    # 3x3 kernel is enlarged to 48 pixels a side (scale 16), with 1-pixel gaps
    assert _png_size(filters) == (6 * 49 + 1, 6 * 49 + 1)
    picture = pictures.read_png(filters)
    expected = probes.kernel_images(model, "conv1").picture(scale=16)
    np.testing.assert_array_equal(picture, expected)
    pixels = pictures.read_png(acts)
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 20


def test_inspect_one_layer_of_a_picture_file(trained_files, tmp_path, capsys):
    _, model_path = trained_files
    picture = np.zeros((16, 16), np.uint8)
    picture[4:12, 7:9] = 255
    source = pictures.write_png(tmp_path / "one.png", picture)
    out = tmp_path / "conv2.png"
    code = main(["inspect", str(model_path), "--image", str(source), "--layer", "conv2",
                 "--activations", str(out), "--scale", "4"])
    assert code == 0 and "Activations of conv2" in capsys.readouterr().out
    # conv2 gives 6x6 maps, 64 channels: an 8x8 grid of 12-pixel tiles with 1-pixel gaps
    assert _png_size(out) == (8 * 13 + 1, 8 * 13 + 1)


def test_inspect_refuses_bad_requests(trained_files, tmp_path, capsys):
    _, model_path = trained_files
    assert main(["inspect", str(model_path), "--layer", "nope", "--filters", str(tmp_path / "f.png")]) == 2
    assert "no layer 'nope'. Expected one of: conv1, conv2" in capsys.readouterr().err
    assert main(["inspect", str(model_path), "--activations", str(tmp_path / "a.png")]) == 2
    assert "need an example" in capsys.readouterr().err
    assert main(["inspect", str(model_path), "--dataset", "digits", "--sample", "99999"]) == 2
    assert "Expected 0 <= --sample <" in capsys.readouterr().err
    assert main(["inspect", str(model_path), "--layer", "pool", "--filters", str(tmp_path / "f.png")]) == 2
    assert "has no convolution kernel" in capsys.readouterr().err
