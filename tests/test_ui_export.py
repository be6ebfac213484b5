"""File > Export… and File > Import .keras… in the real window, with real files in tmp_path."""

import importlib.util

import keras
import numpy as np
import pytest
from PySide6.QtWidgets import QMessageBox

from cnnstudio.models import importer
from cnnstudio.models.builder import build_model
from cnnstudio.network import presets
from cnnstudio.training.data import load_dataset
from cnnstudio.workspace.document import NetworkDocument
from cnnstudio.workspace.session import Workspace
from ui.export.dialog import QtExportDialog
from ui.inspection.tab import import_keras_file, install_inspection, open_export_dialog

EXPORT_TIMEOUT_MS = 120_000


@pytest.fixture(scope="module")
def trained():
    """digits-cnn after one short epoch: trained, so no untrained warning."""
    data = load_dataset("digits")
    spec = presets.get("digits-cnn")
    model = build_model(spec, seed=5)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(data.x_train[:256], data.y_train[:256], epochs=1, batch_size=64, verbose=0)
    return spec, model


@pytest.fixture
def dialog(qtbot, trained, tmp_path):
    spec, model = trained
    workspace = Workspace(NetworkDocument(spec))
    workspace.set_model(model)
    widget = QtExportDialog(workspace, start_dir=str(tmp_path))
    qtbot.addWidget(widget)
    widget.show()
    yield widget
    assert widget.wait()
    assert not widget.is_exporting


def export(qtbot, dialog, fmt, path):
    dialog.set_format(fmt)
    dialog.path_edit.setText(str(path))
    with qtbot.waitSignal(dialog.sig_finished, timeout=EXPORT_TIMEOUT_MS) as blocker:
        assert dialog.export()
    return blocker.args


def test_export_writes_a_savedmodel_and_a_keras_archive(qtbot, dialog, trained, tmp_path):
    _, model = trained
    assert dialog.path_edit.text() == str(tmp_path / "digits-cnn")
    result, error = export(qtbot, dialog, "savedmodel", tmp_path / "served")
    assert error is None and result.format == "savedmodel"
    assert (tmp_path / "served" / "saved_model.pb").is_file()
    assert dialog.status_label.text() == f"Exported to {tmp_path / 'served'}."

    result, error = export(qtbot, dialog, "keras", tmp_path / "digits.keras")
    assert error is None and result.warnings == []
    import layers

    layers.load_all()
    reloaded = keras.saving.load_model(tmp_path / "digits.keras")
    x = np.linspace(0, 1, 64, dtype="float32").reshape(1, 8, 8, 1)
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["digits.keras", "served"]


def test_python_export_writes_the_script_and_its_weights(qtbot, dialog, tmp_path):
    dialog.set_format("python")
    assert dialog.path_edit.text() == str(tmp_path / "digits-cnn.py")
    result, error = export(qtbot, dialog, "python", tmp_path / "net.py")
    assert error is None
    assert "def build_model()" in (tmp_path / "net.py").read_text()
    assert (tmp_path / "net.weights.h5").is_file()


def test_an_existing_export_is_replaced_only_when_the_user_agrees(qtbot, dialog, tmp_path, monkeypatch):
    target = tmp_path / "model.keras"
    export(qtbot, dialog, "keras", target)  # an earlier export: --force / Replace only ever replaces ours
    old = target.read_bytes()
    inode = target.stat().st_ino
    asked = []

    def answer(button):
        def question(*args, **kwargs):
            asked.append(args[2])
            return button
        return question

    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.No))
    dialog.set_format("keras")
    dialog.path_edit.setText(str(target))
    assert not dialog.export()
    assert target.read_bytes() == old
    assert asked == [f"{target} already exists. Replace it?"]
    assert "existing file was kept" in dialog.status_label.text()

    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.Yes))
    result, error = export(qtbot, dialog, "keras", target)
    assert error is None and target.stat().st_ino != inode
    assert len(asked) == 2


def test_a_failed_export_shows_why_and_leaves_nothing(qtbot, dialog, tmp_path):
    missing = tmp_path / "no such folder" / "model.keras"
    result, error = export(qtbot, dialog, "keras", missing)
    assert result is None
    assert "does not exist" in error and dialog.error_label.text() == error
    assert "Received:" not in error and "--force" not in error  # words for the dialog, not the CLI
    assert list(tmp_path.iterdir()) == []
    assert dialog.export_button.isEnabled()


needs_deploy = pytest.mark.skipif(
    not all(importlib.util.find_spec(m) for m in ("ai_edge_litert", "tf2onnx", "onnxruntime")),
    reason="the deploy extra is not installed",
)


@needs_deploy
def test_tflite_and_onnx_exports_show_their_verification(qtbot, dialog, tmp_path):
    dialog.workspace.set_dataset(load_dataset("digits"))
    dialog.set_format("tflite")
    assert dialog.quantize_combo.isVisible()
    dialog.set_quantize(None)  # int8 is checked on a well-trained model in test_deploy
    result, error = export(qtbot, dialog, "tflite", tmp_path / "digits.tflite")
    assert error is None and result.path.is_file()
    status = dialog.status_label.text()
    assert f"({result.path.stat().st_size:,} bytes), verified in LiteRT on 32 inputs" in status
    assert "(allowed 1e-05)" in status
    result, error = export(qtbot, dialog, "onnx", tmp_path / "digits.onnx")
    assert error is None and not dialog.quantize_combo.isVisible()
    assert "verified in ONNX Runtime on 32 inputs" in dialog.status_label.text()
    assert dialog.path_edit.text().endswith("digits.onnx")


@needs_deploy
def test_a_quantized_export_without_data_says_so_and_writes_nothing(qtbot, dialog, tmp_path):
    dialog.set_format("tflite")
    dialog.set_quantize("dynamic")
    result, error = export(qtbot, dialog, "tflite", tmp_path / "q.tflite")
    assert result is None and "Expected a data set" in error and dialog.error_label.text() == error
    assert list(tmp_path.iterdir()) == []


def test_an_untrained_network_warns_and_without_a_model_only_a_script_exports(qtbot, trained, tmp_path):
    spec, _ = trained
    workspace = Workspace(NetworkDocument(spec))
    dialog = QtExportDialog(workspace, start_dir=str(tmp_path))
    qtbot.addWidget(dialog)
    assert not dialog.export_button.isEnabled()
    assert "Train the network first" in dialog.warning_label.text()
    dialog.set_format("python")
    assert dialog.export_button.isEnabled()

    workspace.set_model(build_model(spec, seed=1))
    dialog.set_format("keras")
    assert "looks untrained" in dialog.warning_label.text()
    result, error = export(qtbot, dialog, "keras", tmp_path / "fresh.keras")
    assert error is None and "looks untrained" in result.warnings[0]
    dialog.wait()


@pytest.fixture
def window(studio_window, qtbot):
    win = studio_window()
    qtbot.addWidget(win)
    views = install_inspection(win)
    win.show()
    qtbot.waitExposed(win)
    yield win, views
    win.document.reset(win.document.spec)
    win.close()


def test_install_adds_the_tabs_and_file_actions(qtbot, window, trained):
    win, views = window
    tabs = [win.tabs.tabText(i) for i in range(win.tabs.count())]
    assert tabs[-3:] == ["Filters", "Activations", "Results"]
    texts = [a.text() for a in win.menu_file.actions()]
    assert texts.index("&Import .keras…") < texts.index("&Export…") < texts.index("&Quit")
    assert "Train the network" in views.filters.message.text()
    dialog = open_export_dialog(win)
    assert dialog.isVisible() and dialog.workspace is win.workspace
    dialog.close()


def test_import_keras_replaces_the_document_and_adopts_the_weights(qtbot, window, trained, tmp_path):
    win, views = window
    _, model = trained
    path = tmp_path / "small.keras"
    small = keras.Sequential([keras.Input((6, 6, 1)), keras.layers.Conv2D(4, 3, name="edges"),
                              keras.layers.Flatten(name="flat"), keras.layers.Dense(3, activation="softmax",
                                                                                     name="out")], name="small")
    small.save(path)
    before = win.document.spec.to_dict()
    task = import_keras_file(win, path, confirm=False)
    with qtbot.waitSignal(task.sig_finished, timeout=EXPORT_TIMEOUT_MS):
        assert win.document.spec.to_dict() == before  # read on the task's thread, adopted when done
    assert task.outcome == "done"
    spec = win.document.spec
    assert [layer.name for layer in spec.layers] == ["edges", "flat", "out"]
    assert spec.input_shape == (6, 6, 1)
    assert importer.spec_from_model(small).to_dict() == spec.to_dict()
    np.testing.assert_array_equal(win.workspace.model.get_layer("edges").get_weights()[0],
                                  small.get_layer("edges").get_weights()[0])
    assert views.filters.grid.count() == 4
    assert "small.keras" in win.statusBar().currentMessage()


def test_a_refused_import_names_the_layer_and_changes_nothing(qtbot, window, tmp_path, monkeypatch):
    win, _ = window
    path = tmp_path / "recurrent.keras"
    keras.Sequential([keras.Input((10, 3)), keras.layers.LSTM(5, name="lstm_1"),
                      keras.layers.Dense(2, name="out")]).save(path)
    before = win.document.spec.to_dict()
    shown = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *args, **kwargs: shown.append(args[1:3]))
    task = import_keras_file(win, path, confirm=False)
    qtbot.waitUntil(lambda: not task.is_running, timeout=EXPORT_TIMEOUT_MS)
    assert task.outcome == "error"
    assert shown[0][0] == "Cannot import model"
    assert "layer 'lstm_1' of type LSTM is not in CNN Studio's catalog" in shown[0][1]
    assert win.document.spec.to_dict() == before
    assert win.workspace.model is None


def test_switching_format_clears_the_last_export_message(qtbot, dialog, tmp_path):
    result, error = export(qtbot, dialog, "python", tmp_path / "model.py")
    assert error is None and dialog.status_label.text().startswith("Exported to")
    dialog.format_combo.setCurrentIndex(dialog.format_combo.findData("keras"))
    assert dialog.status_label.text() == "" and dialog.error_label.text() == ""


def test_an_export_holds_the_model_lock_so_no_view_runs_the_model_meanwhile(qtbot, dialog, tmp_path, monkeypatch):
    import threading

    from cnnstudio.inspection import probes
    from cnnstudio.models import export as engine_export

    write = engine_export.export_keras
    seen = []

    def export_keras(model, out, force=False):
        taken = []
        other = threading.Thread(target=lambda: taken.append(probes.MODEL_LOCK.acquire(blocking=False)))
        other.start()
        other.join()
        seen.append(taken[0])
        return write(model, out, force=force)

    monkeypatch.setattr(engine_export, "export_keras", export_keras)
    result, error = export(qtbot, dialog, "keras", tmp_path / "locked.keras")
    assert error is None and (tmp_path / "locked.keras").is_file()
    assert seen == [False]  # another thread could not take the lock while the archive was written
