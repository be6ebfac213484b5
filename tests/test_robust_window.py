"""The window under hostile conditions (issue 13): refused files without a modal when headless,
one recovery file per window, broken recovery files set aside, autosave failures shown,
saves that merge what the command line recorded, huge projects, Ctrl-C."""

import json
import os
import signal

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication, QMessageBox

from cnnstudio.network import presets
from cnnstudio.training.loop import TrainingResult, TrainingSettings
from cnnstudio.workspace.document import NetworkDocument
from cnnstudio.workspace.project import Project, load_project, save_project
from cnnstudio.workspace.runs import record_run
from ui import app as studio_app
from ui import launcher, recovery
from ui.main_window import QtMainWindow

DEAD_PID = 4_000_000


def make_window(qtbot, tmp_path, name="w", spec="digits-cnn"):
    settings = QSettings(str(tmp_path / f"{name}.ini"), QSettings.Format.IniFormat)
    win = QtMainWindow(NetworkDocument(presets.get(spec)), settings=settings, recovery_dir=tmp_path / "recovery")
    qtbot.addWidget(win)
    return win


def close_quietly(win):
    win.document.reset(win.document.spec)
    assert win.close()


@pytest.mark.parametrize("content", ["{not json", "[" * 100_000, '{"format": "cnnstudio-project"}'])
def test_gui_screenshot_of_a_refused_file_prints_why_and_exits_2(tmp_path, capsys, content):
    bad = tmp_path / "bad.cnnproj"
    bad.write_text(content)
    out = tmp_path / "shot.png"
    assert launcher.main(["gui", str(bad), "--screenshot", str(out)]) == 2  # a modal would fail the test
    err = capsys.readouterr().err
    assert err.startswith(f"cnnstudio gui: cannot open {bad}:") and not out.exists()


def test_each_window_has_its_own_recovery_file_and_all_are_offered(qtbot, tmp_path):
    first, second = make_window(qtbot, tmp_path, "a"), make_window(qtbot, tmp_path, "b", "lenet5")
    assert first.autosaver.path != second.autosaver.path
    first.document.append_layer("Dropout")
    second.document.append_layer("Flatten")
    first.autosaver.save_now()
    second.autosaver.save_now()
    close_quietly(first)  # a clean close removes its own file only
    assert not first.autosaver.path.exists() and second.autosaver.path.exists()
    crashed = tmp_path / "recovery" / f"recovery-{DEAD_PID}-1.cnnproj.json"
    crashed.write_text(second.autosaver.path.read_text().replace('"lenet5"', '"crashed-one"'))
    live = tmp_path / "recovery" / "recovery-1-1.cnnproj.json"  # pid 1 runs: another CNN Studio's
    live.write_text(crashed.read_text())
    third = make_window(qtbot, tmp_path, "c")
    pending = third.autosaver.pending_all()
    assert sorted(p.path.name for p in pending) == sorted([second.autosaver.path.name, crashed.name])
    assert {p.spec.name for p in pending} == {"lenet5", "crashed-one"}
    close_quietly(second)


def test_start_up_restores_every_crashed_window_in_its_own_window(qtbot, tmp_path, monkeypatch):
    folder = tmp_path / "recovery"
    folder.mkdir()
    for k, name in enumerate(("one", "two"), start=1):
        spec = presets.get("digits-cnn")
        spec.name = name
        (folder / f"recovery-{DEAD_PID}-{k}.cnnproj.json").write_text(json.dumps(
            {"format": "cnnstudio-recovery", "original_path": None, "saved_at": 1000.0 + k,
             "network": spec.to_dict()}))
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    monkeypatch.setattr(studio_app, "QtMainWindow",
                        lambda: QtMainWindow(settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat),
                                             recovery_dir=folder))
    shown = []
    monkeypatch.setattr(QApplication, "exec", lambda self=None: 0)
    monkeypatch.setattr(studio_app, "stop_on_ctrl_c", lambda app, windows: shown.extend(windows))
    assert studio_app.run() == 0
    assert [w.document.spec.name for w in shown] == ["two", "one"]
    assert sorted(p.name for p in folder.iterdir()) == sorted(w.autosaver.path.name for w in shown)
    for window in shown:
        qtbot.addWidget(window)
        close_quietly(window)


@pytest.mark.parametrize("broken", ["folder", "nested", "not recovery"])
def test_a_bad_recovery_file_is_set_aside_with_a_message(qtbot, tmp_path, broken):
    folder = tmp_path / "recovery"
    folder.mkdir()
    bad = folder / f"recovery-{DEAD_PID}-1.cnnproj.json"
    if broken == "folder":
        bad.mkdir()
    elif broken == "nested":
        bad.write_text("[" * 100_000 + "]" * 100_000)
    else:
        bad.write_text(json.dumps({"format": "something else"}))
    win = make_window(qtbot, tmp_path)
    assert not win.offer_recovery()  # no modal: nothing to offer, and no traceback
    assert not bad.exists() and (folder / (bad.name + recovery.SET_ASIDE_SUFFIX)).exists()
    assert "A recovery file could not be read and was not restored" in win.statusBar().currentMessage()
    assert "set aside as" in win.autosaver.set_aside[0]


def test_an_autosave_that_cannot_write_says_so_in_the_status_bar(qtbot, tmp_path):
    (tmp_path / "recovery").write_text("a file where the recovery folder should be")
    win = make_window(qtbot, tmp_path)
    win.document.append_layer("Dropout")
    win.autosaver.save_now()  # from a timer this must not raise
    assert win.statusBar().currentMessage().startswith("Autosave failed: cannot write")
    close_quietly(win)


def completed_run():
    return TrainingResult(status="completed", error=None, model=None, settings=TrainingSettings(),
                          history={"loss": [1.0]}, epochs_completed=1, seconds=1.0, images_per_second=1.0,
                          device="cpu")


def test_saving_from_the_window_keeps_a_run_the_command_line_recorded(qtbot, tmp_path, monkeypatch):
    path = save_project(Project(network=presets.get("digits-cnn")), tmp_path / "p.cnnproj")
    win = make_window(qtbot, tmp_path)
    assert win.open_file(path, confirm=False)
    record_run(load_project(path), completed_run(), "digits", "now")
    win.document.append_layer("Dropout")
    assert win.save()
    saved = load_project(path)
    assert [r["id"] for r in saved.runs] == ["run-001"] and saved.network.layers[-1].type == "Dropout"

    other = load_project(path)
    other.network.name = "edited-in-another-window"
    save_project(other)
    win.document.append_layer("Flatten")
    asked = []

    def answer(button):
        return lambda *args, **kwargs: asked.append(args[2]) or button

    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.Cancel))
    assert not win.save()
    assert "changed on disk since it was opened here" in asked[0]
    assert load_project(path).network.name == "edited-in-another-window"
    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.Save))
    assert win.save()
    assert load_project(path).network.name == "digits-cnn" and len(load_project(path).runs) == 1
    close_quietly(win)


def test_a_project_with_thousands_of_runs_lists_the_newest(qtbot, tmp_path):
    from ui.training.panel import MAX_LISTED_RUNS
    from ui.training.tab import install_training

    runs = [{"id": f"run-{k:05d}", "status": "completed", "history": {"loss": [0.5]}} for k in range(2_000)]
    path = save_project(Project(network=presets.get("digits-cnn"), runs=runs), tmp_path / "big.cnnproj")
    win = make_window(qtbot, tmp_path)
    install_training(win)
    assert win.open_file(path, confirm=False)
    listed = win.training_panel.runs_list
    assert listed.count() == MAX_LISTED_RUNS + 1
    assert listed.item(0).text() == f"{2_000 - MAX_LISTED_RUNS:,} older runs are kept in the project file, " \
                                    "not listed here"
    assert "run-01999" in listed.item(listed.count() - 1).text()
    close_quietly(win)


def test_ctrl_c_in_the_window_keeps_unsaved_work_for_recovery(qtbot, tmp_path, capsys, monkeypatch):
    win = make_window(qtbot, tmp_path)
    win.document.append_layer("Dropout")
    previous = signal.getsignal(signal.SIGINT)
    app = QApplication.instance()
    codes = []  # the real exit would end every later test's event loop at once
    monkeypatch.setattr(QApplication, "exit", staticmethod(codes.append))
    try:
        wake = studio_app.stop_on_ctrl_c(app, [win])
        signal.getsignal(signal.SIGINT)(signal.SIGINT, None)
    finally:
        signal.signal(signal.SIGINT, previous)
    wake.stop()
    assert codes == [130]
    assert win.autosaver.path.exists()
    assert "interrupted (Ctrl-C); unsaved work is kept for recovery" in capsys.readouterr().err
    assert os.path.exists(win.autosaver.path)
    close_quietly(win)


def _residual_chain(layers: int) -> dict:
    """A generated project: Conv2D, BatchNormalization, ReLU blocks, each fourth block's ReLU
    summed with the block's input (a skip edge in its own lane)."""
    out, previous, k = [], "input", 0
    while len(out) < layers:
        conv = {"name": f"conv_{k}", "type": "Conv2D", "params": {"filters": 4, "kernel_size": 3, "padding": "same"}}
        block = [conv, {"name": f"bn_{k}", "type": "BatchNormalization", "params": {}},
                 {"name": f"act_{k}", "type": "Activation", "params": {"activation": "relu"}}]
        if k % 4 == 3:
            block.append({"name": f"add_{k}", "type": "Add", "params": {}, "inputs": [previous, f"act_{k}"]})
        out.extend(block)
        previous = block[-1]["name"]
        k += 1
    network = {"name": "generated", "input_shape": [8, 8, 4], "layers": out[:layers]}
    return {"format": "cnnstudio-project", "version": 1, "network": network}


def test_a_project_of_thousands_of_layers_opens_and_edits_with_work_independent_of_its_size(
        qtbot, tmp_path, monkeypatch):
    """Counted, not timed: opening and editing copy the network and analyse it a fixed number of
    times, and the canvas makes items only for the part in view (issue 13: 100,000 layers did not
    open in 20 minutes; 5,000 took 16 s)."""
    from cnnstudio.analysis import lint, triage
    from cnnstudio.network.spec import NetworkSpec
    from cnnstudio.workspace import document as document_module
    from ui.editor import canvas as canvas_module

    layers = 3_000
    path = tmp_path / "big.cnnproj.json"
    project = _residual_chain(layers)
    path.write_text(json.dumps(project))
    names = [layer["name"] for layer in project["network"]["layers"]]
    win = make_window(qtbot, tmp_path)
    win.show()
    qtbot.waitExposed(win)
    counts = {"copies": 0, "analyses": 0, "fix checks": 0, "nodes": 0}

    def counting(key, function):
        def counted(*args, **kwargs):
            counts[key] += 1
            return function(*args, **kwargs)
        return counted

    monkeypatch.setattr(NetworkSpec, "copy", counting("copies", NetworkSpec.copy))
    monkeypatch.setattr(document_module, "infer", counting("analyses", document_module.infer))
    monkeypatch.setattr(triage, "infer_shapes", counting("fix checks", triage.infer_shapes))
    monkeypatch.setattr(lint, "infer_shapes", counting("fix checks", lint.infer_shapes))
    monkeypatch.setattr(canvas_module, "NodeItem", counting("nodes", canvas_module.NodeItem))

    assert win.open_file(path, confirm=False)
    canvas = win.canvas
    assert canvas.virtual and len(canvas.nodes) == counts["nodes"] < layers // 4  # only those in view
    assert counts["copies"] <= 2 and counts["analyses"] == 1
    assert counts["fix checks"] <= triage.FIX_CHECK_BUDGET // layers
    assert f"{layers:,} layers" in win.statusBar().currentMessage() or f"{layers} layers" in \
        win.property_panel.result.text()
    assert win.summary_table.rowCount() == layers + 2
    assert win.summary_table.cell_text([n for n in names if n.startswith("conv")][-1], "Output shape") == "8×8×4"

    counts.update(copies=0, analyses=0)
    win.document.set_param("conv_0", "filters", 8)
    assert win.summary_table.cell_text("conv_0", "Params") == "296"
    assert "8 filters" in canvas.nodes["conv_0"].lines
    win.document.undo()
    assert win.summary_table.cell_text("conv_0", "Params") == "148"
    assert counts["copies"] <= 4 and counts["analyses"] == 2  # the edit and its undo, once each

    last = names[-1]
    assert last not in canvas.nodes
    win.document.select(last)  # selected elsewhere (the summary table): its node appears, in view
    assert last in canvas.nodes and canvas.visible_scene_rect().intersects(canvas.nodes[last].sceneBoundingRect())
    assert win.summary_table.selectionModel().selectedRows()[0].row() == win.summary_table.row_of(last)
    assert win.property_panel.name_edit.text() == last
    assert len(canvas.nodes) < layers // 2
    close_quietly(win)
