"""The image-to-image task: the denoising autoencoder preset trains (mean squared error) and
the Results tab shows input, noisy input and reconstruction side by side."""

import numpy as np
import pytest

from cnnstudio.inspection import pictures, probes
from cnnstudio.network import presets, tasks
from cnnstudio.training.data import load_dataset
from cnnstudio.training.loop import TrainingSettings, train
from cnnstudio.workspace.document import NetworkDocument
from cnnstudio.workspace.session import Workspace


@pytest.fixture(scope="module")
def dataset():
    return load_dataset("digits")


@pytest.fixture(scope="module")
def trained(dataset):
    spec = presets.get("denoising-autoencoder")
    settings = TrainingSettings(epochs=3, batch_size=32, learning_rate=3e-3, jit_compile=False)
    return spec, train(spec, dataset, settings)


def test_the_autoencoder_learns_to_reconstruct_better_than_the_noisy_input(trained, dataset):
    _, result = trained
    assert result.ok, result.error
    assert set(result.history) == {"loss", "val_loss"}
    assert result.history["val_loss"][-1] < result.history["val_loss"][0]
    reconstruction = probes.reconstruct(result.model, dataset.x_val, limit=6)
    assert reconstruction.error < reconstruction.noisy_error
    np.testing.assert_allclose(reconstruction.error, result.history["val_loss"][-1], rtol=1e-4)
    noisy = tasks.noisy(dataset.x_val, tasks.VALIDATION_SEED)
    assert reconstruction.noisy_error == pytest.approx(float(np.mean((noisy - dataset.x_val) ** 2)), rel=1e-5)
    assert reconstruction.rebuilt.shape == (6, 8, 8, 1)
    assert reconstruction.rebuilt.min() >= 0.0 and reconstruction.rebuilt.max() <= 1.0


def test_noise_is_seeded_and_stays_in_the_pixel_range():
    x = np.full((4, 5, 5, 1), 0.9, np.float32)
    first, again = tasks.noisy(x, 3), tasks.noisy(x, 3)
    np.testing.assert_array_equal(first, again)
    assert first.min() >= 0.0 and first.max() <= 1.0 and not np.allclose(first, x)
    assert tasks.task_of((8, 8, 1), (8, 8, 1)) == tasks.DENOISE
    assert tasks.task_of((8, 8, 1), (10,)) == tasks.CLASSIFY


def test_augmenting_only_the_input_of_a_denoiser_is_refused(dataset):
    settings = TrainingSettings(epochs=1, augment_flip=True, jit_compile=False)
    result = train(presets.get("denoising-autoencoder"), dataset, settings)
    assert result.status == "failed"
    assert "Expected augmentation off for an image-to-image network" in result.error


def test_reconstruction_tiles_put_the_three_images_side_by_side():
    clean = np.zeros((2, 4, 3, 1), np.float32)
    noisy, rebuilt = clean + 0.5, clean + 1.0
    tiles = pictures.reconstruction_tiles(clean, noisy, rebuilt)
    assert len(tiles) == 2 and tiles[0].shape == (4, 3 * 3 + 2 * 2, 3)
    assert tiles[0][0, 0].tolist() == [0, 0, 0] and tiles[0][0, 5].tolist() == [128, 128, 128]
    assert tiles[0][0, 10].tolist() == [255, 255, 255]


def test_results_tab_shows_input_noisy_input_and_reconstruction(qtbot, trained, dataset):
    from test_ui_inspect import distinct_colors, show

    from ui.inspection.results_view import QtResultsView

    spec, result = trained
    workspace = Workspace(NetworkDocument(spec))
    workspace.set_dataset(dataset)
    workspace.set_model(result.model)
    view = show(qtbot, QtResultsView(workspace), (1200, 800))
    assert not view.matrix_view.isVisible()
    text = view.accuracy_label.text()
    assert "denoised" in text and "better than the noisy inputs'" in text
    assert view.gallery.count() == 48
    assert "input, noisy input and the network's reconstruction" in view.gallery_label.text()
    assert distinct_colors(view.gallery) > 10
