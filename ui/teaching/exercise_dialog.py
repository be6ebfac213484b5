"""The shape exercise mode: a network with its output shapes and parameter counts hidden.

The learner picks the network (the one being edited, a preset, or one generated at a
difficulty), types each answer and presses Enter or Check; the engine
(:mod:`cnnstudio.teaching.exercises`) marks it and explains a wrong one with the layer's
formula and numbers. The dialog only shows what the engine decides.
"""

from __future__ import annotations

import random

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from cnnstudio.network import presets
from cnnstudio.network.spec import NetworkSpec
from cnnstudio.teaching import exercises
from ui.formatting import format_shape, key_params

THIS_NETWORK = "The network you are editing"
GENERATED = "A new network (generated)"
COLUMNS = ("Layer", "Type", "Hyperparameters", "Question", "Your answer", "")
RIGHT, WRONG = "✓", "✗"


class QtExerciseDialog(QDialog):
    """Questions on a network's shapes and counts, checked as the learner answers, with a running score."""

    def __init__(self, current: NetworkSpec | None = None, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Shape exercises")
        self.resize(980, 620)
        self.current = current
        self.exercise: exercises.Exercise | None = None
        self.answers: list[QLineEdit] = []

        self.source_combo = QComboBox()
        self.source_combo.addItems(([THIS_NETWORK] if current is not None else []) + [GENERATED] + list(presets.PRESETS))
        self.difficulty_spin = QSpinBox()
        self.difficulty_spin.setRange(min(exercises.DIFFICULTIES), max(exercises.DIFFICULTIES))
        self.difficulty_spin.setPrefix("difficulty ")
        self.new_button = QPushButton("New exercise")
        self.check_button = QPushButton("Check")
        for button in (self.new_button, self.check_button):
            button.setAutoDefault(False)  # Enter checks the answer being typed, not the whole sheet
        self.input_label = QLabel()
        self.score_label = QLabel()
        self.score_label.setStyleSheet("font-weight: bold;")
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        header = self.table.horizontalHeader()
        for col in range(len(COLUMNS)):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(COLUMNS.index("Your answer"), QHeaderView.ResizeMode.Stretch)
        self.feedback = QPlainTextEdit()
        self.feedback.setReadOnly(True)
        self.feedback.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.feedback.setMaximumHeight(150)
        self.feedback.setPlaceholderText("Type an answer and press Enter: a wrong one is explained here.")

        top = QHBoxLayout()
        top.addWidget(QLabel("Network:"))
        top.addWidget(self.source_combo)
        top.addWidget(self.difficulty_spin)
        top.addWidget(self.new_button)
        top.addStretch(1)
        top.addWidget(self.score_label)
        bottom = QHBoxLayout()
        bottom.addStretch(1)
        bottom.addWidget(self.check_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.input_label)
        layout.addWidget(self.table, 1)
        layout.addLayout(bottom)
        layout.addWidget(self.feedback)

        self.source_combo.currentTextChanged.connect(lambda _text: self.new_exercise())
        self.difficulty_spin.valueChanged.connect(lambda _value: self.new_exercise())
        self.new_button.clicked.connect(self.new_exercise)
        self.check_button.clicked.connect(self.check_all)
        self.new_exercise()

    # -- choosing the network --------------------------------------------------------------------

    def new_exercise(self) -> None:
        source = self.source_combo.currentText()
        self.difficulty_spin.setVisible(source == GENERATED)
        self.new_button.setEnabled(source == GENERATED)
        self.feedback.clear()
        try:
            if source == THIS_NETWORK:
                self.exercise = exercises.exercise_for(self.current)
            elif source == GENERATED:
                self.exercise = exercises.generate(self.difficulty_spin.value(), seed=random.randrange(2**31))
            else:
                self.exercise = exercises.exercise_for(presets.get(source))
        except ValueError as exc:
            self.exercise = None
            self.table.setRowCount(0)
            self.input_label.setText("")
            self.feedback.setPlainText(str(exc))
            self._show_score()
            return
        self._fill()

    def _fill(self) -> None:
        spec = self.exercise.spec
        self.input_label.setText(f"Input: {format_shape(spec.input_shape)}. Shapes leave out the batch axis; "
                                 "parameter counts include the biases.")
        questions = self.exercise.questions
        self.table.setRowCount(0)  # drops the previous exercise's answer fields with their rows
        self.table.setRowCount(len(questions))
        self.answers = []
        for row, question in enumerate(questions):
            layer = spec.layer(question.layer)
            first = row == 0 or questions[row - 1].layer != question.layer
            cells = (layer.name if first else "", layer.type if first else "",
                     ", ".join(key_params(layer)) if first else "",
                     "Output shape" if question.kind == exercises.OUTPUT_SHAPE else "Parameters", None, "")
            for col, text in enumerate(cells):
                if text is None:
                    continue
                item = QTableWidgetItem(text)
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
                if col == len(cells) - 1:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                self.table.setItem(row, col, item)
            edit = QLineEdit()
            edit.setPlaceholderText("e.g. 12x12x10" if question.kind == exercises.OUTPUT_SHAPE else "e.g. 1950")
            edit.setToolTip(question.prompt)
            edit.returnPressed.connect(lambda r=row: self.check(r))
            self.table.setCellWidget(row, COLUMNS.index("Your answer"), edit)
            self.answers.append(edit)
        self._show_score()

    # -- answering -------------------------------------------------------------------------------

    def check(self, row: int) -> exercises.Verdict | None:
        """Mark the answer on ``row`` and explain it below; None when the answer is empty."""
        text = self.answers[row].text()
        if self.exercise is None or not text.strip():
            return None
        verdict = self.exercise.answer(row, text)
        mark = self.table.item(row, len(COLUMNS) - 1)
        mark.setText(RIGHT if verdict.correct else WRONG)
        mark.setForeground(Qt.GlobalColor.darkGreen if verdict.correct else Qt.GlobalColor.red)
        mark.setToolTip(verdict.message)
        self.feedback.setPlainText(verdict.message)
        self._show_score()
        if verdict.correct and row + 1 < len(self.answers):
            self.answers[row + 1].setFocus()
        return verdict

    def check_all(self) -> None:
        verdicts = [self.check(row) for row in range(len(self.answers))]
        wrong = [v for v in verdicts if v is not None and not v.correct]
        if wrong:
            self.feedback.setPlainText("\n\n".join(v.message for v in wrong))

    def _show_score(self) -> None:
        right, answered = self.exercise.score if self.exercise else (0, 0)
        total = len(self.exercise.questions) if self.exercise else 0
        self.score_label.setText(f"Score: {right} / {answered} answered, {total} questions")


def install_teaching(window) -> None:
    """Help > Shape exercises…, on the edited network or another."""
    def open_dialog():
        dialog = QtExerciseDialog(window.document.spec.copy(), window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        window.exercise_dialog = dialog

    action = window.menu_help.addAction("Shape &exercises…")
    action.setStatusTip("Work out each layer's output shape and parameter count, checked as you go")
    action.triggered.connect(open_dialog)
    window.action_exercises = action
