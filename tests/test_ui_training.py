"""The Train tab driven through its real widgets: real child processes train real Keras models."""

import json
import os
import signal
import sys
from pathlib import Path

import numpy as np
import pytest

from cnnstudio.files import process_alive
from cnnstudio.network import presets
from cnnstudio.workspace import fork_server
from cnnstudio.workspace.runs import list_runs, weights_path
from ui import tasks
from ui.inspection.filters_view import QtFiltersView
from ui.training.environment_dialog import QtEnvironmentDialog
from ui.training.tab import install_training

TRAIN_TIMEOUT_MS = 300_000  # a fresh child process per run; generous for a loaded machine


@pytest.fixture
def window(studio_window, qtbot):
    win = studio_window()
    install_training(win)
    win.training_panel.jit_compile_check.setChecked(False)  # each run compiles in a fresh child: keep tests quick
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.document.reset(win.document.spec)  # nothing unsaved: close without a prompt
    win.close()
    win.deleteLater()
    assert not win.training_panel.thread.isRunning() if win.training_panel.thread else True
    assert tasks.shutdown(timeout=10) == []


def train(qtbot, panel, epochs=3, **settings):
    panel.epochs_spin.setValue(epochs)
    for name, value in settings.items():
        widget = getattr(panel, name)
        widget.setValue(value) if hasattr(widget, "setValue") else widget.setChecked(value)
    with qtbot.waitSignal(panel.sig_finished, timeout=TRAIN_TIMEOUT_MS) as finished:
        assert panel.start_training()
        assert panel.stop_button.isEnabled()  # Train stays on: it offers to queue
    assert panel.thread is None and panel.worker is None
    assert panel.train_button.isEnabled() and not panel.stop_button.isEnabled()
    return finished.args[0]


def test_digits_cnn_trains_to_90_percent_through_the_panel(qtbot, window):
    panel = window.training_panel
    assert window.tabs.tabText(window.tabs.indexOf(panel)) == "Train"
    assert panel.data_source() == "digits"
    epochs_seen = []
    window.workspace.events.epoch.connect(lambda epoch, logs: epochs_seen.append((epoch, logs["val_accuracy"])))
    filters = QtFiltersView(window.workspace)
    qtbot.addWidget(filters)
    live = []  # the filters view redraws the model being trained after each epoch
    window.workspace.events.epoch.connect(
        lambda epoch, logs: live.append((filters.note.text(), filters.kernel_tiles.values.copy())))
    with qtbot.waitSignal(window.tensorflow_loader.sig_ready, timeout=TRAIN_TIMEOUT_MS):
        window.tensorflow_loader.ensure()
    imported_before = set(sys.modules)

    outcome = train(qtbot, panel, epochs=3, jit_compile_check=True)  # the default settings, XLA on

    # The loader imported ahead what the run's window side needs: a first import during a run
    # holds the GIL (C extensions load under it), stalling the event loop.
    assert sorted(set(sys.modules) - imported_before) == []

    result = outcome.result
    assert result.status == "completed", outcome.message
    assert result.metrics()["val_accuracy"] >= 0.90
    assert [e for e, _ in epochs_seen] == [1, 2, 3]
    assert epochs_seen[-1][1] == pytest.approx(result.metrics()["val_accuracy"])
    assert window.workspace.model is result.model
    assert window.workspace.dataset is outcome.dataset
    assert window.workspace.timeline is outcome.timeline and len(outcome.timeline) == 4
    assert len(live) == 3 and all(note.startswith("Training:") for note, _ in live)
    initial = np.moveaxis(outcome.timeline.at(0)[1]["conv1"], -1, 1)  # as the tiles hold it
    assert not np.allclose(live[0][1], initial)  # trained for an epoch: not the random start
    assert filters.note.text().startswith("The trained filters")
    batches = int(np.ceil(len(outcome.dataset.x_train) / panel.batch_size_spin.value()))
    x, y = panel.batch_curve.getData()
    assert len(x) == 3 * batches and np.all(np.isfinite(y))
    assert panel.batch_plot.titleLabel.text == "Loss per batch"
    # Each batch's own loss, not Keras' running mean: weighted by batch size they average to
    # the epoch's loss.
    size = panel.batch_size_spin.value()
    sizes = np.minimum(size, len(outcome.dataset.x_train) - size * np.arange(batches))
    np.testing.assert_allclose(y.reshape(3, batches) @ sizes / sizes.sum(), result.history["loss"], rtol=1e-4)
    _, val_acc = panel.val_acc_curve.getData()
    np.testing.assert_allclose(val_acc, result.history["val_accuracy"])
    assert panel.progress.value() == 100
    assert f"batch {batches} of {batches}" in panel.epoch_label.text()
    assert "images/s" in panel.speed_label.text() and "CPU" in panel.device_label.text()
    assert "Save the project to keep this run" in panel.message.text()
    assert panel.runs_list.count() == 1 and panel.continue_check.isEnabled()


def test_stop_mid_run_keeps_the_weights(qtbot, window):
    panel = window.training_panel
    window.workspace.events.epoch.connect(lambda epoch, logs: panel.stop_training())

    outcome = train(qtbot, panel, epochs=200)

    result = outcome.result
    assert result.status == "stopped"
    assert 1 <= result.epochs_completed < 200
    assert "weights trained so far are kept" in panel.message.text()
    model = window.workspace.model
    assert model is result.model
    for kept, trained in zip(model.get_weights(), result.weights, strict=True):
        np.testing.assert_array_equal(kept, trained)
    assert result.metrics()["val_accuracy"] > 0.2


def test_a_nan_loss_is_reported_in_the_panel(qtbot, window):
    panel = window.training_panel
    for layer in ("hidden", "output"):  # unbounded logits, so a too-large step overflows
        window.document.set_param(layer, "activation", "linear")
    panel.optimizer_combo.setCurrentText("sgd")

    outcome = train(qtbot, panel, epochs=2, learning_rate_spin=10.0)

    assert outcome.result.status == "failed"
    text = panel.message.text()
    assert "so training stopped and the weights from the last good epoch were restored" in text
    assert "Lower the learning rate" in text
    if "The loss became " in text:  # else the weights went first, the loss still a (huge) number
        assert text.split("The loss became ")[1].split()[0] in ("nan", "inf")
    else:
        assert "The weights became NaN or infinite" in text
    assert panel.progress.format() == "Failed"
    assert all(np.all(np.isfinite(w)) for w in outcome.result.model.get_weights())


def _train_on_images_of_side(panel, tmp_path, side: int, classes: int = 10) -> str:
    """Choose an .npz of 40 random side x side images in ``classes`` classes as the Train tab's data; its path."""
    path = tmp_path / f"images{side}.npz"
    np.savez(path, x=np.random.default_rng(0).random((40, side, side)), y=np.arange(40) % classes)
    panel.set_data_source(str(path))
    return str(path)


@pytest.mark.parametrize(("size", "classes", "expected"), [
    (12, 10, ["12x12x1, larger than the network's input 8x8x1", "Set the input to 12x12x1"]),
    (8, 12, ["The data has 12 classes but the network's output has 10 units", "Set the last layer's units to 12"]),
])
def test_a_wrong_shaped_data_set_is_refused_before_a_training_process_starts(qtbot, window, tmp_path, monkeypatch,
                                                                              size, classes, expected):
    from cnnstudio.workspace import training_process

    started = []
    monkeypatch.setattr(training_process.TrainingProcess, "start", lambda process: started.append(process))
    panel = window.training_panel
    path = _train_on_images_of_side(panel, tmp_path, size, classes)
    assert panel.data_source() == path

    outcome = train(qtbot, panel, epochs=1)

    assert outcome.result is None and not started  # refused in the window: no child imported TensorFlow
    text = panel.message.text()
    assert all(part in text for part in expected), text
    assert window.workspace.model is None and panel.runs_list.count() == 0


def test_smaller_images_are_padded_and_the_data_line_says_so(qtbot, window, tmp_path):
    panel = window.training_panel
    _train_on_images_of_side(panel, tmp_path, 5)

    outcome = train(qtbot, panel, epochs=1)

    assert outcome.result is not None and outcome.result.ok
    assert "Padded the 5x5x1 images with zeros to 8x8x1 (centred)" in panel.data_label.text()
    assert window.workspace.dataset.input_shape == (8, 8, 1)


def test_a_broken_data_file_is_reported(qtbot, window, tmp_path):
    path = tmp_path / "broken.npz"
    path.write_bytes(b"not a zip file")
    panel = window.training_panel
    panel.set_data_source(str(path))

    outcome = train(qtbot, panel, epochs=1)

    assert outcome.result is None
    assert "not a readable .npz file" in panel.message.text() and "broken.npz" in panel.message.text()


def test_runs_are_saved_with_the_project_and_reopened_with_their_weights(qtbot, window, tmp_path):
    panel = window.training_panel
    first = train(qtbot, panel, epochs=1)
    assert window.document.path is None and panel.runs_list.count() == 1

    project_file = tmp_path / "digits.cnnproj.json"
    window.document.save(project_file)
    qtbot.waitUntil(lambda: list_runs(window.document.project) != [], timeout=5000)
    stored = json.loads(project_file.read_text())
    assert [r["id"] for r in stored["runs"]] == ["run-001"]
    assert stored["training"]["dataset"] == "digits" and stored["training"]["epochs"] == 1
    assert not window.document.dirty

    panel.continue_check.setChecked(True)
    second = train(qtbot, panel, epochs=1)
    assert second.job.resumed_from == "run-001"
    assert second.dataset is first.dataset  # the same data is not loaded twice
    assert second.result.history["val_loss"][0] < first.result.history["val_loss"][0]
    records = list_runs(window.document.project)
    assert [r.id for r in records] == ["run-001", "run-002"] and records[1].resumed_from == "run-001"
    assert weights_path(window.document.project, records[1]).exists()
    assert "Saved as run-002" in panel.message.text()

    panel.runs_list.item(0).setCheckState(panel.runs_list.item(0).checkState().Checked)
    overlay = panel._overlays["run-001"]
    assert len(overlay) == 4
    _, val_loss = overlay[1][1].getData()
    np.testing.assert_allclose(val_loss, first.result.history["val_loss"])
    panel.runs_list.item(0).setCheckState(panel.runs_list.item(0).checkState().Unchecked)
    assert "run-001" not in panel._overlays

    trained = second.result.weights
    window.workspace.set_model(None)
    with qtbot.waitSignal(panel.sig_weights_loaded, timeout=60_000):
        assert window.open_file(project_file, confirm=False)
    assert panel.runs_list.count() == 2 and panel.epochs_spin.value() == 1
    reloaded = window.workspace.model
    assert reloaded is not None and reloaded is not second.result.model
    for got, expected in zip(reloaded.get_weights(), trained, strict=True):
        np.testing.assert_allclose(got, expected)


def test_bad_network_is_refused_with_the_reason(qtbot, window):
    panel = window.training_panel
    window.document.set_input_shape((1, 1, 1))
    assert not window.document.summary.ok
    assert not panel.start_training()
    assert "Fix them in the Network tab" in panel.message.text() and panel.worker is None


def test_environment_dialog_reports_tensorflow_and_devices(qtbot, window):
    window.action_environment.trigger()
    dialog = window.findChild(QtEnvironmentDialog)
    assert dialog.isVisible()
    qtbot.waitUntil(lambda: "GPU:" in dialog.text.toPlainText(), timeout=60_000)
    text = dialog.text.toPlainText()
    assert "TensorFlow" in text and "Keras" in text and "Loading" not in text
    dialog.close()
    dialog.wait()


def test_closing_mid_run_asks_first_and_stops_the_run_only_when_confirmed(qtbot, window, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    panel = window.training_panel
    window.document.set_param("hidden", "units", 32)  # unsaved: closing asks
    answers = [QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Discard]
    monkeypatch.setattr(QMessageBox, "question", lambda *args, **kwargs: answers.pop(0))
    panel.epochs_spin.setValue(50)
    with qtbot.waitSignal(panel.sig_started):
        assert panel.start_training()

    assert not window.close()  # cancelled: the run goes on
    assert panel.worker is not None and not panel.worker.state.stop_requested
    with qtbot.waitSignal(panel.sig_finished, timeout=TRAIN_TIMEOUT_MS) as finished:
        assert window.close()  # confirmed: the run stops after its batch and the thread ends
    assert finished.args[0].result.status == "stopped"
    assert panel.thread is None or not panel.thread.isRunning()


def _child_processes() -> set[int]:
    """The training processes alive (Linux /proc): this process' children, and the fork server's
    in its place; no training process may outlive its test (the server is the window process'
    service, shared by its runs)."""
    pids = _live_children(os.getpid())
    for server in fork_server.server_pids() & pids:
        pids = (pids - {server}) | _live_children(server)
    return pids


def _live_children(parent: int) -> set[int]:
    """Children are listed per thread of ``parent``; a thread that ends during the scan hands
    its children to another thread, perhaps one already read, so the scan starts over."""
    for _ in range(100):
        pids = set()
        try:
            for children in Path(f"/proc/{parent}/task").glob("*/children"):
                pids.update(int(pid) for pid in children.read_text().split())
        except FileNotFoundError:
            continue
        return {pid for pid in pids if process_alive(pid)}
    raise AssertionError(f"/proc/{parent}/task kept changing: its children could not be listed")


@pytest.fixture
def no_child_left():
    before = _child_processes()
    yield
    assert _child_processes() <= before


def test_a_killed_training_process_is_reported_and_keeps_the_last_epoch(qtbot, window, no_child_left):
    panel = window.training_panel
    killed = []

    def kill_after_second_epoch(epoch, logs):
        if epoch == 2 and not killed:
            killed.append(panel.worker.process.pid)
            os.kill(panel.worker.process.pid, signal.SIGKILL)

    window.workspace.events.epoch.connect(kill_after_second_epoch)
    outcome = train(qtbot, panel, epochs=200)

    result = outcome.result
    assert killed and result.status == "failed"
    text = panel.message.text()
    assert "The training process ended unexpectedly: it was killed (SIGKILL" in text
    assert "The window is unaffected" in text and panel.progress.format() == "Failed"
    kept = result.epochs_completed
    assert kept >= 2 and f"The weights after epoch {kept} were kept." in text
    model = window.workspace.model
    assert model is result.model  # the last completed epoch's weights, checkpointed by the child
    kernel = np.moveaxis(model.get_layer("conv1").kernel.numpy(), -1, 0)  # filters first, as the timeline keeps it
    np.testing.assert_array_equal(kernel, outcome.timeline.at(kept)[1]["conv1"])
    assert panel.runs_list.count() == 1 and "failed" in panel.runs_list.item(0).text()

    again = train(qtbot, panel, epochs=1)  # the window goes on working
    assert again.result.status == "completed" and panel.runs_list.count() == 2


def test_stop_ends_the_run_within_its_group_of_batches_without_validating(qtbot, window, no_child_left):
    """Several batches run per call of the step (cnnstudio.training.groups): Stop ends the run
    when the group in progress ends, without a validation pass."""
    from cnnstudio.training import groups

    panel = window.training_panel
    panel.batch_size_spin.setValue(1)  # 1438 batches an epoch: Stop lands mid-epoch
    panel.epochs_spin.setValue(3)
    with qtbot.waitSignal(panel.sig_finished, timeout=TRAIN_TIMEOUT_MS) as finished:
        assert panel.start_training()

        def trained_some():
            latest = panel.worker.state.snapshot()[0]
            return latest is not None and not latest.compiling and latest.batch >= 20

        qtbot.waitUntil(trained_some, timeout=TRAIN_TIMEOUT_MS)
        panel.stop_training()
    result = finished.args[0].result
    assert result.status == "stopped" and result.epochs_completed == 0
    assert result.batches_at_stop >= 20 and result.batches - result.batches_at_stop < groups.BATCHES_PER_CALL
    assert "val_loss" not in result.history  # no validation pass after Stop
    assert panel.progress.format() == "Stopped — weights kept"


def test_filters_during_a_run_show_that_runs_latest_epoch(qtbot, window, no_child_left):
    panel = window.training_panel
    train(qtbot, panel, epochs=1)
    filters = QtFiltersView(window.workspace)
    qtbot.addWidget(filters)
    before = filters.kernel_tiles.values.copy()  # the first run's trained filters
    panel.seed_spin.setValue(7)
    live = []
    window.workspace.events.epoch.connect(lambda epoch, logs: live.append(
        (epoch, filters.note.text(), filters.timeline.label.text(), filters.kernel_tiles.values.copy())))

    second = train(qtbot, panel, epochs=2)

    assert [epoch for epoch, *_ in live] == [1, 2]
    for epoch, note, label, values in live:
        np.testing.assert_array_equal(values, np.moveaxis(second.timeline.at(epoch)[1]["conv1"], -1, 1))
        assert f"after epoch {epoch} of this run" in note and label == f"After epoch {epoch} of {epoch}"
    assert not np.allclose(live[0][3], before)


def test_train_during_a_run_queues_the_next_one(qtbot, window, monkeypatch, no_child_left):
    from PySide6.QtWidgets import QMessageBox

    asked = []
    monkeypatch.setattr(QMessageBox, "question",
                        lambda *args, **kwargs: asked.append(args[2]) or QMessageBox.StandardButton.Yes)
    panel = window.training_panel
    finished = []
    panel.sig_finished.connect(finished.append)
    panel.epochs_spin.setValue(1)
    with qtbot.waitSignal(panel.sig_started):
        assert panel.start_training()
    panel.epochs_spin.setValue(2)
    assert panel.start_training()  # asks, then queues
    assert len(asked) == 1 and "Queue this one (2 epoch(s) on digits)" in asked[0]
    assert panel.queue_label.text().startswith("1 run(s) queued")

    qtbot.waitUntil(lambda: len(finished) == 2, timeout=2 * TRAIN_TIMEOUT_MS)

    assert [o.result.status for o in finished] == ["completed", "completed"]
    assert [len(o.result.history["loss"]) for o in finished] == [1, 2]
    assert panel.runs_list.count() == 2 and panel.queue == [] and panel.queue_label.isHidden()


def test_the_data_picker_offers_padding_or_the_data_s_input_size(qtbot, window):
    from cnnstudio.network import presets

    window.document.reset(presets.get("lenet5"))
    panel = window.training_panel
    panel.set_data_source("mnist-5k")
    assert panel.fit_label.text() == "The 28x28x1 images will be padded with zeros to 32x32x1 (centred)."
    assert panel.set_input_button.isHidden()  # LeNet-5's c5 (5x5) cannot read the 4x4 maps a 28x28 input makes
    window.document.reset(presets.get("digits-cnn", input_shape=(32, 32, 1)))
    panel.set_data_source("mnist-5k")
    assert not panel.set_input_button.isHidden()
    assert panel.set_input_button.text() == "Set the network's input to 28x28x1"
    panel.set_input_button.click()
    assert window.document.spec.input_shape == (28, 28, 1)
    assert panel.fit_label.text() == "" and panel.set_input_button.isHidden()
    panel.set_data_source("cifar10")
    assert panel.fit_label.text() == ""  # 3 channels against 1: refused when training starts
    panel.resize_images_check.setChecked(True)
    assert panel.settings().resize_images


def test_a_run_starts_from_a_model_file_with_a_new_head_and_frozen_layers(qtbot, window, tmp_path):
    from cnnstudio.models.builder import build_model

    source = build_model(presets.get("digits-cnn", num_classes=5), seed=7)
    source.save(tmp_path / "five.keras")
    window.document.set_trainable("conv1", False)
    panel = window.training_panel
    panel.set_init_from(str(tmp_path / "five.keras"))
    assert panel.init_button.text() == "Start from five.keras" and not panel.init_clear.isHidden()

    outcome = train(qtbot, panel, epochs=1)

    assert outcome.result.ok, outcome.message
    text = panel.message.text()
    assert "3 layer(s) took its weights (conv1, conv2, hidden)" in text
    assert "output starts fresh: the source's weights are shaped 64x5, 5, this layer's 64x10, 10" in text
    trained = window.workspace.model.get_layer("conv1").get_weights()
    for a, b in zip(source.get_layer("conv1").get_weights(), trained, strict=True):
        np.testing.assert_array_equal(a, b)
    panel.init_clear.click()
    assert panel.init_from is None and panel.init_button.text() == "Start from a model…"


def test_the_settings_form_shows_every_setting_and_reads_back_what_it_shows(qtbot, window):
    from dataclasses import fields

    from cnnstudio.training.loop import TrainingSettings

    panel = window.training_panel
    assert set(panel.settings_form.widgets) == {f.name for f in fields(TrainingSettings)}
    unusual = TrainingSettings(optimizer="adamw", learning_rate=3e-6, batch_size=7, epochs=3, seed=123456,
                               momentum=0.5, weight_decay=0.0, augment_shift=0.25, augment_flip=True,
                               mixed_precision=True, jit_compile=False, device="gpu:3")
    panel.show_settings(unusual)
    assert panel.settings() == unusual
    assert panel.learning_rate_spin.text() == "3e-06" and panel.momentum_spin.text() == "0.5"
    assert panel.momentum_spin.toolTip().startswith("SGD only")
    panel.show_settings(None)
    assert panel.settings() == TrainingSettings()


def test_a_project_trained_from_the_command_line_keeps_momentum_and_weight_decay_after_a_run_from_the_window(
        qtbot, window, tmp_path):
    from cnnstudio.cli import main
    from cnnstudio.training.loop import TrainingSettings
    from cnnstudio.workspace.project import Project, load_project, save_project
    from cnnstudio.workspace.runs import project_settings, set_project_settings

    path = tmp_path / "digits.cnnproj"
    project = Project(network=presets.get("digits-cnn"))
    set_project_settings(project, TrainingSettings(optimizer="sgd", momentum=0.5, weight_decay=0.0, epochs=1,
                                                    jit_compile=False), "digits")  # XLA is not the point
    save_project(project, path)
    assert main(["train", str(path)]) == 0
    assert [(r.settings["momentum"], r.settings["weight_decay"]) for r in list_runs(load_project(path))] == [(0.5, 0.0)]

    panel = window.training_panel
    with qtbot.waitSignal(panel.sig_weights_loaded, timeout=60_000):
        assert window.open_file(path, confirm=False)
    assert (panel.optimizer_combo.currentText(), panel.momentum_spin.value(), panel.weight_decay_spin.value()) == (
        "sgd", 0.5, 0.0)
    outcome = train(qtbot, panel, epochs=1)
    assert outcome.result.status == "completed"
    project = load_project(path)
    settings, _ = project_settings(project)
    assert (settings.optimizer, settings.momentum, settings.weight_decay) == ("sgd", 0.5, 0.0)
    assert [(r.settings["momentum"], r.settings["weight_decay"]) for r in list_runs(project)] == [(0.5, 0.0)] * 2
