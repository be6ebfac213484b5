"""The Filters, Activations and Results tabs under qtbot, on a digits model trained one epoch."""

import gc
import threading
import time

import numpy as np
import pytest
from PySide6.QtCore import Qt, QTimer

from cnnstudio.inspection import pictures, probes
from cnnstudio.models.builder import build_model
from cnnstudio.network import presets
from cnnstudio.network.spec import LayerSpec, NetworkSpec
from cnnstudio.training.data import Dataset, load_dataset
from cnnstudio.workspace.document import NetworkDocument
from cnnstudio.workspace.session import Workspace
from ui.inspection.activations_view import SOURCE_FILE, SOURCE_TIMELINE, QtActivationsView
from ui.inspection.filters_view import QtFiltersView
from ui.inspection.results_view import QtResultsView
from ui.resource_files import SAMPLES
from ui.tensorflow_loader import keep_out_of_collections


@pytest.fixture(scope="module")
def dataset():
    return load_dataset("digits")


@pytest.fixture(scope="module")
def trained(dataset):
    """A digits-cnn after one epoch, with its timeline (snapshots at epochs 0 and 1)."""
    spec = presets.get("digits-cnn")
    model = build_model(spec, seed=3)
    model.compile("adam", "sparse_categorical_crossentropy")
    callback = probes.TimelineCallback(model, dataset.x_val[0])
    model.fit(dataset.x_train, dataset.y_train, epochs=1, batch_size=64, verbose=0, callbacks=[callback])
    return spec, model, callback.timeline


@pytest.fixture
def workspace(trained, dataset):
    spec, model, timeline = trained
    ws = Workspace(NetworkDocument(spec))
    ws.set_dataset(dataset)
    ws.set_model(model, timeline)
    return ws


TASK_TIMEOUT_MS = 30_000


def show(qtbot, widget, size=(1100, 760)):
    qtbot.addWidget(widget)
    widget.resize(*size)
    widget.show()
    qtbot.waitExposed(widget)
    return settle(qtbot, widget)


def settle(qtbot, view):
    """Wait until a view that runs the model on a task has drawn what it asked for last."""
    runner = getattr(view, "runner", None)
    if runner is not None and runner.busy:
        qtbot.waitSignal(runner.sig_idle, timeout=TASK_TIMEOUT_MS).wait()
    return view


def distinct_colors(widget) -> int:
    image = widget.grab().toImage()
    return len({image.pixel(x, y) for x in range(0, image.width(), 2) for y in range(0, image.height(), 2)})


def kernel_pixel(tiles, view, row, col):
    """The tile pixel showing weight (row, col) of input channel ``view`` (views laid out in a grid)."""
    height, width = tiles.view_shape
    r, c = divmod(view, tiles.columns)
    return tiles.gap + r * (height + tiles.gap) + row, tiles.gap + c * (width + tiles.gap) + col


# ---------------------------------------------------------------------------- filters


def test_filters_view_draws_one_tile_per_filter_and_reads_the_weight_under_the_cursor(qtbot, workspace):
    view = show(qtbot, QtFiltersView(workspace))
    model = workspace.model
    assert [view.layer_combo.itemText(i) for i in range(view.layer_combo.count())] == ["conv1", "conv2"]
    assert view.grid.count() == 32
    assert distinct_colors(view.grid) > 100
    kernel = probes.kernels(model, "conv1")
    qtbot.mouseMove(view.grid, view.grid.cell_center(5, 1, 2))
    assert view.value_label.text() == f"conv1 filter #5, input channel 0, row 1, col 2: weight = {kernel[5, 1, 2, 0]:+.4f}"

    view.layer_combo.setCurrentText("conv2")
    assert view.grid.count() == 64
    kernel = probes.kernels(model, "conv2")
    row, col = kernel_pixel(view.kernel_tiles, 7, 2, 0)
    assert view.value_at(3, row, col) == (7, 2, 0, kernel[3, 2, 0, 7])
    qtbot.mouseMove(view.grid, view.grid.cell_center(3, row, col))
    assert view.value_label.text().endswith(f"input channel 7, row 2, col 0: weight = {kernel[3, 2, 0, 7]:+.4f}")
    assert view.value_at(3, 0, 0) is None  # the grey gap between channels


def test_filters_scale_toggle_changes_the_picture_and_the_legend(qtbot, workspace):
    view = show(qtbot, QtFiltersView(workspace))
    shared = view.grid.grab().toImage()
    assert "one colour scale for all" in view.legend.text()
    view.shared_check.setChecked(False)
    assert "its own largest weight" in view.legend.text()
    assert view.kernel_tiles.pictures.scaling == "per_filter"
    assert view.grid.grab().toImage() != shared


def test_filters_timeline_shows_the_initial_weights_and_follows_epochs(qtbot, workspace, trained):
    _, model, timeline = trained
    view = show(qtbot, QtFiltersView(workspace))
    assert view.timeline.isVisible() and view.timeline.is_latest
    trained_picture = view.grid.grab().toImage()
    view.timeline.set_index(0)
    initial = timeline.at(0)[1]["conv1"]
    assert view.value_at(4, 2, 0)[3] == initial[4, 2, 0, 0]
    assert not np.allclose(initial, probes.kernels(model, "conv1"))
    assert view.note.text() == "Initial random weights, before training."
    assert view.grid.grab().toImage() != trained_picture
    view.hide()  # a background tab keeps showing the chosen snapshot
    view.refresh()
    assert view.value_at(4, 2, 0)[3] == initial[4, 2, 0, 0]
    view.show()

    view.timeline.set_index(1)
    layer = model.get_layer("conv1")
    original = layer.kernel.numpy()
    try:
        layer.kernel.assign(original * -1.0)
        workspace.epoch_ended(2, {"loss": 0.1})
        assert view.value_at(4, 2, 0)[3] == -original[2, 0, 0, 4]
    finally:
        layer.kernel.assign(original)


def test_filters_without_a_model_say_how_to_get_one(qtbot, trained):
    spec, _, _ = trained
    view = show(qtbot, QtFiltersView(Workspace(NetworkDocument(spec))), (700, 300))
    assert view.message.isVisible() and not view.content.isVisible()
    assert "Train the network (Train tab) to see its filters" in view.message.text()
    assert distinct_colors(view) > 3


def test_filters_of_an_untrained_model_show_and_say_so(qtbot, trained):
    spec, _, _ = trained
    workspace = Workspace(NetworkDocument(spec))
    workspace.set_model(build_model(spec, seed=0))
    view = show(qtbot, QtFiltersView(workspace))
    assert view.grid.count() == 32
    assert "random initial weights" in view.note.text()
    assert not view.timeline.isVisible()
    workspace.document.append_layer("Dropout")  # an edit discards the model
    assert view.message.isVisible() and "Train the network" in view.message.text()


# ---------------------------------------------------------------------------- activations


def test_activations_view_shows_every_layer_and_the_top_predictions(qtbot, workspace, dataset):
    view = show(qtbot, QtActivationsView(workspace), (1200, 800))
    model = workspace.model
    assert list(view.sections) == ["conv1", "conv2", "pool", "flatten", "hidden", "output"]
    assert view.sections["conv1"].grid.count() == 32 and view.sections["conv2"].grid.count() == 64
    assert distinct_colors(view) > 100
    view.example_spin.setValue(7)
    settle(qtbot, view)
    np.testing.assert_array_equal(view.sample, dataset.x_val[7])
    best, p = probes.predict_topk(model, dataset.x_val[7], k=1, class_names=dataset.class_names)[0]
    assert f"<b>{best}</b></td><td>{100 * p:5.1f}%" in view.prediction_label.text()
    assert f"true class: <b>{dataset.class_names[dataset.y_val[7]]}</b>" in view.truth_label.text()


def test_clicking_a_unit_outlines_its_receptive_box(qtbot, workspace):
    view = show(qtbot, QtActivationsView(workspace), (1200, 800))
    grid = view.sections["conv2"].grid
    qtbot.mouseClick(grid, Qt.MouseButton.LeftButton, pos=grid.cell_center(5, 2, 3))
    expected = probes.receptive_box(workspace.document.spec, "conv2", 2, 3)
    assert view.box == expected
    assert view.input_grid.highlights() == {0: expected.rect()}
    assert grid.highlights() == {5: (2, 3, 3, 4)}
    assert "5×5 receptive field" in view.receptive_label.text()

    grid = view.sections["hidden"].grid
    qtbot.mouseClick(grid, Qt.MouseButton.LeftButton, pos=grid.cell_center(0, 0, 4))
    assert view.input_grid.highlights() == {0: (0, 0, 8, 8)}
    assert view.sections["conv2"].grid.highlights() == {}


def test_an_image_file_is_resized_to_the_input_and_a_bad_one_is_refused(qtbot, workspace, tmp_path):
    view = show(qtbot, QtActivationsView(workspace))
    rgb = np.zeros((32, 32, 3), np.uint8)
    rgb[8:24, 12:20] = 255
    path = pictures.write_png(tmp_path / "bar.png", rgb)
    assert view.set_image_file(str(path))
    settle(qtbot, view)
    assert view.source_combo.currentText() == SOURCE_FILE
    assert view.sample.shape == (8, 8, 1)
    np.testing.assert_allclose(view.sample, pictures.load_image(path, size=(8, 8), channels=1))
    np.testing.assert_allclose(view.acts["output"], probes.activations(workspace.model, view.sample)["output"])
    (tmp_path / "broken.png").write_bytes(b"not a picture")
    assert not view.set_image_file(str(tmp_path / "broken.png"))
    assert "Cannot read" in view.error_label.text()


def test_the_image_dialog_starts_in_the_samples_and_a_28x28_sample_digit_is_fed_at_the_input_size(
        qtbot, workspace, monkeypatch):
    view = show(qtbot, QtActivationsView(workspace))
    asked = []
    sample = SAMPLES / "digit_3_index_1500.png"
    monkeypatch.setattr("ui.inspection.activations_view.QFileDialog.getOpenFileName",
                        lambda parent, title, folder, filters: asked.append(folder) or (str(sample), ""))
    view.open_image_dialog()
    settle(qtbot, view)
    assert asked == [str(SAMPLES)]
    assert view.image_path == str(sample)
    assert pictures.read_png(sample).shape == (28, 28, 1)
    np.testing.assert_allclose(view.sample, pictures.load_image(sample, size=(8, 8), channels=1))
    expected = probes.probabilities(workspace.model, view.sample)
    top = workspace.dataset.class_names[int(np.argmax(expected))]
    assert f"<tr><td><b>{top}</b></td><td>{100 * expected.max():5.1f}%" in view.prediction_label.text()


def test_activations_timeline_scrubs_the_fixed_input_through_training(qtbot, workspace, trained):
    _, _, timeline = trained
    view = show(qtbot, QtActivationsView(workspace))
    view.source_combo.setCurrentText(SOURCE_TIMELINE)
    assert view.timeline.isVisible()
    view.timeline.set_index(0)
    settle(qtbot, view)
    np.testing.assert_array_equal(view.acts["conv1"], timeline.at(0)[2]["conv1"])
    assert "before training" in view.truth_label.text()
    view.timeline.set_index(1)
    settle(qtbot, view)
    np.testing.assert_array_equal(view.acts["conv1"], timeline.at(1)[2]["conv1"])


def test_activations_of_a_1d_network_outline_positions(qtbot):
    spec = presets.get("mnist1d-cnn")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 40, 1)).astype("float32")
    data = Dataset("tiny1d", x[:8], np.arange(8) % 10, x[8:], np.arange(4) % 10, [str(i) for i in range(10)])
    workspace = Workspace(NetworkDocument(spec))
    workspace.set_dataset(data)
    workspace.set_model(build_model(spec, seed=0))
    view = show(qtbot, QtActivationsView(workspace))
    assert not view.open_button.isEnabled()
    layer = probes.conv_layers(workspace.model)[1]
    grid = view.sections[layer].grid
    assert grid.count() == 1
    qtbot.mouseClick(grid, Qt.MouseButton.LeftButton, pos=grid.cell_center(0, 2, 6))
    box = probes.receptive_box(spec, layer, 6)
    assert view.input_grid.highlights() == {0: (0, box.rect()[0], 1, box.rect()[1])}
    filters = show(qtbot, QtFiltersView(workspace))
    first = probes.conv_layers(workspace.model)[0]
    assert filters.layer_combo.currentText() == first
    assert filters.grid.count() == len(probes.kernels(workspace.model, first))


# ---------------------------------------------------------------------------- results


def test_results_view_counts_every_validation_example(qtbot, workspace, dataset):
    view = show(qtbot, QtResultsView(workspace), (1200, 800))
    assert view.matrix.sum() == len(dataset.x_val)
    expected = probes.confusion(workspace.model, dataset.x_val, dataset.y_val, dataset.num_classes)
    np.testing.assert_array_equal(view.matrix, expected)
    wrong = len(dataset.x_val) - int(np.trace(expected))
    assert view.gallery.count() == min(wrong, 48)
    assert f"{wrong} misclassified examples" in view.gallery_label.text()
    first = view.wrong[0]
    assert first.predicted != first.true
    assert distinct_colors(view.matrix_view) > 5
    assert distinct_colors(view.gallery) > 10


def test_results_say_what_is_missing(qtbot, trained):
    spec, model, _ = trained
    workspace = Workspace(NetworkDocument(spec))
    view = show(qtbot, QtResultsView(workspace), (700, 300))
    assert "Train the network (Train tab)" in view.message.text()
    workspace.set_model(model)
    settle(qtbot, view)
    assert view.message.isVisible() and "no validation data" in view.message.text()


# ---------------------------------------------------------------------------- never on the GUI thread


class GapMeter:
    """A 5 ms precise QTimer recording the longest wait between its ticks: how long the event loop stalled."""

    def __init__(self, interval_ms: int = 5):
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._tick)
        self.last = None
        self.longest = 0.0
        self.ticks = 0

    def _tick(self) -> None:
        now = time.perf_counter()
        if self.last is not None:
            self.longest = max(self.longest, now - self.last)
        self.last = now
        self.ticks += 1

    def __enter__(self):
        self.timer.start()
        return self

    def __exit__(self, *exc):
        self.timer.stop()


def tiny_network_and_big_validation_set(count: int = 10_000):
    spec = NetworkSpec((8, 8, 1), [LayerSpec("conv", "Conv2D", {"filters": 4, "kernel_size": 3}),
                                   LayerSpec("flat", "Flatten"),
                                   LayerSpec("out", "Dense", {"units": 10, "activation": "softmax"})], "tiny")
    rng = np.random.default_rng(0)
    x = rng.random((count + 16, 8, 8, 1), dtype=np.float32)
    y = rng.integers(0, 10, count + 16)
    data = Dataset("noise", x[:16], y[:16], x[16:], y[16:], [str(i) for i in range(10)])
    return spec, data


@pytest.fixture
def collector_as_in_the_window():
    """The window takes what is alive once TensorFlow is loaded out of the garbage collector's sight
    (a full collection over it stalls every thread); so does this test, and gives it back after."""
    keep_out_of_collections()
    yield
    gc.unfreeze()


def test_the_results_view_fills_for_10000_examples_without_stalling_the_event_loop(qtbot, collector_as_in_the_window):
    spec, data = tiny_network_and_big_validation_set()
    small = Dataset("few", data.x_train, data.y_train, data.x_val[:300], data.y_val[:300], data.class_names)
    workspace = Workspace(NetworkDocument(spec))
    workspace.set_dataset(small)
    view = show(qtbot, QtResultsView(workspace), (900, 600))
    model = build_model(spec, seed=0)
    with qtbot.waitSignal(view.sig_updated, timeout=TASK_TIMEOUT_MS):  # a first fill: painted once, the model run
        workspace.set_model(model)
    assert view.matrix.sum() == 300
    partial = []
    with GapMeter() as meter, qtbot.waitSignal(view.sig_updated, timeout=TASK_TIMEOUT_MS):
        workspace.set_dataset(data)
        assert view.matrix is None and view.accuracy_label.text() == "Predicting the validation set…"
        view.runner.latest.sig_partial.connect(partial.append)
    assert view.matrix.sum() == 10_000
    np.testing.assert_array_equal(view.matrix, probes.confusion(model, data.x_val, data.y_val, 10))
    assert partial and partial[-1].sum() == 10_000  # the matrix filled in batch by batch, the last one complete
    assert all(a.sum() <= b.sum() for a, b in zip(partial, partial[1:], strict=False))
    assert meter.ticks > 3
    assert meter.longest < 0.050, f"the event loop stalled {1000 * meter.longest:.0f} ms"


def test_the_activations_view_runs_the_model_off_the_gui_thread_and_only_for_the_latest_input(
        qtbot, workspace, dataset, monkeypatch):
    view = show(qtbot, QtActivationsView(workspace), (1200, 800))
    ran = []
    real = probes.activations

    def recording(model, x):
        if np.asarray(x).ndim == 3:  # one sample: the view's look at it (the shift panel sends batches)
            ran.append((threading.get_ident(), np.asarray(x).copy()))
        return real(model, x)

    monkeypatch.setattr(probes, "activations", recording)
    with GapMeter() as meter:
        for index in range(1, 21):  # turning the spin box quickly: twenty requests
            view.example_spin.setValue(index)
        settle(qtbot, view)
    assert threading.get_ident() not in {thread for thread, _ in ran}
    assert len(ran) == 2  # the first request, then only the latest of the nineteen that waited
    np.testing.assert_array_equal(ran[-1][1], dataset.x_val[20])
    np.testing.assert_array_equal(view.sample, dataset.x_val[20])
    assert "Validation example 20 of" in view.truth_label.text()
    assert meter.longest < 0.250


def test_clicking_a_filter_shows_its_top_patches_and_a_synthetic_image_off_the_gui_thread(qtbot, workspace, dataset):
    from ui import tasks

    view = show(qtbot, QtFiltersView(workspace))
    view.layer_combo.setCurrentText("conv2")
    panel = view.detector
    point = view.grid.cell_center(3, 0, 0)
    qtbot.mouseClick(view.grid, Qt.MouseButton.LeftButton, pos=point)
    assert panel.title.text() == "What filter #3 of conv2 detects"
    qtbot.waitUntil(lambda: panel.report is not None, timeout=20000)
    report = panel.report
    assert (report.layer, report.channel) == ("conv2", 3) and len(report.patches) == 9
    assert panel.patches.count() == 9 and panel.synthesis.count() == 1
    activations = [p.activation for p in report.patches]
    assert activations == sorted(activations, reverse=True)
    assert report.synthesis.activations[-1] > report.synthesis.activations[0]
    assert "receptive field of 5x5 pixels" in panel.patches_label.text()
    view.layer_combo.setCurrentText("conv1")
    assert panel.report is None and panel.patches.count() == 0
    qtbot.waitUntil(lambda: not tasks.running(), timeout=20000)


def test_the_shift_sliders_move_the_input_and_the_plots_show_equivariance_and_invariance(qtbot, workspace, dataset):
    from cnnstudio.inspection import equivariance

    view = QtActivationsView(workspace)
    panel = view.shift_panel
    with qtbot.waitSignal(panel.sig_measured, timeout=20000):
        show(qtbot, view)
    x_curve = panel.curves["x"]
    conv1 = x_curve.layer("conv1")
    assert all(conv1.exact) and max(conv1.error) < 1e-5
    pool = x_curve.layer("pool")
    assert [e for e, exact in zip(pool.error, pool.exact, strict=True) if not exact] and max(pool.error) > 1e-3
    assert set(panel.curves) == {"x", "y"} and len(x_curve.prediction_change) == 9
    assert len(panel.error_plot.getPlotItem().listDataItems()) == 3  # conv1, conv2, pool
    for legend, plot, names in ((panel.error_legend, panel.error_plot, ("conv1", "conv2", "pool")),
                                (panel.change_legend, panel.change_plot, ("along x", "along y"))):
        assert all(f"&nbsp;{name}<" in legend.text() for name in names)
        assert plot.getPlotItem().legend is None  # named beside the plot, not drawn over its curves
        assert not legend.geometry().intersects(plot.geometry())
    qtbot.waitUntil(lambda: view.sample is not None)
    with qtbot.waitSignal(view.sig_updated, timeout=20000):
        panel.dx.setValue(2)
    np.testing.assert_array_equal(view.sample, equivariance.shift_input(dataset.x_val[0], 2, 0))
    assert "shifted by (+2, +0) pixels" in view.truth_label.text()
    assert panel.markers[0].value() == 2
    with qtbot.waitSignal(panel.sig_measured, timeout=20000):
        panel.mode_combo.setCurrentText("wrap")
    assert panel.curves["x"].mode == "wrap"


def test_clicking_a_matrix_cell_lists_its_examples_and_an_example_opens_in_activations(qtbot, workspace, dataset):
    view = show(qtbot, QtResultsView(workspace), (1200, 800))
    matrix = view.matrix
    off = np.argwhere((matrix > 0) & ~np.eye(len(matrix), dtype=bool))
    true, predicted = (int(v) for v in off[0])
    matrix_view = view.matrix_view
    qtbot.mouseClick(matrix_view, Qt.MouseButton.LeftButton, pos=matrix_view.cell_rect(true, predicted).center())
    assert view.cell == (true, predicted)
    assert view.gallery.count() == min(int(matrix[true, predicted]), 48)
    labels = probes.probabilities(workspace.model, dataset.x_val[view.shown]).argmax(axis=1)
    assert set(labels) == {predicted} and set(dataset.y_val[view.shown]) == {true}
    assert f"{matrix[true, predicted]} examples of" in view.gallery_label.text()

    activations = show(qtbot, QtActivationsView(workspace))
    view.sig_open_example.connect(activations.show_validation_example)
    qtbot.mouseClick(view.gallery, Qt.MouseButton.LeftButton, pos=view.gallery.tile_rect(0).center())
    assert activations.source_combo.currentText() == "Validation example"
    assert activations.example_spin.value() == view.shown[0]
    settle(qtbot, activations)
    assert f"Validation example {view.shown[0]} of" in activations.truth_label.text()

    qtbot.mouseClick(matrix_view, Qt.MouseButton.LeftButton, pos=matrix_view.cell_rect(true, predicted).center())
    assert view.cell is None and "misclassified examples" in view.gallery_label.text()


def test_predict_a_file_previews_kaggles_submission_and_saves_it(qtbot, workspace, dataset, tmp_path):
    pixels = np.rint(dataset.x_val[:25].reshape(25, -1) * 255).astype(int)
    header = ",".join(["label"] + [f"pixel{i}" for i in range(64)])
    np.savetxt(tmp_path / "labelled.csv", np.column_stack([dataset.y_val[:25], pixels]), fmt="%d",
               delimiter=",", header=header, comments="")
    view = show(qtbot, QtResultsView(workspace), (1200, 800))
    panel = view.predict_panel
    with qtbot.waitSignal(panel.sig_predicted, timeout=TASK_TIMEOUT_MS):
        panel.predict(str(tmp_path / "labelled.csv"))
    expected = probes.probabilities(workspace.model, dataset.x_val[:25]).argmax(axis=1)
    assert panel.preview.rowCount() == 10
    assert [panel.preview.item(r, 0).text() for r in range(10)] == [str(i) for i in range(1, 11)]
    assert [int(panel.preview.item(r, 1).text()) for r in range(10)] == expected[:10].tolist()
    right = int(np.sum(expected == dataset.y_val[:25]))
    assert "25 images predicted" in panel.status.text()
    assert f"The file has labels: {right} of 25 right" in panel.status.text()
    panel.save_submission(str(tmp_path / "submission.csv"))
    lines = (tmp_path / "submission.csv").read_text().splitlines()
    assert lines[0] == "ImageId,Label" and len(lines) == 26 and lines[1] == f"1,{expected[0]}"
    with qtbot.waitSignal(panel.sig_predicted, timeout=TASK_TIMEOUT_MS):
        panel.predict(str(tmp_path / "missing.csv"))
    assert "Cannot predict this file: There is no file" in panel.status.text()
