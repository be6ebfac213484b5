"""The Train tab at the sizes users have: form, curves and runs list all in view, the legend off the curves."""

import argparse

import pytest
from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtWidgets import QApplication, QWidget

from cnnstudio.network import presets
from cnnstudio.workspace.project import Project, save_project

SIZES = [(1000, 700), (1400, 900), (1920, 1080)]


def _run(number: int) -> dict:
    """A finished run's record as the project file keeps it (its weights are not needed here)."""
    loss = [1.2 / (epoch + number) for epoch in range(1, 5)]
    return {"id": f"run-{number:03d}", "dataset": "digits", "status": "completed",
            "settings": {"optimizer": "adam", "learning_rate": 0.001 * number, "epochs": 4},
            "history": {"loss": loss, "val_loss": [v * 1.1 for v in loss],
                        "accuracy": [1 - v / 2 for v in loss], "val_accuracy": [1 - v / 1.8 for v in loss]},
            "epochs_completed": 4, "seconds": 3.0}


@pytest.fixture
def train_tab(studio_window, qtbot, tmp_path):
    """The Train tab of a window opened on a project with five past runs."""
    from ui.training.tab import install_training

    project_file = tmp_path / "runs.cnnproj.json"
    save_project(Project(network=presets.get("digits-cnn"), runs=[_run(n) for n in range(1, 6)]), project_file)
    win = studio_window()
    panel = install_training(win)
    assert win.open_file(project_file, confirm=False)
    win.tabs.setCurrentWidget(panel)
    win.show()
    qtbot.waitExposed(win)
    yield win, panel
    assert win.close()
    win.deleteLater()


def _in_window(widget: QWidget, window: QWidget) -> QRect:
    """What shows of ``widget`` in ``window``'s coordinates: its rectangle clipped by every parent's
    (a scroll area or splitter pane that is too small cuts it)."""
    shown = QRect(widget.mapTo(window, QPoint(0, 0)), widget.size())
    parent = widget.parentWidget()
    while parent is not None and parent is not window:
        shown = shown.intersected(QRect(parent.mapTo(window, QPoint(0, 0)), parent.size()))
        parent = parent.parentWidget()
    return shown.intersected(window.rect())


LOADED = ("mnist-5k: 4000 training and 1000 validation examples of 32x32x1, 10 classes (Padded the 28x28x1 "
          "images with zeros to 32x32x1 (centred) to fit the network's input.)")
RESULT = ("Trained 2 epochs in 13.0 s on CPU.\nloss 0.323, accuracy 0.903, val loss 0.311, val accuracy 0.908\n"
          "Save the project to keep this run and its weights.")


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_the_form_the_curves_and_the_runs_are_in_view_without_scrolling(train_tab, size):
    win, panel = train_tab
    panel.data_label.setText(LOADED)  # the longest texts a finished run leaves
    panel.fit_label.setText("The 28x28x1 images will be padded with zeros to 32x32x1 (centred).")
    panel.message.setText(RESULT)
    win.resize(*size)
    QApplication.processEvents()
    assert (win.width(), win.height()) == size
    inside = win.rect()
    assert not panel.form_scroll.verticalScrollBar().isVisible()  # the whole form shows
    assert not panel.form_scroll.horizontalScrollBar().isVisible()
    for widget in (panel.data_combo, panel.data_label, panel.fit_label, panel.train_button, panel.stop_button,
                   panel.progress, panel.device_label, panel.message, *panel.settings_form.widgets.values()):
        assert widget.isVisible() and inside.contains(_in_window(widget, win)), widget.objectName()
        assert _in_window(widget, win).size() == widget.size(), widget.objectName()  # not cut off
    for plot in panel.plot_widgets:
        assert plot.height() >= 120 and inside.contains(_in_window(plot, win))
    viewport = panel.runs_list.viewport()
    row_height = panel.runs_list.visualItemRect(panel.runs_list.item(0)).height()
    shown = _in_window(viewport, win)
    assert inside.contains(shown) and shown.height() >= 4 * row_height
    assert shown.height() == viewport.height()  # nothing of the list is hidden below the window


def test_a_long_error_scrolls_in_its_own_lines_and_leaves_the_curves_and_runs_in_view(train_tab):
    win, panel = train_tab
    win.resize(1000, 700)
    panel.message.setText("\n".join(f"line {n} of a long error" for n in range(40)))
    QApplication.processEvents()
    lines = panel.message.fontMetrics().lineSpacing()
    assert panel.message_area.height() <= 7 * lines and panel.message_area.verticalScrollBar().isVisible()
    for widget in (*panel.plot_widgets, panel.runs_list.viewport()):
        shown = _in_window(widget, win)
        assert shown.size() == widget.size() and widget.height() >= 4 * lines


def test_the_legend_names_every_curve_and_never_covers_a_plot(train_tab):
    win, panel = train_tab
    win.resize(1000, 700)
    for row in range(panel.runs_list.count()):  # every run overlaid: the longest legend there is
        panel.runs_list.item(row).setCheckState(Qt.CheckState.Checked)
    QApplication.processEvents()
    text = panel.legend.text()
    for name in ("training", "validation", *(f"run-00{n} {kind}" for n in range(1, 6)
                                            for kind in ("training", "validation"))):
        assert f"&nbsp;{name}<" in text
    legend = _in_window(panel.legend, win)
    assert legend.height() >= panel.legend.fontMetrics().height()
    assert panel.legend.height() >= panel.legend.heightForWidth(panel.legend.width())  # no line cut off
    for plot in panel.plot_widgets:
        assert not legend.intersects(_in_window(plot, win))
    for plot in (panel.loss_plot, panel.acc_plot):
        assert plot.legend is None  # no legend drawn inside the plot, over the curves
    panel.runs_list.item(0).setCheckState(Qt.CheckState.Unchecked)
    assert "run-001" not in panel.legend.text() and "run-002 training" in panel.legend.text()


def test_the_gui_command_takes_a_window_size_and_a_tab(train_tab, capsys):
    from ui import app, launcher

    assert launcher.window_size("1000x700") == (1000, 700)
    for bad in ("1000", "1000x", "x700", "0x700", "big"):
        with pytest.raises(argparse.ArgumentTypeError, match=f"Expected for example 1000x700. Received: '{bad}'"):
            launcher.window_size(bad)
    win, panel = train_tab
    assert app.show_tab(win, "results") is False
    assert "there is no tab 'results'. Expected one of: Network, Train" in capsys.readouterr().err
    assert app.show_tab(win, "network") and win.tabs.currentIndex() == 0
    assert app.show_tab(win, "Train") and win.tabs.currentWidget() is panel
