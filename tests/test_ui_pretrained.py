"""Presets > Pretrained: keras.applications VGG16 opens in the editor with its weights."""

from __future__ import annotations

import numpy as np
import pytest

from ui.editor.pretrained import QtPretrainedDialog, install_pretrained, open_dialog

TIMEOUT_MS = 120_000


@pytest.fixture
def window(studio_window, qtbot):
    win = studio_window()
    install_pretrained(win)
    qtbot.addWidget(win)
    return win


def test_the_menu_offers_both_applications(window):
    texts = [a.text() for a in window.menu_presets.actions()]
    assert "Pretrained VGG16…" in texts and "Pretrained ResNet50…" in texts


def test_vgg16_from_a_saved_weights_file_opens_with_those_weights(qtbot, window, tmp_path):
    import keras

    original = keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
    original.save_weights(tmp_path / "vgg.weights.h5")
    dialog = open_dialog(window, "VGG16")
    dialog.set_weights_file(str(tmp_path / "vgg.weights.h5"))
    dialog.shape_edit.setText("32,32,3")
    dialog.top_check.setChecked(False)
    with qtbot.waitSignal(dialog.sig_imported, timeout=TIMEOUT_MS):
        dialog.start()
    assert window.document.spec.name == "vgg16" and window.document.spec.input_shape == (32, 32, 3)
    assert len(window.document.spec.layers) == 18 and not window.document.dirty
    model = window.workspace.model
    x = np.random.default_rng(0).uniform(0, 1, (1, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(x)), keras.ops.convert_to_numpy(original(x)),
                               rtol=1e-4, atol=1e-5)
    assert "Opened vgg16 from keras.applications: 18 layers, 14,714,688 parameters" in \
        window.statusBar().currentMessage()


def test_a_bad_shape_or_a_missing_file_is_said_in_the_dialog(qtbot, window, tmp_path):
    dialog = QtPretrainedDialog("ResNet50", window)
    qtbot.addWidget(dialog)
    dialog.shape_edit.setText("32,32")
    dialog.start()
    assert dialog.status.text().startswith("Bad input shape. Expected height,width,channels")
    dialog.shape_edit.setText("32,32,3")
    dialog.set_weights_file(str(tmp_path / "none.weights.h5"))
    with qtbot.waitSignal(dialog.sig_failed, timeout=TIMEOUT_MS):
        dialog.start()
    assert "No weights file at" in dialog.status.text() and dialog.buttons.isEnabled()
