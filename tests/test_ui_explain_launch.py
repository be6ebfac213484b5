"""Opening the explainer from the studio window: Help menu and a conv/pool node's context menu."""

import numpy as np
import pytest
from PySide6.QtCore import QSettings

from cnnstudio.network import presets
from cnnstudio.training.data import load_dataset
from cnnstudio.workspace.document import NetworkDocument
from ui.explain.tab import install_explainer
from ui.explain.view import QtExplainView
from ui.main_window import QtMainWindow


@pytest.fixture
def window(qtbot, tmp_path):
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    win = QtMainWindow(NetworkDocument(presets.get("digits-cnn")), settings=settings,
                       recovery_dir=tmp_path / "recovery")
    install_explainer(win)
    yield win
    if win.explainer.view is not None:
        win.explainer.view.close()
    win.document.reset(win.document.spec)  # closes without the unsaved-changes prompt
    assert win.close()
    win.deleteLater()


def _actions(menu):
    return {action.text(): action for action in menu.actions()}


def test_help_menu_opens_a_blank_explainer(window):
    actions = _actions(window.menu_help)
    assert "&Explain Convolution and Pooling…" in actions
    actions["&Explain Convolution and Pooling…"].trigger()
    assert isinstance(window.explainer.view, QtExplainView)
    assert window.explainer.view.isVisible()


def test_conv_node_menu_explains_that_layer_with_its_settings(window):
    window.document.set_params("conv2", {"strides": 2})
    menu = window.canvas.node_menu("conv2")
    actions = _actions(menu)
    assert set(actions) == {"Delete Layer", "Explain Conv2D Step by Step…"}
    actions["Explain Conv2D Step by Step…"].trigger()
    view = window.explainer.view
    assert view.operation == "conv2d"
    assert view.explanation.strides == (2, 2)
    assert view.explanation.kernel.shape == (3, 3)


def test_first_layer_is_explained_on_a_real_sample(window):
    dataset = load_dataset("digits")
    window.workspace.set_dataset(dataset)
    window.canvas.node_menu("conv1")
    view = window.explainer.open_for_layer("conv1")
    np.testing.assert_allclose(view.explanation.input, dataset.x_val[0][..., 0])


def test_dense_node_menu_offers_only_delete(window):
    actions = _actions(window.canvas.node_menu("output"))
    assert set(actions) == {"Delete Layer"}
    actions["Delete Layer"].trigger()
    assert "output" not in [layer.name for layer in window.document.spec.layers]
