"""The course views in the window: the fully connected column, the exercise mode."""

from PySide6.QtCore import Qt

from cnnstudio.network import presets
from cnnstudio.workspace.document import NetworkDocument
from ui.editor.summary_table import QtSummaryTable
from ui.teaching.exercise_dialog import GENERATED, RIGHT, WRONG, QtExerciseDialog


def test_the_summary_shows_what_a_fully_connected_layer_would_need(qtbot):
    table = QtSummaryTable(NetworkDocument(presets.get("lenet5")))
    qtbot.addWidget(table)
    assert table.cell_text("c1", "As fully connected") == "4.82 M"  # one style for counts; the tooltip is exact
    assert table.cell_text("c5", "As fully connected") == "48,120"
    assert table.cell_text("s2", "As fully connected") == ""
    tip = table.cell("c1", "As fully connected", Qt.ItemDataRole.ToolTipRole)
    assert "(32*32*1) * (28*28*6) + 28*28*6 = 4,821,600" in tip and "30,908 times this layer's 156" in tip
    assert table.cell_text("c1", "Params") == "156"


def _answer(qtbot, dialog, row, text):
    edit = dialog.answers[row]
    edit.clear()
    qtbot.keyClicks(edit, text)
    qtbot.keyClick(edit, Qt.Key.Key_Return)
    return dialog.table.item(row, 5).text()


def test_the_exercise_marks_answers_explains_a_wrong_one_and_keeps_score(qtbot):
    dialog = QtExerciseDialog(presets.get("lenet5"))
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.table.item(0, 0).text() == "c1" and dialog.table.item(0, 3).text() == "Output shape"
    assert "28" not in dialog.table.item(0, 2).text() or "kernel" in dialog.table.item(0, 2).text()
    assert _answer(qtbot, dialog, 0, "24x24x6") == WRONG
    feedback = dialog.feedback.toPlainText()
    assert "you answered 24x24x6, the answer is 28x28x6" in feedback
    assert "height: floor((32 - 5) / 1) + 1 = 28" in feedback
    assert _answer(qtbot, dialog, 0, "28x28x6") == RIGHT
    assert _answer(qtbot, dialog, 1, "156") == RIGHT
    assert dialog.focusWidget() is dialog.answers[2]
    assert dialog.score_label.text().startswith("Score: 2 / 2 answered")


def test_generated_exercises_and_the_edited_network(qtbot):
    spec = presets.get("digits-cnn")
    dialog = QtExerciseDialog(spec)
    qtbot.addWidget(dialog)
    assert dialog.exercise.spec.to_dict() == spec.to_dict()
    dialog.source_combo.setCurrentText(GENERATED)
    assert dialog.difficulty_spin.isVisibleTo(dialog)
    dialog.difficulty_spin.setValue(3)
    generated = dialog.exercise
    assert generated.spec.name == "exercise-3" and dialog.table.rowCount() == len(generated.questions)
    first = generated.questions[0]
    answer = "x".join(str(v) for v in first.answer)
    assert _answer(qtbot, dialog, 0, answer) == RIGHT
    dialog.new_button.click()
    assert dialog.exercise is not generated and dialog.score_label.text().startswith("Score: 0 / 0")


def test_an_invalid_network_is_refused_with_the_reason(qtbot):
    spec = presets.get("digits-cnn")
    spec.layers[0].params.update(kernel_size=20, padding="valid")
    dialog = QtExerciseDialog(spec)
    qtbot.addWidget(dialog)
    assert dialog.exercise is None and dialog.table.rowCount() == 0
    assert "needs a network without errors" in dialog.feedback.toPlainText()
