"""The transposed-convolution explainer window: opened from Help and from a node, it steps
through the input cells and shows the copies adding up; its 1D matrix is the transpose."""

import numpy as np
import pytest
from test_ui_explain_launch import _actions

from cnnstudio.inspection import explainer, transposed_explainer
from ui.explain.tab import install_explainer
from ui.explain.transposed_view import QtTransposeExplainView


@pytest.fixture
def window(studio_window, qtbot):
    win = studio_window("denoising-autoencoder")
    install_explainer(win)
    yield win
    if win.explainer.view is not None:
        win.explainer.view.close()
    win.document.reset(win.document.spec)
    assert win.close()
    win.deleteLater()


def test_help_and_the_node_menu_open_the_transposed_explainer_with_the_layer_settings(window):
    actions = _actions(window.menu_help)
    actions["Explain &Transposed Convolution…"].trigger()
    assert isinstance(window.explainer.view, QtTransposeExplainView)
    node_actions = _actions(window.canvas.node_menu("decode1"))
    assert "Explain Conv2DTranspose Step by Step…" in node_actions
    node_actions["Explain Conv2DTranspose Step by Step…"].trigger()
    view = window.explainer.view
    assert view.rank == 2 and view.explanation.strides == (2, 2)
    assert view.padding_combo.currentText() == "same"
    assert view.explanation.output.shape == (4, 4)  # 2x2 input, "same" at stride 2


def test_stepping_shows_each_copy_and_the_sum_so_far(qtbot):
    view = QtTransposeExplainView(rank=1)
    qtbot.addWidget(view)
    view.input_edit.setText("1, 2")
    view.kernel_edit.setText("1, -1, 3")
    view.recompute()
    view.set_step(1)
    assert view.equation.text() == "x[1] = 2 scatters 2*kernel = [2, -2, 6] into out[2..4]"
    np.testing.assert_array_equal(transposed_explainer.partial_output(view.explanation, 1), [1, -1, 3, 0, 0])
    np.testing.assert_array_equal(transposed_explainer.partial_output(view.explanation, 2), view.explanation.output)
    conv = explainer.conv1d_weight_indices(3, 5, 2)
    np.testing.assert_array_equal(view.matrix.indices, conv.T)
    view.output_padding_edit.setText("2")
    view.recompute()
    assert "output_padding must be smaller than the stride" in view.error.text()
