"""Presets > "Pretrained…": keras.applications VGG16 or ResNet50 as an editable network with its weights.

The dialog asks for the weights (ImageNet's, downloaded once; a .weights.h5 or .keras file
saved offline; or random), the input size, the classes and whether to keep the dense head.
The engine (``cnnstudio.models.applications``) builds the model on a task's thread; the window
then shows the network, built of CNN Studio's layers, with the weights in the workspace, so
it can be inspected at once or fine-tuned (freeze layers, replace the head, Train).
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
)

from cnnstudio.models.applications import APPLICATIONS
from ui.tasks import Task

WEIGHT_CHOICES = ("Random (no download)", "ImageNet (downloaded once)", "From a file…")


def import_task(state, name: str, weights, input_shape, classes: int, include_top: bool):
    """The network and a model of our layers carrying the application's weights."""
    from cnnstudio.models.applications import import_application
    from cnnstudio.models.importer import rebuild

    spec, by_layer = import_application(name, weights=weights, input_shape=input_shape, classes=classes,
                                        include_top=include_top)
    state.check()
    return spec, rebuild(spec, by_layer)


class QtPretrainedDialog(QDialog):
    """Pick an application and its weights; ``sig_imported(spec, model)`` when it is built."""

    sig_imported = Signal(object, object)
    sig_failed = Signal(str)

    def __init__(self, name: str, parent=None):
        super().__init__(parent)
        self.name = name
        self.task: Task | None = None
        self.weights_file: str | None = None
        self.setWindowTitle(f"Pretrained {name}")
        self.about = QLabel(APPLICATIONS[name])
        self.about.setWordWrap(True)
        self.weights_combo = QComboBox()
        self.weights_combo.addItems(WEIGHT_CHOICES)
        self.weights_combo.activated.connect(self._on_weights)
        self.shape_edit = QLineEdit("224,224,3")
        self.shape_edit.setToolTip("Input height,width,channels; ImageNet's weights with the head need 224,224,3")
        self.classes_spin = QSpinBox()
        self.classes_spin.setRange(1, 100_000)
        self.classes_spin.setValue(1000)
        self.top_check = QCheckBox("Keep the dense head (classifier)")
        self.top_check.setChecked(True)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Weights", self.weights_combo)
        form.addRow("Input", self.shape_edit)
        form.addRow("Classes", self.classes_spin)
        form.addRow("", self.top_check)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.start)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.about)
        layout.addLayout(form)
        layout.addWidget(self.status)
        layout.addWidget(self.buttons)

    def _on_weights(self, index: int) -> None:
        if WEIGHT_CHOICES[index] != "From a file…":
            self.weights_file = None
            return
        path, _ = QFileDialog.getOpenFileName(self, f"{self.name} weights", "",
                                              "Keras weights (*.weights.h5 *.keras);;All files (*)")
        if path:
            self.set_weights_file(path)
        else:
            self.weights_combo.setCurrentIndex(0)

    def set_weights_file(self, path: str) -> None:
        self.weights_file = path
        self.weights_combo.setCurrentText("From a file…")
        self.status.setText(f"Weights from {path}")

    def weights(self):
        choice = self.weights_combo.currentText()
        if choice.startswith("ImageNet"):
            return "imagenet"
        return self.weights_file if choice == "From a file…" else None

    def start(self) -> None:
        """Build the application on a task's thread; the dialog closes when it is done."""
        try:
            shape = tuple(int(v) for v in self.shape_edit.text().replace("x", ",").split(","))
        except ValueError:
            shape = ()
        if len(shape) != 3 or min(shape) < 1:
            self.status.setText(f"Bad input shape. Expected height,width,channels such as 224,224,3. "
                                f"Received: {self.shape_edit.text()!r}")
            return
        self.buttons.setEnabled(False)
        self.status.setText(f"Building {self.name}…")
        self.task = Task(import_task, self.name, self.weights(), shape, self.classes_spin.value(),
                         self.top_check.isChecked())
        self.task.sig_done.connect(self._done)
        self.task.sig_error.connect(self._failed)
        self.task.start()

    def _done(self, result) -> None:
        spec, model = result
        self.sig_imported.emit(spec, model)
        self.accept()

    def _failed(self, exc: BaseException) -> None:
        self.buttons.setEnabled(True)
        self.status.setText(str(exc))
        self.sig_failed.emit(str(exc))


def install_pretrained(window) -> None:
    """Presets > "Pretrained VGG16…" / "Pretrained ResNet50…"."""
    window.menu_presets.addSeparator()
    for name in APPLICATIONS:
        window._action(window.menu_presets, f"Pretrained {name}…", lambda _=False, n=name: open_dialog(window, n),
                       tip=APPLICATIONS[name])


def open_dialog(window, name: str) -> QtPretrainedDialog | None:
    if not window.confirm_discard():
        return None
    dialog = QtPretrainedDialog(name, window)
    dialog.sig_imported.connect(lambda spec, model: adopt(window, spec, model))
    dialog.open()
    return dialog


def adopt(window, spec, model) -> None:
    """Show the imported network, unsaved, with its weights as the workspace's model."""
    window.document.reset(spec)
    window.workspace.set_model(model)
    window.show_message(f"Opened {spec.name} from keras.applications: {len(spec.layers)} layers, "
                        f"{model.count_params():,} parameters, weights in place. Untick layers' Trainable "
                        "to freeze them, replace the head for your classes, then Train.")
