"""The studio window driven through its real widgets: drops, property edits, undo, files."""

import json
import subprocess
import sys

import pytest
from PySide6.QtCore import QPoint, QPointF, QSettings, Qt
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QMessageBox

from cnnstudio.network import presets
from cnnstudio.workspace.document import NetworkDocument
from ui.editor.palette import layer_mime_data
from ui.main_window import QtMainWindow


@pytest.fixture
def window(studio_window, qtbot):
    win = studio_window()
    win.show()
    qtbot.waitExposed(win)
    yield win
    close_quietly(win)


def close_quietly(win):
    """Close without the unsaved-changes prompt (qtbot.addWidget would close while still dirty)."""
    win.document.reset(win.document.spec)
    assert win.close()
    win.deleteLater()


def drag_event(kind, view_pos, mime):
    """A drag event at ``view_pos``: PySide6 6.12 takes a QPointF (its QPoint form is deprecated), 6.11 a QPoint."""
    args = (Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    try:
        return kind(QPointF(view_pos), *args)
    except TypeError:
        return kind(view_pos, *args)


def drop(canvas, type_name, scene_pos):
    """Send a real drag-enter and drop of a palette item to the canvas viewport."""
    view_pos = canvas.mapFromScene(scene_pos)
    mime = layer_mime_data(type_name)
    enter = drag_event(QDragEnterEvent, view_pos, mime)
    QApplication.sendEvent(canvas.viewport(), enter)
    assert enter.isAccepted()
    event = drag_event(QDropEvent, view_pos, mime)
    QApplication.sendEvent(canvas.viewport(), event)
    return event


def test_palette_mime_drop_on_empty_space_appends_and_table_updates(window):
    palette = window.palette_view
    mime = palette.tree.mimeData([palette.item("Dropout")])
    assert bytes(mime.data("application/x-cnnstudio-layer-type")) == b"Dropout"
    rows = window.summary_table.rowCount()
    canvas = window.canvas
    empty = canvas.nodes["output"].pos() + QPointF(-200, 300)
    canvas.ensureVisible(empty.x(), empty.y(), 1, 1)
    drop(canvas, "Dropout", empty)
    spec = window.document.spec
    assert spec.layers[-1].type == "Dropout"
    assert window.summary_table.rowCount() == rows + 1
    name = spec.layers[-1].name
    assert window.summary_table.cell_text(name, "Output shape") == "10"
    assert name in canvas.nodes


def test_drop_on_connection_inserts_there(window):
    canvas = window.canvas
    edge = next(e for e in canvas.edges if e.key == ("conv2", "pool"))
    mid = edge.path().pointAtPercent(0.5)
    canvas.centerOn(mid)
    drop(canvas, "BatchNormalization", mid)
    spec = window.document.spec
    names = [layer.name for layer in spec.layers]
    inserted = names[names.index("conv2") + 1]
    assert spec.layer(inserted).type == "BatchNormalization"
    assert spec.inputs_of(spec.index("pool")) == [inserted]
    assert window.summary_table.cell_text(inserted, "Params") == "256"


def test_foreign_drop_is_refused(window):
    from PySide6.QtCore import QMimeData

    mime = QMimeData()
    mime.setText("rm -rf")
    enter = drag_event(QDragEnterEvent, QPoint(10, 10), mime)
    QApplication.sendEvent(window.canvas.viewport(), enter)
    assert not enter.isAccepted()


def test_stride_in_property_panel_changes_downstream_shapes(window, qtbot):
    window.document.select("conv2")
    panel = window.property_panel
    strides = panel.bindings["strides"].widget
    before = window.summary_table.cell_text("pool", "Output shape")
    strides.setText("2")
    strides.textEdited.emit("2")
    strides.editingFinished.emit()
    assert window.document.spec.layer("conv2").params["strides"] == 2
    after = window.summary_table.cell_text("pool", "Output shape")
    assert (before, after) == ("3×3×64", "1×1×64")
    assert window.canvas.nodes["conv2"].shape_text == "3×3×64"
    assert "/ 2) + 1 = 3" in panel.result.text()


def test_text_that_cannot_be_read_is_marked_and_not_applied(window):
    window.document.select("conv2")
    binding = window.property_panel.bindings["kernel_size"]
    before = window.document.spec.layer("conv2").params
    binding.widget.setText("3,,x")
    binding.widget.textEdited.emit("3,,x")
    binding.widget.editingFinished.emit()
    assert binding.invalid_reason and "whole numbers" in binding.invalid_reason
    assert window.document.spec.layer("conv2").params == before
    assert not window.document.can_undo


def test_impossible_kernel_shows_error_on_node_with_a_fix(window, qtbot):
    window.document.select("conv2")
    panel = window.property_panel
    kernel = panel.bindings["kernel_size"].widget
    kernel.setText("12")
    kernel.editingFinished.emit()
    node = window.canvas.nodes["conv2"]
    assert node.severity == "error"
    assert "kernel" in node.toolTip().lower()
    assert "error" in window.summary_table.cell_text("conv2", "Status").lower() or \
        window.summary_table.cell("conv2", "Layer", Qt.ItemDataRole.BackgroundRole).name() == "#fde2e2"
    assert panel.fix_buttons, "the engine suggests a fix"
    qtbot.mouseClick(panel.fix_buttons[0], Qt.MouseButton.LeftButton)
    assert window.canvas.nodes["conv2"].severity != "error"


def test_undo_redo_actions_restore_state(window):
    original = window.document.spec.to_dict()
    window.document.remove_layer("pool")
    assert "pool" not in window.canvas.nodes
    edited = window.document.spec.to_dict()
    window.action_undo.trigger()
    assert window.document.spec.to_dict() == original
    assert "pool" in window.canvas.nodes
    window.action_redo.trigger()
    assert window.document.spec.to_dict() == edited
    assert window.action_undo.shortcut().toString() == "Ctrl+Z"
    assert "Ctrl+Shift+Z" in [s.toString() for s in window.action_redo.shortcuts()]


def test_delete_key_removes_selected_node_and_reconnects(window, qtbot):
    window.document.select("pool")
    window.canvas.setFocus()
    qtbot.keyClick(window.canvas, Qt.Key.Key_Delete)
    spec = window.document.spec
    assert "pool" not in [layer.name for layer in spec.layers]
    assert spec.inputs_of(spec.index("flatten")) == ["conv2"]


def test_dragging_node_down_reorders_chain(window, qtbot):
    canvas = window.canvas
    node = canvas.nodes["conv1"]
    node.setPos(node.pos() + QPointF(0, 2 * 116))
    node.mouseReleaseEvent(_release_event())
    qtbot.waitUntil(lambda: [la.name for la in window.document.spec.layers][:3] == ["conv2", "pool", "conv1"],
                    timeout=2000)


def _release_event():
    from PySide6.QtCore import QEvent
    from PySide6.QtWidgets import QGraphicsSceneMouseEvent

    return QGraphicsSceneMouseEvent(QEvent.Type.GraphicsSceneMouseRelease)


def test_output_port_drag_connects_into_add(window, qtbot):
    doc = window.document
    doc.append_layer("Dense", {"units": 10})
    add = doc.append_layer("Add")
    canvas = window.canvas
    port = canvas.nodes["output"].output_port
    target = canvas.nodes[add].pos() + QPointF(20, 30)
    port.mousePressEvent(_press_at(target))
    port.mouseReleaseEvent(_press_at(target))
    qtbot.waitUntil(lambda: "output" in doc.spec.inputs_of(doc.spec.index(add)), timeout=2000)
    assert any(e.key == ("output", add) and e.lane > 0 for e in canvas.edges)


def _press_at(scene_pos):
    from PySide6.QtCore import QEvent
    from PySide6.QtWidgets import QGraphicsSceneMouseEvent

    event = QGraphicsSceneMouseEvent(QEvent.Type.GraphicsSceneMousePress)
    event.setScenePos(scene_pos)
    return event


def test_save_and_reopen_gives_same_network(window, tmp_path, monkeypatch):
    window.document.set_param("conv1", "filters", 16)
    target = tmp_path / "mine.cnnproj.json"
    monkeypatch.setattr("ui.main_window.QFileDialog.getSaveFileName", lambda *a, **k: (str(target), ""))
    assert window.save()
    assert not window.document.dirty and "*" not in window.windowTitle()
    saved = window.document.spec.to_dict()
    window.open_preset("lenet5", confirm=False)
    assert window.open_file(target)
    assert window.document.spec.to_dict() == saved
    assert window.recent_files()[0] == str(target)
    assert [a.text() for a in window.menu_recent.actions()] == [str(target)]


def test_corrupt_project_is_refused_with_message(window, tmp_path, monkeypatch):
    warnings = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *args: warnings.append(args[2]))
    bad = tmp_path / "bad.cnnproj.json"
    bad.write_text(json.dumps({"format": "cnnstudio-project", "version": 1,
                               "network": {"input_shape": [8, 8, 1], "layers": [{"name": "a", "type": "Conv9D"}]}}))
    before = window.document.spec.to_dict()
    assert not window.open_file(bad)
    assert len(warnings) == 1 and "Conv9D" in warnings[0]
    assert window.document.spec.to_dict() == before


def test_unsaved_changes_prompt_can_cancel(window, monkeypatch):
    asked = []

    def answer(*args, **kwargs):
        asked.append(args[2])
        return QMessageBox.StandardButton.Cancel

    monkeypatch.setattr(QMessageBox, "question", answer)
    window.document.append_layer("Dropout")
    assert not window.open_preset("lenet5")
    assert len(asked) == 1 and "unsaved" in asked[0]
    assert window.document.spec.layers[-1].type == "Dropout"


def test_recovery_file_is_written_and_offered(window, qtbot, tmp_path, monkeypatch):
    window.document.append_layer("Dropout")
    window.autosaver.save_now()
    recovery = window.autosaver.path
    assert recovery.exists()
    edited = window.document.spec.to_dict()
    settings = QSettings(str(tmp_path / "settings2.ini"), QSettings.Format.IniFormat)
    second = QtMainWindow(NetworkDocument(presets.get("lenet5")), settings=settings,
                          recovery_dir=tmp_path / "recovery")
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    assert second.offer_recovery()
    assert second.document.spec.to_dict() == edited
    assert second.document.dirty
    close_quietly(second)


def test_palette_search_filters_and_has_help_tooltips(window):
    palette = window.palette_view
    palette.search.setText("pool 2d")
    visible = palette.visible_types()
    assert "MaxPool2D" in visible and "Dense" not in visible
    assert "largest" in palette.item("MaxPool2D").toolTip(0)


def test_add_view_adds_a_tab_and_view_action(window):
    from PySide6.QtWidgets import QLabel

    before = len(window.menu_view.actions())
    index = window.add_view("Extra", QLabel("extra"))
    assert window.tabs.tabText(index) == "Extra"
    assert len(window.menu_view.actions()) == before + 1
    dock = window.add_dock("Side", QLabel("side"))
    assert dock.toggleViewAction() in window.menu_view.actions()


def test_tensorflow_loader_imports_in_background(window, qtbot):
    loader = window.tensorflow_loader
    with qtbot.waitSignal(loader.sig_ready, timeout=120_000):
        loader.ensure()
    assert loader.is_ready
    assert "tensorflow" in sys.modules


def test_window_shows_before_tensorflow_is_imported(tmp_path):
    code = (
        "import sys\n"
        "from PySide6.QtWidgets import QApplication\n"
        "from PySide6.QtCore import QSettings\n"
        "app = QApplication([])\n"
        "import ui.app  # everything the window command loads before the window shows\n"
        "from ui.main_window import QtMainWindow\n"
        f"w = QtMainWindow(settings=QSettings({str(tmp_path / 's.ini')!r}, QSettings.Format.IniFormat),"
        f" recovery_dir={str(tmp_path)!r})\n"
        "w.sig_shown.connect(lambda: (print('tf' if 'tensorflow' in sys.modules or 'keras' in sys.modules "
        "else 'no-tf'), app.quit()))\n"
        "w.show()\n"
        "app.exec()\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "no-tf"


def test_gui_command_writes_screenshot(tmp_path):
    shot = tmp_path / "shot.png"
    out = subprocess.run([sys.executable, "-m", "ui", "gui", "lenet5", "--screenshot", str(shot)],
                         capture_output=True, text=True, timeout=60,
                         env={**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen"})
    assert out.returncode == 0, out.stderr
    from PySide6.QtGui import QImage

    image = QImage(str(shot))
    assert (image.width(), image.height()) == (1400, 900)


def test_gui_command_refuses_unknown_target(tmp_path):
    out = subprocess.run([sys.executable, "-m", "ui", "gui", "lenet6", "--screenshot",
                          str(tmp_path / "x.png")], capture_output=True, text=True, timeout=60,
                         env={**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen"})
    assert out.returncode == 2
    assert "neither a preset" in out.stderr
