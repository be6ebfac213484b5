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


def test_samples_are_current_and_read_back_as_the_digits_they_came_from(maker):
    from sklearn.datasets import load_digits

    digits = load_digits()
    samples = maker.digit_samples()
    assert sorted(p.name for p in (RESOURCES / "samples").iterdir()) == sorted(samples)
    labels = set()
    for name, pixels in samples.items():
        np.testing.assert_array_equal(pictures.read_png(RESOURCES / "samples" / name)[..., 0], pixels)
        label, index = int(name.split("_")[1]), int(name.split("_")[3].removesuffix(".png"))
        assert digits.target[index] == label
        labels.add(label)
        fed = pictures.load_image(RESOURCES / "samples" / name, size=(8, 8), channels=1)
        np.testing.assert_allclose(fed[..., 0], digits.images[index] / 16.0, atol=0.5 / 255)
    assert labels == set(range(10))


def test_default_project_is_the_digits_cnn_preset_and_valid(maker):
    project = load_project(RESOURCES / "default.cnnproj.json")
    assert project.network.to_dict() == presets.get("digits-cnn").to_dict()
    assert project.to_dict() == maker.default_project().to_dict()
    assert infer(project.network).ok
