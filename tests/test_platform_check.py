"""Before Qt starts: a missing xcb library is named with the package to install, not a Qt abort."""

import sys
from pathlib import Path

from ui import launcher, platform_check


def test_debian_package_names_follow_the_soname():
    assert platform_check.debian_package("libxcb-cursor.so.0") == "libxcb-cursor0"
    assert platform_check.debian_package("libxcb-icccm.so.4") == "libxcb-icccm4"
    assert platform_check.debian_package("libxkbcommon-x11.so.0") == "libxkbcommon-x11-0"


def test_offscreen_needs_no_x_libraries():
    assert platform_check.missing_xcb_packages("offscreen") == []


def test_ldd_reports_what_a_binary_cannot_find():
    assert platform_check.unresolved_libraries(Path(sys.executable).resolve()) == []
    assert platform_check.xcb_plugin() is None or platform_check.xcb_plugin().name == "libqxcb.so"


def test_the_window_command_names_the_package_instead_of_starting_qt(monkeypatch, capsys):
    monkeypatch.setattr(platform_check, "missing_xcb_packages", lambda: ["libxcb-cursor0"])
    monkeypatch.setenv("QT_QPA_PLATFORM", "xcb")
    assert launcher.main(["gui", "digits-cnn"]) == 1
    err = capsys.readouterr().err
    assert "libxcb-cursor0, which is not installed" in err
    assert "sudo apt-get install libxcb-cursor0" in err


def test_quitting_the_window_ends_the_process_without_the_slow_teardown(tmp_path):
    import json
    import os
    import subprocess

    from cnnstudio.network import presets
    from cnnstudio.workspace.project import Project, save_project

    project = tmp_path / "p.cnnproj.json"
    save_project(Project(network=presets.get("digits-cnn")), project)
    code = (
        "import atexit, sys\n"
        "atexit.register(lambda: print('finalised', flush=True))\n"
        "from PySide6.QtCore import QTimer\n"
        "import ui.app\n"
        "show = ui.app.QtMainWindow.show\n"
        "def show_then_quit(self):\n"
        "    show(self)\n"
        "    QTimer.singleShot(200, self.close)\n"
        "ui.app.QtMainWindow.show = show_then_quit\n"
        f"sys.argv = ['cnnstudio', 'gui', {str(project)!r}]\n"
        "from ui.launcher import entry\n"
        "entry()\n"
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    assert "finalised" not in out.stdout  # the teardown that can hang was skipped
    settings = next(tmp_path.rglob("cnnstudio.conf")).read_text()
    assert str(project) in settings  # the settings were written before the process ended
    assert json.loads(project.read_text())["network"]["name"] == "digits-cnn"


def test_a_headless_command_ends_its_process_without_the_teardown_once_its_output_is_out(tmp_path):
    """``python -m cnnstudio`` (and every training child) skips finalising TensorFlow: 1 s of CPU each."""
    import subprocess

    code = (
        "import atexit, runpy, sys\n"
        "atexit.register(lambda: print('finalised', flush=True))\n"
        "sys.argv = ['cnnstudio', 'summary', 'lenet5', '--json']\n"
        "runpy.run_module('cnnstudio', run_name='__main__')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "finalised" not in out.stdout
    assert '"c1"' in out.stdout  # the command's output was flushed before the end
