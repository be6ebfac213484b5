"""The Explain view under qtbot: it draws, steps, plays and follows its settings."""

import numpy as np
import pytest
from PySide6.QtCore import Qt

from ui.explain.view import QtExplainView


def _distinct_colors(widget) -> int:
    image = widget.grab().toImage()
    step = 3
    return len({image.pixel(x, y) for x in range(0, image.width(), step) for y in range(0, image.height(), step)})


@pytest.fixture
def view(qtbot):
    widget = QtExplainView()
    qtbot.addWidget(widget)
    widget.resize(1100, 620)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def test_course_example_renders_with_the_layer_output(view):
    assert view.explanation.output.tolist() == [[4, 3, 4], [2, 4, 3], [2, 3, 4]]
    assert view.equation_label.text() == "out[0,0] = 1*1 + 1*0 + 1*1 + 0*0 + 1*1 + 1*0 + 0*1 + 0*0 + 1*1 = 4"
    assert _distinct_colors(view.canvas) > 8


def test_stride_change_updates_formula_and_output_grid(view, qtbot):
    view.input_edit.setPlainText("\n".join(",".join(str(r * 7 + c) for c in range(7)) for r in range(7)))
    before_label = view.formula_label.text()
    before_image = view.canvas.grab().toImage()
    with qtbot.waitSignal(view.sig_explanation_changed) as blocker:
        view.stride_spin.setValue(3)
    assert blocker.args[0].output.shape == (2, 2)
    assert "floor((7 - 3) / 3) + 1 = 2" in view.formula_label.text()
    assert view.formula_label.text() != before_label
    assert "Output size: 2×2" in view.formula_label.text()
    assert "leaves 1 column unused" in view.warning_label.text()
    assert view.canvas.grab().toImage() != before_image


def test_stepping_moves_the_window(view, qtbot):
    with qtbot.waitSignal(view.sig_step_changed) as blocker:
        qtbot.mouseClick(view.next_button, Qt.MouseButton.LeftButton)
    assert blocker.args == [1]
    assert view.equation_label.text().startswith("out[0,1] = ")
    image = view.canvas.grab().toImage()
    view.set_step(8)
    assert view.equation_label.text().endswith("= 4")
    assert view.canvas.grab().toImage() != image
    view.set_step(99)
    assert view.step == 8


def test_play_animates_with_a_timer_and_pauses(view, qtbot):
    view.play(interval_ms=10)
    assert view.playing
    with qtbot.waitSignal(view.sig_step_changed, timeout=2000):
        pass
    view.pause()
    assert not view.playing
    assert view.play_button.text() == "Play"


def test_bad_input_shows_the_error_and_no_drawing(view, qtbot):
    with qtbot.waitSignal(view.sig_explanation_changed) as blocker:
        view.input_edit.setPlainText("1, 2\n3")
    assert blocker.args == [None]
    assert "rows are ragged" in view.error_label.text()
    view.input_edit.setPlainText("1, 2\n3, 4")
    assert "does not fit" in view.error_label.text()
    view.input_edit.setPlainText("1, 2, 3\n3, 4, 5\n0, 0, 1")
    assert view.error_label.text() == ""
    assert view.explanation.output.shape == (1, 1)


def test_kernel_size_spin_resizes_the_kernel_keeping_its_numbers(view):
    view.size_spin.setValue(2)
    assert view.kernel_edit.toPlainText() == "1, 0\n0, 1"
    assert view.explanation.output.shape == (4, 4)
    view.kernel_edit.setPlainText("1, 1, 1, 1\n1, 1, 1, 1\n1, 1, 1, 1\n1, 1, 1, 1")
    assert view.size_spin.value() == 4


def test_conv1d_padding_dilation_and_matrix(view):
    view.operation_combo.setCurrentText("conv1d")
    assert view.explanation.output.tolist() == [1, -1, 1, 0, -1, 1]
    view.size_spin.setValue(3)
    view.padding_combo.setCurrentText("same")
    view.dilation_spin.setValue(2)
    e = view.explanation
    assert e.output.shape == (7,) and e.padding == ((2, 2),) and e.dilation == (2,)
    assert view.matrix_canvas.indices.shape == (7, 7)
    view.tabs.setCurrentWidget(view.matrix_canvas)
    assert _distinct_colors(view.matrix_canvas) > 5


def test_pooling_and_explicit_padding(view):
    view.operation_combo.setCurrentText("maxpool2d")
    assert not view.kernel_edit.isEnabled()
    assert view.explanation.output.shape == (2, 2)
    assert view.equation_label.text() == "out[0,0] = max(1, 1, 0, 1) = 1"
    view.operation_combo.setCurrentText("avgpool1d")
    view.padding_combo.setCurrentText("P zeros")
    view.padding_spin.setValue(1)
    assert view.explanation.padding == ((1, 1),)
    assert view.equation_label.text() == "out[0] = (0 + 0) / 2 = 0"


def test_receptive_field_table_three_3x3_see_7x7(view):
    assert view.field_table.item(2, 3).text() == "7×7"
    view.field_table.item(1, 1).setText("2")
    assert view.field_table.item(2, 3).text() == "9×9"
    assert view.field_table.item(2, 4).text() == "2"
    view.add_layer_button.click()
    assert view.field_table.rowCount() == 4
    assert "one output sees 13×13" in view.field_summary.text()
    view.field_table.item(0, 0).setText("x")
    assert "must be whole numbers" in view.field_summary.text()


def test_for_layer_prefills_the_settings(qtbot):
    view = QtExplainView.for_layer("Conv2D", {"kernel_size": 5, "strides": 2, "padding": "same"})
    qtbot.addWidget(view)
    assert view.operation == "conv2d"
    assert view.explanation.window_shape == (5, 5)
    assert view.explanation.strides == (2, 2)
    assert view.padding_combo.currentText() == "same"
    pool = QtExplainView.for_layer("MaxPool1D", {})
    qtbot.addWidget(pool)
    assert pool.operation == "maxpool1d"
    assert pool.explanation.strides == (2,)


def test_set_input_takes_a_sample_channel(view):
    sample = np.arange(36, dtype=float).reshape(6, 6, 1) / 10
    view.set_input(sample)
    assert view.explanation.input.shape == (6, 6)
    assert view.explanation.input[1, 2] == pytest.approx(0.8)
    view.set_input([0.0, 1.0, 0.0, 1.0, 1.0])
    assert view.operation == "conv1d"
