"""Deployment exports: presets to .tflite (LiteRT) and .onnx (ONNX Runtime), verified in their runtimes.

Needs the deploy extra (``pip install 'cnnstudio[deploy]'``, which ``make test`` installs);
without it these tests are skipped and the error naming the extra is checked instead.
"""

import importlib.util
import re
import sys

import numpy as np
import pytest

from cnnstudio.cli import main
from cnnstudio.models import builder, deploy, export
from cnnstudio.network import presets
from cnnstudio.network.spec import LayerSpec, NetworkSpec
from cnnstudio.training.data import load_dataset
from cnnstudio.workspace.project import Project, save_project

HAS_DEPLOY = all(
    importlib.util.find_spec(name) for name in ("ai_edge_litert", "tf2onnx", "onnxruntime")
)
needs_deploy = pytest.mark.skipif(not HAS_DEPLOY, reason="the deploy extra is not installed")


def resnet_blocks_spec() -> NetworkSpec:
    """A ResNet-style network on 32x32x3: a stem, two basic residual blocks with batch norm."""
    layers = [LayerSpec("stem", "Conv2D", {"filters": 16, "kernel_size": 3, "padding": "same",
                                           "use_bias": False})]
    layers += [LayerSpec("stem_bn", "BatchNormalization", {}),
               LayerSpec("stem_relu", "Activation", {"activation": "relu"})]
    source = "stem_relu"
    for block, stride in ((1, 1), (2, 2)):
        p = f"block{block}"
        layers += [
            LayerSpec(f"{p}_conv1", "Conv2D", {"filters": 16 * block, "kernel_size": 3, "strides": stride,
                                              "padding": "same", "use_bias": False}, [source]),
            LayerSpec(f"{p}_bn1", "BatchNormalization", {}),
            LayerSpec(f"{p}_relu1", "Activation", {"activation": "relu"}),
            LayerSpec(f"{p}_conv2", "Conv2D", {"filters": 16 * block, "kernel_size": 3, "padding": "same",
                                              "use_bias": False}),
            LayerSpec(f"{p}_bn2", "BatchNormalization", {}),
        ]
        shortcut = source
        if stride != 1:
            layers += [
                LayerSpec(f"{p}_down", "Conv2D", {"filters": 16 * block, "kernel_size": 1, "strides": stride,
                                                 "use_bias": False}, [source]),
                LayerSpec(f"{p}_down_bn", "BatchNormalization", {}),
            ]
            shortcut = f"{p}_down_bn"
        layers += [LayerSpec(f"{p}_add", "Add", {}, [f"{p}_bn2", shortcut]),
                   LayerSpec(f"{p}_relu2", "Activation", {"activation": "relu"})]
        source = f"{p}_relu2"
    layers += [LayerSpec("pool", "GlobalAvgPool2D", {}),
               LayerSpec("output", "Dense", {"units": 10, "activation": "softmax"})]
    return NetworkSpec(input_shape=(32, 32, 3), layers=layers, name="resnet-blocks")


NETWORKS = {
    "digits-cnn": lambda: presets.get("digits-cnn"),
    "lenet5": lambda: presets.get("lenet5"),
    "mnist1d-cnn": lambda: presets.get("mnist1d-cnn"),
    "resnet-blocks": resnet_blocks_spec,
}


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


@pytest.fixture(scope="module")
def trained_digits(digits):
    """digits-cnn trained to well above chance, so that int8 accuracy means something."""
    import keras

    keras.utils.set_random_seed(0)
    model = builder.build_model(presets.get("digits-cnn"), seed=0)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"], jit_compile=False)
    model.fit(digits.x_train, digits.y_train, epochs=4, batch_size=32, verbose=0)
    return model


@pytest.fixture(scope="module")
def float_tflite_size(trained_digits):
    return len(deploy.litert_bytes(trained_digits))


@needs_deploy
@pytest.mark.parametrize("name", list(NETWORKS))
def test_each_network_exports_to_tflite_and_onnx_matching_keras(name, tmp_path):
    model = builder.build_model(NETWORKS[name](), seed=0)
    x = np.random.default_rng(1).normal(size=(6, *model.input_shape[1:])).astype("float32")
    expected = deploy.serving_outputs(model, x)
    tflite = deploy.export_tflite(model, tmp_path / f"{name}.tflite")
    onnx = deploy.export_onnx(model, tmp_path / f"{name}.onnx")
    for result, run in ((tflite, deploy.run_litert), (onnx, deploy.run_onnx)):
        assert result.path.is_file() and result.verification.startswith("verified in ")
        got = run(result.path.read_bytes(), x)
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)


@needs_deploy
def test_tflite_uses_builtin_ops_and_keeps_the_serving_names(tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    result = deploy.export_tflite(builder.build_model(presets.get("digits-cnn"), seed=0), tmp_path / "d.tflite")
    interpreter = Interpreter(model_path=str(result.path))
    signature = interpreter.get_signature_list()["serving_default"]
    assert signature == {"inputs": ["image"], "outputs": ["probabilities"]}
    ops = {detail["op_name"] for detail in interpreter._get_ops_details()}
    assert ops and not any("Flex" in op or op == "CUSTOM" for op in ops), ops


@needs_deploy
@pytest.mark.parametrize("quantize", ["dynamic", "int8"])
def test_quantized_tflite_keeps_accuracy_within_one_point(quantize, trained_digits, digits, float_tflite_size,
                                                          tmp_path):
    float_accuracy = np.mean(np.argmax(trained_digits.predict(digits.x_val, verbose=0), -1) == digits.y_val)
    assert float_accuracy > 0.8
    result = deploy.export_tflite(trained_digits, tmp_path / "q.tflite", quantize=quantize, data=digits)
    got = deploy.run_litert(result.path.read_bytes(), digits.x_val)
    accuracy = np.mean(np.argmax(got, -1) == digits.y_val)
    assert accuracy >= float_accuracy - 0.01
    assert f"accuracy {100 * accuracy:.2f}%" in result.verification
    assert result.path.stat().st_size < float_tflite_size / 2


@needs_deploy
def test_a_failed_verification_is_reported_and_leaves_nothing(trained_digits, digits, tmp_path):
    out = tmp_path / "strict.tflite"
    # Demand that int8 beats the float model by 50 points: the check runs and must refuse.
    with pytest.raises(deploy.VerificationFailed, match=r"FAILED verification in LiteRT .* accuracy"):
        deploy.export_tflite(trained_digits, out, quantize="int8", data=digits, accuracy_drop=-0.5)
    assert list(tmp_path.iterdir()) == []


@needs_deploy
def test_quantizing_without_data_says_what_is_needed(trained_digits, tmp_path):
    with pytest.raises(export.ExportError, match=r"Expected a data set \(train on one first, or --data"):
        deploy.export_tflite(trained_digits, tmp_path / "q.tflite", quantize="int8")
    with pytest.raises(export.ExportError, match=r"Unknown quantization 'int4'"):
        deploy.litert_bytes(trained_digits, quantize="int4")


def test_wrong_suffix_is_refused(tmp_path):
    model = builder.build_model(presets.get("digits-cnn"), seed=0)
    with pytest.raises(export.ExportError, match=r"must end in \.tflite.*'d\.tflite'"):
        deploy.export_tflite(model, tmp_path / "d.lite")
    with pytest.raises(export.ExportError, match=r"must end in \.onnx"):
        deploy.export_onnx(model, tmp_path / "d.pb")


def test_a_missing_runtime_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "tf2onnx", None)  # what Python does for a package not installed
    with pytest.raises(export.ExportError, match=r"ONNX export needs the optional package 'tf2onnx'.*"
                                                r"pip install 'cnnstudio\[deploy\]'"):
        deploy.require("tf2onnx", "ONNX export")


@pytest.fixture(scope="module")
def trained_project(tmp_path_factory):
    """A digits-cnn project trained for two epochs by `cnnstudio train`: it names its data set."""
    folder = tmp_path_factory.mktemp("deploy-cli")
    project = folder / "digits.cnnproj"
    save_project(Project(network=presets.get("digits-cnn")), project)
    assert main(["train", str(project), "--dataset", "digits", "--epochs", "2", "--seed", "0", "--no-xla"]) == 0
    return project


@needs_deploy
def test_cli_exports_a_project_as_int8_tflite_calibrated_on_its_own_data(trained_project, tmp_path, capsys):
    capsys.readouterr()
    out = tmp_path / "digits-int8.tflite"
    assert main(["export", str(trained_project), "--format", "tflite", "--quantize", "int8", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"Exported tflite to {out}" in printed
    assert re.search(rf"digits-int8\.tflite: {out.stat().st_size:,} bytes, verified in LiteRT on 359 inputs: "
                     r"max \|difference\| \S+; accuracy \S+% against \S+% for the float model", printed), printed


@needs_deploy
def test_cli_exports_onnx_verified_on_the_named_data(trained_project, tmp_path, capsys):
    capsys.readouterr()
    out = tmp_path / "digits.onnx"
    assert main(["export", str(trained_project), "--format", "onnx", "--data", "digits", str(out)]) == 0
    printed = capsys.readouterr().out
    assert re.search(r"digits\.onnx: [\d,]+ bytes, verified in ONNX Runtime on 32 inputs: max \|difference\| "
                     r"\S+ \(allowed 1e-05\)", printed), printed


def test_cli_refuses_quantize_outside_tflite(trained_project, tmp_path, capsys):
    out = tmp_path / "d.onnx"
    assert main(["export", str(trained_project), "--format", "onnx", "--quantize", "int8", str(out)]) == 2
    assert "--quantize applies to LiteRT exports only. Expected --format tflite." in capsys.readouterr().err
    assert not out.exists()


def test_a_tf_serving_rest_body_goes_through_the_savedmodel_signature(trained_digits, digits, tmp_path):
    """The README's request: {"instances": [image, ...]} in TF Serving's row format."""
    import json

    import tensorflow as tf

    result = export.export_savedmodel(trained_digits, tmp_path / "digits")
    body = json.dumps({"instances": digits.x_val[:3].tolist()})
    instances = json.loads(body)["instances"]
    serve = tf.saved_model.load(str(result.path)).signatures["serving_default"]
    outputs = serve(image=tf.constant(instances, dtype=tf.float32))
    response = json.loads(json.dumps({"predictions": outputs["probabilities"].numpy().tolist()}))
    predictions = np.asarray(response["predictions"])
    assert predictions.shape == (3, 10)
    np.testing.assert_allclose(predictions.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(predictions, trained_digits.predict(digits.x_val[:3], verbose=0),
                               rtol=1e-5, atol=1e-6)
