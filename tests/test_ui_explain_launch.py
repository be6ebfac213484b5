"""Opening the explainer from the studio window: Help menu and a conv/pool node's context menu."""

import numpy as np
import pytest

from cnnstudio.training.data import load_dataset
from ui.explain.tab import install_explainer
from ui.explain.view import QtExplainView


@pytest.fixture
def window(studio_window, qtbot):
    win = studio_window()
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


def test_a_trained_layer_is_explained_with_its_own_kernel(window, qtbot):
    from PySide6.QtCore import Qt

    from cnnstudio.models.builder import build_model

    model = build_model(window.document.spec, seed=3)
    window.workspace.set_model(model)
    view = window.explainer.open_for_layer("conv2")
    trained = model.get_layer("conv2").kernel.numpy()[:, :, 0, 0]
    np.testing.assert_allclose(view.explanation.kernel, trained, atol=5e-5)  # shown to 4 digits
    assert "trained kernel" in view.windowTitle()
    window.show()
    assert window.frameGeometry().contains(view.frameGeometry().center())  # over the window
    assert not view.tabs.isTabEnabled(view.tabs.indexOf(view.matrix_canvas))  # 2D: no 1D matrix
    qtbot.keyClick(view, Qt.Key.Key_Escape)
    assert window.explainer.view is None or not window.explainer.view.isVisible()


def test_the_matrix_tab_is_enabled_for_a_1d_convolution(qtbot):
    view = QtExplainView(operation="conv1d")
    qtbot.addWidget(view)
    assert view.tabs.isTabEnabled(view.tabs.indexOf(view.matrix_canvas))
    view.operation_combo.setCurrentText("conv2d")
    assert not view.tabs.isTabEnabled(view.tabs.indexOf(view.matrix_canvas))


def test_a_cell_value_shrinks_to_fit_instead_of_being_clipped(qtbot):
    from PySide6.QtCore import QRectF
    from PySide6.QtGui import QColor, QFontMetrics, QImage, QPainter

    from ui.explain.view import _cell_font, _draw_cell

    image = QImage(60, 60, QImage.Format.Format_ARGB32)
    painter = QPainter(image)
    painter.setFont(_cell_font(24))
    drawn = []
    original = painter.drawText

    def record(rect, flags, text):
        drawn.append((QFontMetrics(painter.font()).horizontalAdvance(text), rect.width()))
        return original(rect, flags, text)

    painter.drawText = record
    _draw_cell(painter, QRectF(0, 0, 24, 24), "-0.0625", QColor("white"))
    painter.end()
    [(width, room)] = drawn
    assert width <= room
