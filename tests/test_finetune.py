"""Fine-tuning: the per-layer trainable flag, frozen parameters in the summary, starting from
another model's weights by layer name, `train --init-from --freeze`, frozen BatchNormalization."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cnnstudio.analysis.analyze import infer
from cnnstudio.cli import main
from cnnstudio.network import presets
from cnnstudio.network.spec import LayerSpec, NetworkSpec, SpecError
from cnnstudio.training.data import Dataset, load_dataset
from cnnstudio.training.loop import TrainingSettings, train
from cnnstudio.training.transfer import TransferError, freeze, read_weights, transfer_weights
from cnnstudio.workspace.document import NetworkDocument


def bn_net(classes=10) -> NetworkSpec:
    return NetworkSpec((8, 8, 1), [
        LayerSpec("conv", "Conv2D", {"filters": 4}),
        LayerSpec("bn", "BatchNormalization"),
        LayerSpec("flat", "Flatten"),
        LayerSpec("head", "Dense", {"units": classes, "activation": "softmax"}),
    ], name="bn-net")


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def test_the_flag_round_trips_and_is_checked():
    spec = freeze(bn_net(), ["conv"])
    data = spec.to_dict()
    assert data["layers"][0]["trainable"] is False and "trainable" not in data["layers"][1]
    assert NetworkSpec.from_dict(json.loads(json.dumps(data))).layer("conv").trainable is False
    data["layers"][1]["trainable"] = "no"
    with pytest.raises(SpecError, match=r"layers\[1\]\.trainable: expected true or false, received 'no'"):
        NetworkSpec.from_dict(data)
    with pytest.raises(TransferError, match=r'There is no layer "conv1" to freeze\. Did you mean "conv"\?'):
        freeze(bn_net(), ["conv1"])


def test_frozen_parameters_are_counted_apart_as_keras_counts_them():
    from cnnstudio.models.builder import build_model

    spec = freeze(bn_net(), ["conv", "bn"])
    summary = infer(spec)
    conv = 3 * 3 * 1 * 4 + 4
    assert summary.layer("conv").frozen_params == conv and summary.layer("conv").trainable_params == 0
    assert summary.frozen_params == conv + 8
    model = build_model(spec)
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert summary.trainable_params == trainable
    assert summary.total_params == model.count_params()


def test_freezing_is_an_undoable_document_edit():
    doc = NetworkDocument(bn_net())
    doc.set_trainable("conv", False)
    assert not doc.spec.layer("conv").trainable and doc.undo_label == "Freeze conv"
    assert doc.project.network.to_dict()["layers"][0]["trainable"] is False
    doc.undo()
    assert doc.spec.layer("conv").trainable


def test_weights_move_by_name_and_shape_and_the_log_lists_which(digits, tmp_path):
    from cnnstudio.models.builder import build_model

    source = build_model(bn_net(10), seed=1)
    source.save(tmp_path / "source.keras")
    target = build_model(bn_net(3), seed=2)
    report = transfer_weights(target, read_weights(tmp_path / "source.keras"), "source.keras")
    assert report.copied == ["conv", "bn"]
    assert report.fresh == [("head", "the source's weights are shaped 144x10, 10, this layer's 144x3, 3")]
    assert report.lines()[0] == "Started from source.keras: 2 layer(s) took its weights (conv, bn)."
    for name in ("conv", "bn"):
        for a, b in zip(source.get_layer(name).get_weights(), target.get_layer(name).get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)


def test_init_from_with_freeze_keeps_frozen_weights_bit_identical(digits, tmp_path, capsys):
    import keras

    first = tmp_path / "first.keras"
    # Not about XLA: its compile costs more CPU than these one-epoch runs train
    assert main(["train", "digits-cnn", "--dataset", "digits", "--epochs", "1", "--no-xla", "--save", str(first)]) == 0
    capsys.readouterr()
    second = tmp_path / "second.keras"
    assert main(["train", "digits-cnn", "--dataset", "digits", "--epochs", "1", "--seed", "5", "--no-xla",
                 "--init-from", str(first), "--freeze", "conv1,conv2", "--save", str(second)]) == 0
    err = capsys.readouterr().err
    assert f"Started from {first}: 4 layer(s) took its weights (conv1, conv2, hidden, output)." in err
    before, after = keras.saving.load_model(first), keras.saving.load_model(second)
    for name in ("conv1", "conv2"):
        for a, b in zip(before.get_layer(name).get_weights(), after.get_layer(name).get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)
    for name in ("hidden", "output"):
        assert not np.array_equal(before.get_layer(name).get_weights()[0], after.get_layer(name).get_weights()[0])
    assert not after.get_layer("conv1").trainable and after.get_layer("hidden").trainable


def test_init_from_an_earlier_run_of_a_project_and_bad_sources(tmp_path, capsys):
    from cnnstudio.workspace import runs
    from cnnstudio.workspace.project import Project, save_project

    path = tmp_path / "p.cnnproj"
    project = Project(network=presets.get("digits-cnn"))
    runs.set_project_settings(project, TrainingSettings(epochs=1, jit_compile=False), "digits")
    save_project(project, path)
    assert main(["train", str(path)]) == 0
    capsys.readouterr()
    assert main(["train", str(path), "--init-from", "run-001", "--freeze", "conv1"]) == 0
    assert "Started from" in capsys.readouterr().err
    assert main(["train", str(path), "--init-from", "run-009"]) == 2
    assert "No model file or run 'run-009'. Expected a .keras file or one of the project's runs" in \
        capsys.readouterr().err
    assert main(["train", "digits-cnn", "--freeze", "conv9"]) == 2
    assert 'There is no layer "conv9" to freeze' in capsys.readouterr().err


def test_a_frozen_batch_normalization_runs_in_inference_mode(digits):
    import keras

    small = Dataset("small", digits.x_train[:128], digits.y_train[:128], digits.x_val[:32], digits.y_val[:32],
                    digits.class_names)
    spec = freeze(bn_net(), ["bn"])
    result = train(spec, small, TrainingSettings(epochs=1, batch_size=32, jit_compile=False))
    assert result.ok, result.error
    bn = result.model.get_layer("bn")
    np.testing.assert_array_equal(bn.moving_mean.numpy(), np.zeros(4, np.float32))
    np.testing.assert_array_equal(bn.moving_variance.numpy(), np.ones(4, np.float32))
    x = keras.ops.convert_to_tensor(small.x_val[:8])
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(result.model(x, training=True)),
                                  keras.ops.convert_to_numpy(result.model(x, training=False)))
