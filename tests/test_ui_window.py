"""The window as a user finds it: shortcuts, unsaved runs, big networks, reopened projects."""

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QApplication, QLabel

from cnnstudio.network import presets
from cnnstudio.workspace.document import NetworkDocument
from ui.main_window import QtMainWindow


@pytest.fixture
def window(studio_window, qtbot):
    win = studio_window()
    win.show()
    qtbot.waitExposed(win)
    win.activateWindow()
    yield win
    win.document.reset(win.document.spec)
    assert win.close()
    win.deleteLater()


def test_redo_by_keyboard_redoes_through_a_real_key_event(window, qtbot, capfd):
    doc = window.document
    doc.remove_layer("pool")
    edited = doc.spec.to_dict()
    window.canvas.setFocus()
    qtbot.keyClick(window.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert "pool" in [layer.name for layer in doc.spec.layers]
    qtbot.keyClick(window.canvas, Qt.Key.Key_Z,
                   Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert doc.spec.to_dict() == edited
    doc.undo()
    qtbot.keyClick(window.canvas, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)
    assert doc.spec.to_dict() == edited
    QApplication.processEvents()
    assert "Ambiguous shortcut" not in capfd.readouterr().err
    texts = [s.toString() for s in window.action_redo.shortcuts()]
    assert texts.count("Ctrl+Shift+Z") == 1 and len(texts) == len(set(texts))


TRAIN_TIMEOUT_MS = 300_000  # a fresh, niced child per run: as generous as the Train tab tests


@pytest.fixture
def trained_window(studio_window, qtbot):
    """digits-cnn trained one epoch in the Train tab, the project never saved."""
    from ui.training.tab import install_training

    win = studio_window()
    install_training(win)
    win.show()
    qtbot.waitExposed(win)
    panel = win.training_panel
    panel.jit_compile_check.setChecked(False)  # the run compiles in a fresh child: XLA is not what these tests check
    panel.epochs_spin.setValue(1)
    win.status_seen = []
    panel.progress.valueChanged.connect(lambda _v: win.status_seen.append(win.training_status.text()))
    with qtbot.waitSignal(panel.sig_finished, timeout=TRAIN_TIMEOUT_MS) as finished:
        assert panel.start_training()
    assert finished.args[0].result.status == "completed"
    yield win
    win.document.reset(win.document.spec)
    panel._unsaved.clear()
    assert win.close()
    win.deleteLater()


def test_a_finished_run_is_an_unsaved_change_asked_about_on_close_recovered_and_saved_from_the_prompt(
        trained_window, qtbot, tmp_path, monkeypatch):
    """One trained window (one child) for the three answers to the close prompt: Cancel, the
    recovery file, Save."""
    import json

    from PySide6.QtWidgets import QMessageBox

    from cnnstudio.workspace.project import load_project
    from cnnstudio.workspace.runs import latest_weights
    from ui.training.tab import install_training

    win = trained_window
    assert win.document.dirty
    assert win.windowTitle().startswith("digits-cnn (unsaved) *")
    asked = []

    def cancel(*args, **kwargs):
        asked.append(args[2])
        return QMessageBox.StandardButton.Cancel

    monkeypatch.setattr(QMessageBox, "question", cancel)
    assert not win.close()
    assert len(asked) == 1 and "unsaved" in asked[0]
    assert win.isVisible()

    win.autosaver.save_now()
    saved = json.loads(win.autosaver.path.read_text())
    assert saved["training"]["epochs"] == 1 and saved["training"]["dataset"] == "digits"
    assert [run["id"] for run in saved["runs"]] == ["run-001"]
    assert len(saved["runs"][0]["history"]["loss"]) == 1
    assert win.document.project.runs == []  # describing the run for recovery changed nothing

    second = QtMainWindow(NetworkDocument(presets.get("lenet5")),
                          settings=QSettings(str(tmp_path / "s2.ini"), QSettings.Format.IniFormat),
                          recovery_dir=tmp_path / "recovery")
    install_training(second)
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    assert second.offer_recovery()
    assert second.document.dirty
    assert [run["id"] for run in second.document.project.runs] == ["run-001"]
    assert second.training_panel.epochs_spin.value() == 1
    assert second.training_panel.runs_list.count() == 1
    second.document.reset(second.document.spec)
    assert second.close()
    second.deleteLater()

    # Save from the same prompt: the run is kept with its weights
    target = tmp_path / "kept.cnnproj.json"
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Save)
    monkeypatch.setattr("ui.main_window.QFileDialog.getSaveFileName", lambda *a, **k: (str(target), ""))
    assert win.close()
    project = load_project(target)
    assert [run["id"] for run in project.runs] == ["run-001"]
    assert latest_weights(project) is not None
    win.show()  # the fixture closes it again


def test_one_bad_layer_is_one_error_and_the_layers_below_show_waiting(window):
    doc = window.document
    doc.set_params("conv1", {"kernel_size": 9, "padding": "valid"})
    status = window.statusBar().currentMessage()
    assert "1 error (5 layers below waiting on conv1)" in status
    canvas = window.canvas
    assert canvas.nodes["conv1"].severity == "error"
    for name in ("conv2", "pool", "flatten", "hidden", "output"):
        node = canvas.nodes[name]
        assert node.severity is None and node.waiting_on == "conv1"
        assert node.shape_text == "waiting on conv1"
    assert window.summary_table.cell_text("conv2", "Status") == "waiting on conv1"
    doc.select("conv1")
    labels = [b.text() for b in window.property_panel.fix_buttons]
    assert labels == ['Fix: Set padding to "same"', 'Fix: Remove layer "conv1"']


def test_an_error_badge_lies_inside_the_node_so_no_sliver_stays_behind(window):
    from ui.editor.canvas import NodeItem

    window.document.set_params("conv1", {"kernel_size": 9, "padding": "valid"})
    node = window.canvas.nodes["conv1"]
    assert node.severity == "error"
    assert node.boundingRect().contains(NodeItem.BADGE.adjusted(-1, -1, 1, 1))


def test_a_projection_shortcut_shows_a_note_not_a_warning(window):
    window.open_preset("resnet18", confirm=False)
    assert "warning" not in window.statusBar().currentMessage()
    assert window.canvas.nodes["layer2_0_down"].severity is None
    window.document.select("layer2_0_down")
    notes = window.property_panel.findChildren(QLabel, "issue_note")
    assert notes and "projection shortcut" in notes[0].text()


def _send_ctrl_wheel(canvas, steps):
    from PySide6.QtCore import QPoint, QPointF
    from PySide6.QtGui import QWheelEvent

    centre = QPointF(canvas.viewport().rect().center())
    event = QWheelEvent(centre, QPointF(canvas.mapToGlobal(centre.toPoint())), QPoint(0, 0), QPoint(0, 120 * steps),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.ControlModifier, Qt.ScrollPhase.NoScrollPhase,
                        False)
    QApplication.sendEvent(canvas.viewport(), event)


@pytest.mark.parametrize("preset", ["vgg16", "resnet18"])
def test_a_big_network_opens_whole_readable_and_one_zoom_step_reads_better(window, preset):
    from ui.editor.canvas import COMPACT_MIN_PX

    window.open_preset(preset, confirm=False)
    canvas = window.canvas
    assert len(canvas.layout.group_x) > 1  # wrapped into column groups side by side
    view = canvas.viewport().rect()
    for name, node in canvas.nodes.items():
        assert view.contains(canvas.mapFromScene(node.sceneBoundingRect()).boundingRect()), name
    fit = canvas.scale_factor
    assert fit < 1
    assert min(node.screen_text_px(fit) for node in canvas.nodes.values()) >= COMPACT_MIN_PX
    canvas.zoom_in()
    assert canvas.scale_factor == pytest.approx(fit * 1.25)
    assert min(node.screen_text_px(canvas.scale_factor) for node in canvas.nodes.values()) >= COMPACT_MIN_PX
    assert canvas.minimap.isVisible()  # zoomed in: the whole network stays in view in the corner


def test_resnet_shortcuts_sit_beside_their_main_path(window):
    window.open_preset("resnet18", confirm=False)
    slots = window.canvas.layout.slots
    for block in ("layer2_0", "layer3_0", "layer4_0"):
        down, main, add = slots[f"{block}_down"], slots[f"{block}_conv1"], slots[f"{block}_add"]
        assert (down.group, down.column) == (main.group, main.column + 1)
        assert main.row <= down.row < add.row and add.column == main.column
    edge = next(e for e in window.canvas.edges if e.key == ("layer1_0_relu2", "layer1_1_add"))
    assert edge.lane == 1  # the identity skip has a lane beside the block


def test_ctrl_wheel_and_zoom_actions_zoom_and_fit_does_not_stick(window):
    canvas = window.canvas
    assert canvas.scale_factor == 1.0  # a small network opens at 100%
    _send_ctrl_wheel(canvas, 1)
    assert canvas.scale_factor == pytest.approx(1.25)
    _send_ctrl_wheel(canvas, -2)
    assert canvas.scale_factor == pytest.approx(0.8)
    window.action_actual_size.trigger()
    assert canvas.scale_factor == 1.0
    window.action_zoom_out.trigger()
    assert canvas.scale_factor == pytest.approx(0.8)
    window.action_zoom_in.trigger()
    assert canvas.scale_factor == pytest.approx(1.0)
    window.open_preset("resnet18", confirm=False)
    window.action_fit.trigger()
    assert canvas.scale_factor < 0.5
    window.open_preset("lenet5", confirm=False)
    assert canvas.scale_factor == 1.0  # the small network opens at 100% again


def test_a_plain_wheel_scrolls_and_does_not_zoom(window):
    from PySide6.QtCore import QPoint, QPointF
    from PySide6.QtGui import QWheelEvent

    canvas = window.canvas
    centre = QPointF(canvas.viewport().rect().center())
    event = QWheelEvent(centre, centre, QPoint(0, 0), QPoint(0, -120), Qt.MouseButton.NoButton,
                        Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(canvas.viewport(), event)
    assert canvas.scale_factor == 1.0


def test_the_status_bar_follows_a_run_and_a_reopened_trained_project_restores_curves_timeline_results_and_activations(
        trained_window, qtbot, tmp_path):
    """One trained window (one child): the status bar and overlays during and after its run, then
    the project saved and reopened in a fresh window."""
    from ui.inspection.activations_view import SOURCE_TIMELINE, SOURCE_VALIDATION
    from ui.inspection.tab import install_inspection
    from ui.training.tab import install_training

    trained = trained_window
    assert any(text.startswith("Training: Epoch 1 of 1, batch") for text in trained.status_seen)
    assert trained.training_status.text() == ""  # the run is over
    panel = trained.training_panel
    for plot in (panel.batch_plot, panel.loss_plot, panel.acc_plot):
        assert plot.getViewBox().state["mouseEnabled"] == [False, False]  # a wheel cannot zoom it away
    panel.runs_list.item(0).setCheckState(Qt.CheckState.Checked)
    [training, validation] = [curve for plot, curve in panel._overlays[panel.runs_list.item(0).data(
        Qt.ItemDataRole.UserRole)] if plot is panel.loss_plot]
    assert training.opts["pen"].color().name() != validation.opts["pen"].color().name()

    project_file = tmp_path / "trained.cnnproj.json"
    trained.document.save(project_file)
    qtbot.waitUntil(lambda: trained.document.project.runs != [], timeout=10_000)
    [run] = trained.document.project.runs
    assert run["timeline_file"] and (tmp_path / run["timeline_file"]).exists()
    history = run["history"]

    fresh = QtMainWindow(settings=QSettings(str(tmp_path / "s3.ini"), QSettings.Format.IniFormat),
                         recovery_dir=tmp_path / "recovery3")
    install_training(fresh)
    views = install_inspection(fresh)
    fresh.show()
    qtbot.waitExposed(fresh)
    with qtbot.waitSignal(fresh.training_panel.sig_weights_loaded, timeout=60_000):
        assert fresh.open_file(project_file, confirm=False)
    qtbot.waitUntil(lambda: fresh.workspace.dataset is not None and fresh.workspace.timeline is not None,
                    timeout=60_000)
    workspace = fresh.workspace
    assert workspace.model is not None and workspace.dataset.name.startswith("digits")
    assert list(workspace.timeline.epochs) == [0, 1]

    panel = fresh.training_panel  # the run's curves are drawn again
    assert panel.runs_list.item(0).checkState() == Qt.CheckState.Checked
    _, val_loss = panel._overlays["run-001"][1][1].getData()
    assert list(val_loss) == pytest.approx(history["val_loss"])

    combo = views.activations.source_combo
    sources = [combo.itemText(i) for i in range(combo.count())]
    assert SOURCE_VALIDATION in sources and SOURCE_TIMELINE in sources
    filters = views.filters
    filters.refresh()
    assert filters.timeline._epochs == [0, 1]

    results = views.results
    qtbot.waitUntil(lambda: results.matrix is not None and results.matrix.sum() == len(workspace.dataset.x_val),
                    timeout=60_000)
    assert results.message.isHidden()
    fresh.document.reset(fresh.document.spec)
    assert fresh.close()
    fresh.deleteLater()


def test_tab_and_find_shortcuts_through_real_key_events(window, qtbot):
    extra = QLabel("extra")
    window.add_view("Extra", extra)
    window.canvas.setFocus()
    qtbot.keyClick(window.canvas, Qt.Key.Key_2, Qt.KeyboardModifier.AltModifier)
    assert window.tabs.currentWidget() is extra
    qtbot.keyClick(extra, Qt.Key.Key_1, Qt.KeyboardModifier.AltModifier)
    assert window.tabs.currentWidget() is window.network_split
    qtbot.keyClick(window.canvas, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert window.palette_view.search.hasFocus()


def test_numbers_read_one_way_with_exact_tooltips_and_a_new_network_starts_at_the_top(window):
    from ui.formatting import format_count

    window.open_preset("vgg16", confirm=False)
    table = window.summary_table
    assert table.cell_text("block1_conv2", "MACs") == "1.85 G"
    assert table.cell("block1_conv2", "MACs", Qt.ItemDataRole.ToolTipRole).startswith("1,849,688,064")
    total = window.document.summary.total_params
    assert table.cell_text("Total", "Params") == format_count(total) == "138 M"
    table.verticalScrollBar().setValue(table.verticalScrollBar().maximum())
    window.open_preset("lenet5", confirm=False)
    assert table.verticalScrollBar().value() == 0
