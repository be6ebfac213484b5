"""resources/: the committed icon, sample images and default project are what make_resources.py makes."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from cnnstudio.analysis.analyze import infer
from cnnstudio.inspection import pictures
from cnnstudio.network import presets
from cnnstudio.workspace.project import load_project

RESOURCES = Path(__file__).resolve().parent.parent / "resources"


@pytest.fixture(scope="module")
def maker():
    spec = importlib.util.spec_from_file_location("make_resources", RESOURCES / "make_resources.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_icon_is_current(maker):
    np.testing.assert_array_equal(pictures.read_png(RESOURCES / "icons" / "cnnstudio.png"), maker.icon())


def test_samples_are_current_and_read_back_as_the_mnist_5k_digits_they_came_from(maker):
    from cnnstudio.training.data import load_dataset

    images, labels = maker.mnist_5k_digits()
    samples = maker.digit_samples()
    assert sorted(p.name for p in (RESOURCES / "samples").iterdir()) == sorted(samples)
    assert {pixels.shape for pixels in samples.values()} == {(28, 28)}
    found = set()
    for name, pixels in samples.items():
        np.testing.assert_array_equal(pictures.read_png(RESOURCES / "samples" / name)[..., 0], pixels)
        label, index = int(name.split("_")[1]), int(name.split("_")[3].removesuffix(".png"))
        assert labels[index] == label
        found.add(label)
        fed = pictures.load_image(RESOURCES / "samples" / name, size=(28, 28), channels=1)
        np.testing.assert_allclose(fed[..., 0], images[index] / 255.0, atol=0.5 / 255)
    assert found == set(range(10))
    dataset = load_dataset("mnist-5k")
    assert len(dataset.x_train) + len(dataset.x_val) == len(labels)


def test_default_project_is_lenet5_on_mnist_5k_and_valid(maker):
    from cnnstudio.workspace.runs import project_settings

    project = load_project(RESOURCES / "default.cnnproj.json")
    assert project.network.to_dict() == presets.get("lenet5").to_dict()
    assert project.to_dict() == maker.default_project().to_dict()
    settings, dataset = project_settings(project)
    assert dataset == "mnist-5k" and (settings.epochs, settings.learning_rate) == (8, 0.002)
    assert infer(project.network).ok
