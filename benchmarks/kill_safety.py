"""SIGKILL at random moments during `train --save`, `export --force` and project saves (issue 13).

After each kill the destination must hold the complete old file (or folder) or the complete
new one, and nothing else may be lost: other files beside it are untouched, and the next save
cleans up what the killed one left (only our ``.NAME.cnnstudio-PID-...`` names).

    python benchmarks/kill_safety.py                 # 20 kills of each kind (a few minutes)
    python benchmarks/kill_safety.py --kills 5 --only project

Prints one line per kind: kills, how many landed before/after the write, failures (0 expected).
Exit status 1 if any kill left a broken or missing destination.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "", "PYTHONPATH": str(ROOT)}
TEMP_MARK = ".cnnstudio-"


def run_and_kill(command: list[str], delay: float, cwd: Path, timing: dict | None = None) -> int | None:
    """Start ``command``, SIGKILL it after ``delay`` seconds (if still running); its exit code or None.

    ``timing["duration"]``, the run time the next delay is drawn from, follows the runs that finish
    first: on a loaded machine the first timed run may take twice as long as the later ones, and
    then no kill would land."""
    start = time.perf_counter()
    child = subprocess.Popen(command, cwd=cwd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        code = child.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        child.send_signal(signal.SIGKILL)
        child.wait()
        return None
    if timing is not None:
        timing["duration"] = time.perf_counter() - start
    return code


def timed(command: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=ENV, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def bystanders(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.name.startswith("bystander")}


def _keras_complete(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            return archive.testzip() is None and {"config.json", "model.weights.h5"} <= names
    except (OSError, zipfile.BadZipFile):
        return False


def _savedmodel_complete(path: Path) -> bool:
    return (path / "saved_model.pb").is_file() and (path / "variables" / "variables.index").is_file() \
        and (path / "cnnstudio-export.json").is_file()


def _identity(folder: Path) -> tuple[int, int]:
    """Which export is at ``folder``: a finished --force swap puts a new folder (a new inode) there."""
    stat = (folder / "cnnstudio-export.json").stat()
    return stat.st_ino, stat.st_mtime_ns


def _project_complete(path: Path) -> int | None:
    """The number of runs in the project at ``path`` if it is a complete, valid project file."""
    from cnnstudio.workspace.project import ProjectError, load_project

    try:
        return len(load_project(path).runs)
    except ProjectError:
        return None


def _attempts(report: dict, kills: int):
    """Run numbers until ``kills`` SIGKILLs landed (a run that finished first does not count), at
    most twice as many runs."""
    k = 0
    while report["kills"] < kills and k < 2 * kills:
        yield k
        k += 1


def kill_train_saves(kills: int, folder: Path) -> dict:
    out = folder / "model.keras"
    command = [PYTHON, "-m", "cnnstudio", "train", "digits-cnn", "--epochs", "1", "--save", str(out)]
    duration = timed(command, folder)
    old = out.read_bytes()
    (folder / "bystander.txt").write_text("keep me")
    before = bystanders(folder)
    report = {"kills": 0, "old": 0, "new": 0, "failures": [], "seconds_per_run": round(duration, 1)}
    timing = {"duration": duration}
    for k in _attempts(report, kills):
        duration = timing["duration"]
        code = run_and_kill(command, random.uniform(0.4 * duration, 0.95 * duration), folder, timing)
        report["kills"] += code is None
        if out.exists() and out.read_bytes() == old:
            report["old"] += 1
        elif _keras_complete(out):
            report["new"] += 1
            old = out.read_bytes()
        else:
            report["failures"].append(f"kill {k}: {out.name} is missing or incomplete")
        if bystanders(folder) != before:
            report["failures"].append(f"kill {k}: a file beside it changed")
    return report


def kill_export_forces(kills: int, folder: Path) -> dict:
    project = folder / "net.cnnproj"
    from cnnstudio.network import presets
    from cnnstudio.workspace.project import Project, save_project

    save_project(Project(network=presets.get("digits-cnn")), project)
    out = folder / "exported"
    command = [PYTHON, "-m", "cnnstudio", "export", str(project), "--format", "savedmodel", str(out), "--force"]
    duration = timed(command, folder)
    (folder / "bystander.bin").write_bytes(os.urandom(64))
    before = bystanders(folder)
    report = {"kills": 0, "old": 0, "new": 0, "failures": [], "seconds_per_run": round(duration, 1)}
    old = _identity(out)
    timing = {"duration": duration}
    for k in _attempts(report, kills):
        duration = timing["duration"]
        code = run_and_kill(command, random.uniform(0.4 * duration, 0.95 * duration), folder, timing)
        report["kills"] += code is None
        if _savedmodel_complete(out):
            now = _identity(out)
            report["old" if now == old else "new"] += 1
            old = now
        else:
            report["failures"].append(f"kill {k}: {out.name} is missing or incomplete: "
                                      f"{sorted(p.name for p in out.iterdir()) if out.is_dir() else 'absent'}")
        if bystanders(folder) != before:
            report["failures"].append(f"kill {k}: a file beside it changed")
    subprocess.run(command, cwd=folder, env=ENV, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    left = [p.name for p in folder.iterdir() if TEMP_MARK in p.name and p.name.startswith(".exported.")]
    if left:
        report["failures"].append(f"after a last export, leftovers remain: {left}")
    return report


SAVER = """
import sys
from cnnstudio.workspace.project import load_project, save_project
path = sys.argv[1]
project = load_project(path)
while True:
    project.runs.append({"id": f"run-{len(project.runs) + 1:05d}", "status": "completed",
                         "history": {"loss": [0.5] * 200}})
    save_project(project)
"""


def kill_project_saves(kills: int, folder: Path) -> dict:
    from cnnstudio.network import presets
    from cnnstudio.workspace.project import Project, save_project

    path = save_project(Project(network=presets.get("resnet18")), folder / "p.cnnproj")
    (folder / "bystander.json").write_text("{}")
    before = bystanders(folder)
    report = {"kills": 0, "complete": 0, "failures": []}
    count = 0
    for k in range(kills):
        run_and_kill([PYTHON, "-c", SAVER, str(path)], random.uniform(0.3, 1.5), folder)
        report["kills"] += 1
        runs = _project_complete(path)
        if runs is None or runs < count:
            report["failures"].append(f"kill {k}: the project is broken or lost runs ({runs} < {count})")
        else:
            report["complete"] += 1
            count = runs
        if bystanders(folder) != before:
            report["failures"].append(f"kill {k}: a file beside it changed")
    from cnnstudio.workspace.project import load_project

    save_project(load_project(path))
    left = [p.name for p in folder.iterdir() if TEMP_MARK in p.name]
    if left:
        report["failures"].append(f"after a last save, leftovers remain: {left}")
    report["runs_kept"] = count
    return report


KINDS = {"train": kill_train_saves, "export": kill_export_forces, "project": kill_project_saves}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--only", choices=sorted(KINDS), action="append")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    random.seed(args.seed)
    sys.path.insert(0, str(ROOT))
    failed = False
    for name in args.only or list(KINDS):
        with tempfile.TemporaryDirectory(prefix=f"kill-{name}-") as folder:
            report = KINDS[name](args.kills, Path(folder))
        failed |= bool(report["failures"])
        print(f"{name}: {json.dumps(report)}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
