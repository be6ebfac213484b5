"""keras.applications VGG16 and ResNet50 open as CNN Studio networks with equal outputs."""

from __future__ import annotations

import numpy as np
import pytest

from cnnstudio.models.applications import import_application

SHAPE = (64, 64, 3)


@pytest.mark.slow
@pytest.mark.parametrize(("name", "convs"), [("VGG16", 13), ("ResNet50", 53)])
def test_an_application_becomes_our_layers_with_its_outputs(name, convs, tmp_path):
    import keras

    import layers
    from cnnstudio.models.importer import rebuild

    original = getattr(keras.applications, name)(weights=None, input_shape=SHAPE, classes=10)
    original.save_weights(tmp_path / "saved.weights.h5")
    spec, weights = import_application(name, weights=tmp_path / "saved.weights.h5", input_shape=SHAPE, classes=10)
    assert spec.name == name.lower()
    assert sum(layer.type == "Conv2D" for layer in spec.layers) == convs
    ours = rebuild(spec, weights)
    assert all(isinstance(ours.get_layer(layer.name), layers.Conv2D)
               for layer in spec.layers if layer.type == "Conv2D")
    assert ours.count_params() == original.count_params()
    x = np.random.default_rng(0).uniform(0, 1, (2, *SHAPE)).astype("float32")
    # random weights give near-uniform softmax outputs, so the features before the head are compared too
    before_head = spec.layers[-2].name
    for model in (original, ours):
        both = keras.Model(model.inputs, [model.get_layer(before_head).output, model.outputs[0]])
        model.both = [keras.ops.convert_to_numpy(t) for t in both(x, training=False)]
    features, probabilities = original.both
    assert np.abs(features).max() > 1e-3
    np.testing.assert_allclose(ours.both[0], features, rtol=1e-4, atol=1e-4 * float(np.abs(features).max()))
    np.testing.assert_allclose(ours.both[1], probabilities, atol=1e-4)


def test_unknown_names_missing_files_and_imagenet_sizes_are_refused(tmp_path):
    from cnnstudio.models.importer import ImportRefused

    with pytest.raises(ImportRefused, match=r"Unknown application 'VGG19'\. Expected one of VGG16, ResNet50"):
        import_application("VGG19")
    with pytest.raises(ImportRefused, match=r"No weights file at .*nothing\.weights\.h5"):
        import_application("VGG16", weights=tmp_path / "nothing.weights.h5")
    with pytest.raises(ImportRefused, match=r"ImageNet's VGG16 weights come with a 224x224x3 input and 1000 classes"):
        import_application("VGG16", weights="imagenet", input_shape=SHAPE)


def test_the_pretrained_command_writes_a_project_and_its_model(tmp_path, capsys):
    import keras

    from cnnstudio.cli import main
    from cnnstudio.workspace.project import load_project

    out = tmp_path / "vgg.cnnproj"
    assert main(["pretrained", "VGG16", "--no-top", "--input-shape", "32,32,3", "--out", str(out)]) == 0
    assert f"Wrote {out} (18 layers, 14,714,688 parameters) and {tmp_path / 'vgg.keras'}" in capsys.readouterr().err
    project = load_project(out)
    assert project.network.name == "vgg16" and project.network.input_shape == (32, 32, 3)
    model = keras.saving.load_model(tmp_path / "vgg.keras")
    assert [layer.name for layer in model.layers[1:]] == [layer.name for layer in project.network.layers]
    assert main(["pretrained", "VGG16", "--input-shape", "32,32", "--out", str(out)]) == 2
    assert "Bad input shape. Expected height,width,channels" in capsys.readouterr().err
