"""Presets: the classics match their published parameter counts; every preset is valid."""

import pytest

from cnnstudio.analysis.analyze import infer
from cnnstudio.network import presets, tasks
from cnnstudio.network.spec import NetworkSpec, SpecError

CLASSIFIERS = [name for name in presets.names() if name != "denoising-autoencoder"]


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_every_classifier_preset_is_valid_and_ends_in_a_softmax_classifier(name):
    spec = presets.get(name)
    summary = infer(spec, num_classes=spec.layers[-1].params["units"], loss_from_logits=False)
    assert summary.ok, [str(i) for i in summary.errors()]
    assert tasks.task_of(spec.input_shape, summary.output.output_shape) == tasks.CLASSIFY
    assert spec.layers[-1].type == "Dense" and spec.layers[-1].params["activation"] == "softmax"
    assert NetworkSpec.from_dict(spec.to_dict()).to_dict() == spec.to_dict()


@pytest.mark.parametrize("input_shape", [None, (28, 28, 1), (32, 32, 3)])
def test_the_denoising_autoencoder_gives_back_an_image_of_its_input_through_transposed_convolutions(input_shape):
    spec = presets.get("denoising-autoencoder", input_shape=input_shape, num_classes=10)
    summary = infer(spec, num_classes=10)
    assert summary.ok and not summary.output.warnings, [str(i) for i in summary.output.warnings]
    assert summary.output.output_shape == tuple(spec.input_shape)
    assert tasks.task_of(spec.input_shape, summary.output.output_shape) == tasks.DENOISE
    assert [layer.type for layer in spec.layers[2:]] == ["Conv2DTranspose", "Conv2DTranspose"]
    assert NetworkSpec.from_dict(spec.to_dict()).to_dict() == spec.to_dict()


@pytest.mark.parametrize(("name", "published"), [
    ("lenet5", 61_706), ("alexnet", 61_100_840), ("vgg16", 138_357_544), ("resnet18", 11_689_512),
])
def test_classics_match_published_trainable_parameter_counts(name, published):
    assert infer(presets.get(name)).trainable_params == published


def test_resnet18_keras_total_adds_batch_norm_moving_statistics():
    summary = infer(presets.get("resnet18"))
    assert summary.non_trainable_params == 9_600
    assert summary.total_params == 11_699_112
    assert summary.layer("layer4_1_relu2").output_shape == (7, 7, 512)


def test_input_shape_and_classes_are_honoured():
    spec = presets.get("vgg16", input_shape=(32, 32, 3), num_classes=10)
    summary = infer(spec)
    assert summary.ok and summary.output.output_shape == (10,)
    assert summary.layer("block5_pool").output_shape == (1, 1, 512)
    assert infer(presets.get("mnist1d-cnn")).layers[0].output_shape == (40, 32)
    with pytest.raises(SpecError, match=r"this preset takes \(length, channels\)"):
        presets.get("mnist1d-cnn", input_shape=(8, 8, 1))
    with pytest.raises(KeyError, match='Did you mean "lenet5"'):
        presets.get("lenet")


def test_vgg16_convolutional_base_matches_keras_applications_layer_by_layer():
    keras = pytest.importorskip("keras")
    reference = keras.applications.VGG16(weights=None, include_top=False, input_shape=(224, 224, 3))
    summary = infer(presets.get("vgg16"))
    ours = [(info.name, info.output_shape, info.params) for info in summary.layers[:18]]
    theirs = [(layer.name, tuple(layer.output.shape[1:]), layer.count_params())
              for layer in reference.layers[1:]]
    assert ours == theirs


@pytest.mark.slow
def test_vgg16_matches_keras_applications_layer_by_layer():
    keras = pytest.importorskip("keras")
    reference = keras.applications.VGG16(weights=None)
    summary = infer(presets.get("vgg16"))
    ours = [(info.output_shape, info.params) for info in summary.layers if info.type != "Flatten"]
    theirs = [(tuple(layer.output.shape[1:]), layer.count_params()) for layer in reference.layers[1:]
              if type(layer).__name__ != "Flatten"]
    assert ours == theirs
    assert reference.count_params() == summary.total_params
