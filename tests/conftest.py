"""Test configuration: Qt renders offscreen, TensorFlow stays quiet, Keras uses TensorFlow.

A modal message box would block an offscreen test run forever, so every test starts with
QMessageBox's static dialogs replaced by a stand-in that fails the test with the dialog's
text; a test that expects a dialog patches the one it expects.
"""

import gc
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import pytest  # noqa: E402
from PySide6.QtWidgets import QMessageBox  # noqa: E402

import cnnstudio  # noqa: E402,F401  (its import guard must come before any import of Keras)


def _unexpected_dialog(kind):
    def show(*args, **kwargs):
        texts = [a for a in args if isinstance(a, str)]
        raise AssertionError(f"unexpected modal QMessageBox.{kind}: {' | '.join(texts)}")

    return staticmethod(show)


def pytest_collection_finish(session):
    """Once the test modules (and with them TensorFlow and Keras) are imported, take what is alive
    out of the collector's sight, as the window does after its TensorFlow import
    (ui.tensorflow_loader.keep_out_of_collections): every GUI test ends with a full collection on the
    GUI thread (ui.garbage), which otherwise walks TensorFlow's ~300,000 objects each time."""
    gc.collect()
    gc.freeze()


@pytest.fixture(scope="module", autouse=True)
def survivors_of_a_module_out_of_collections():
    """What outlives a test module (its fixtures are gone by now: what is left is caches and modules
    that Keras and TensorFlow loaded on first use) stays alive with the process: frozen too, so that
    each GUI test's full collection walks only what the module in progress made."""
    yield
    gc.collect()
    gc.freeze()


@pytest.fixture(scope="session", autouse=True)
def training_fork_server_ends_with_the_session():
    """The fork server is the window process' service, shared by every run in it (here: every test
    of this worker); nothing of it outlives the session."""
    yield
    from cnnstudio.workspace import fork_server

    fork_server.shutdown()


@pytest.fixture(autouse=True)
def no_modal_message_boxes(monkeypatch):
    for kind in ("question", "warning", "critical", "information"):
        monkeypatch.setattr(QMessageBox, kind, _unexpected_dialog(kind))


@pytest.fixture(autouse=True)
def no_task_left_running(request):
    """A GUI test ends only when the work its views started (ui.tasks) has finished."""
    qtbot = request.getfixturevalue("qtbot") if "qtbot" in request.fixturenames else None
    yield
    if qtbot is not None:
        from ui import tasks

        qtbot.waitUntil(lambda: not tasks.running(), timeout=60_000)


@pytest.fixture(autouse=True)
def garbage_collected_on_the_gui_thread(request):
    """GUI tests collect garbage as the studio does, on the GUI thread only (ui.garbage)."""
    if "qtbot" not in request.fixturenames:
        yield
        return
    request.getfixturevalue("qtbot")
    from ui.garbage import GuiThreadCollector

    collector = GuiThreadCollector()
    yield
    collector.stop()
    collector.deleteLater()


@pytest.fixture
def studio_window(tmp_path):
    """Makes a studio window (not shown yet) on a preset, its settings and recovery files in ``tmp_path``.

    ``studio_window("lenet5", settings_file="s2.ini")``: windows that share the recovery folder but
    not their settings; the caller closes what it makes.
    """

    def make(preset: str = "digits-cnn", settings_file: str = "settings.ini"):
        from PySide6.QtCore import QSettings

        from cnnstudio.network import presets
        from cnnstudio.workspace.document import NetworkDocument
        from ui.main_window import QtMainWindow

        settings = QSettings(str(tmp_path / settings_file), QSettings.Format.IniFormat)
        return QtMainWindow(NetworkDocument(presets.get(preset)), settings=settings,
                            recovery_dir=tmp_path / "recovery")

    return make
