"""Nothing lost (issue 13): exports replace only our own, a full disk says so for every format,
interrupted saves are cleaned up, `train --save` checks first and a failed run keeps the old
file, concurrent runs get their own ids, and a save merges what others wrote meanwhile."""

import contextlib
import importlib.util
import os
import shutil
import subprocess
import threading
import time
import zipfile
from collections import namedtuple
from pathlib import Path

import pytest

from cnnstudio import files
from cnnstudio.cli import main
from cnnstudio.models import builder, deploy, export
from cnnstudio.network import presets
from cnnstudio.training.loop import TrainingResult, TrainingSettings
from cnnstudio.workspace.document import ChangedOnDisk, NetworkDocument
from cnnstudio.workspace.project import Project, load_project, save_project
from cnnstudio.workspace.runs import record_run

DEAD_PID = 4_000_000  # above Linux's pid_max: no process has it


@pytest.fixture(scope="module")
def model():
    return builder.build_model(presets.get("digits-cnn"))


def exports(model, tmp_path):
    """Each format's export function with its destination in ``tmp_path``."""
    spec = presets.get("digits-cnn")
    return {
        "savedmodel": (lambda out, **kw: export.export_savedmodel(model, out, **kw), tmp_path / "sm"),
        "keras": (lambda out, **kw: export.export_keras(model, out, **kw), tmp_path / "m.keras"),
        "python": (lambda out, **kw: export.export_python(spec, out, model=model, **kw), tmp_path / "m.py"),
        "tflite": (lambda out, **kw: deploy.export_tflite(model, out, **kw), tmp_path / "m.tflite"),
        "onnx": (lambda out, **kw: deploy.export_onnx(model, out, **kw), tmp_path / "m.onnx"),
    }


HAS_DEPLOY = all(importlib.util.find_spec(name) for name in ("ai_edge_litert", "tf2onnx", "onnxruntime"))
DEPLOYED = [pytest.param(kind, marks=pytest.mark.skipif(not HAS_DEPLOY, reason="the deploy extra is not installed"))
            for kind in ("tflite", "onnx")]


@pytest.mark.parametrize("kind", ["savedmodel", "keras", "python", *DEPLOYED])
def test_force_replaces_an_earlier_export_but_never_a_users_file_or_folder(model, tmp_path, kind):
    write, out = exports(model, tmp_path)[kind]
    users = tmp_path / f"users{out.suffix}"
    users.mkdir()
    (users / "thesis.tex").write_text("years of work")
    plain = tmp_path / f"plain{out.suffix}"
    plain.write_text("mine")
    for theirs in (users, plain):
        with pytest.raises(export.ExportError, match="not an earlier .* export by CNN Studio, so --force does not "
                                                     "replace it; it was left untouched"):
            write(theirs, force=True)
    assert (users / "thesis.tex").read_text() == "years of work" and plain.read_text() == "mine"
    write(out)
    write(out, force=True)
    other = "keras" if kind != "keras" else "savedmodel"
    assert export.EXPORT_KINDS[kind][2](out) == kind and export.EXPORT_KINDS[other][2](out) is None
    if kind in ("tflite", "onnx"):  # no room for a marker inside: a manifest beside it lists its content
        out.write_bytes(out.read_bytes() + b"changed by the user")
        with pytest.raises(export.ExportError, match="left untouched"):
            write(out, force=True)


def test_the_cli_refuses_to_force_over_a_users_folder(tmp_path, capsys):
    path = save_project(Project(network=presets.get("digits-cnn")), tmp_path / "p.cnnproj")
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "cat.jpg").write_bytes(b"meow")
    assert main(["export", str(path), "--format", "savedmodel", str(folder), "--force"]) == 2
    assert "left untouched" in capsys.readouterr().err
    assert (folder / "cat.jpg").read_bytes() == b"meow"


@pytest.mark.parametrize("kind", ["savedmodel", "keras", "python", *DEPLOYED])
def test_too_little_free_space_is_refused_before_writing(model, tmp_path, monkeypatch, kind):
    write, out = exports(model, tmp_path)[kind]
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(export.shutil, "disk_usage", lambda path: usage(10_000, 9_990, 10))
    with pytest.raises(export.ExportError, match=r"the disk is full \(it needs about [\d,]+ bytes, 10 are free\)"):
        write(out)
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def full_disk(tmp_path):
    """A 16 kB tmpfs (root only: skipped elsewhere)."""
    folder = tmp_path / "full"
    folder.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(folder)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


@pytest.mark.parametrize("kind", ["savedmodel", "keras", "python", *DEPLOYED])
def test_a_disk_that_fills_during_the_export_says_so_and_leaves_nothing(model, full_disk, monkeypatch, kind):
    write, out = exports(model, full_disk)[kind]
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(export.shutil, "disk_usage", lambda path: usage(10 ** 12, 0, 10 ** 12))
    with pytest.raises(export.ExportError, match="the disk is full. Free some space or export to another disk; "
                                                 "nothing was left behind"):
        write(out)
    assert list(full_disk.iterdir()) == []


def test_leftovers_of_killed_saves_are_cleaned_and_nothing_else(model, tmp_path):
    out = tmp_path / "m.keras"
    dead_file = tmp_path / f".m.keras.{files.TEMP_MARK}{DEAD_PID}-abc.keras"
    dead_stage = tmp_path / f".m.keras.{files.TEMP_MARK}{DEAD_PID}-xyz.partial"
    live_file = tmp_path / f".m.keras.{files.TEMP_MARK}1-abc.tmp"  # pid 1 is alive: it may be writing
    users = [tmp_path / ".m.keras.backup", tmp_path / "m.keras.cnnstudio-notes"]
    dead_stage.mkdir()
    (dead_stage / "m.keras").write_text("half")
    for path in (dead_file, live_file, *users):
        path.write_text("x")
    export.export_keras(model, out)
    assert not dead_file.exists() and not dead_stage.exists()
    assert live_file.exists() and all(p.exists() for p in users)
    project = tmp_path / "p.cnnproj"
    leftover = tmp_path / f".p.cnnproj.{files.TEMP_MARK}{DEAD_PID}-q.tmp"
    leftover.write_text("{")
    save_project(Project(network=presets.get("digits-cnn")), project)
    assert not leftover.exists()


def test_a_folder_swap_killed_half_way_is_undone_by_the_next_save(model, tmp_path, monkeypatch):
    out = tmp_path / "sm"
    export.export_savedmodel(model, out)
    stage = tmp_path / f".sm.{files.TEMP_MARK}{DEAD_PID}-k.partial"
    stage.mkdir()
    os.replace(out, stage / "previous")  # the moment a fallback swap was killed: old aside, new not in
    assert files.clean_leftovers(out) == [stage]
    assert (out / "saved_model.pb").is_file() and export.EXPORT_KINDS["savedmodel"][2](out) == "savedmodel"
    monkeypatch.setattr(files, "_exchange", lambda a, b: False)  # a filesystem without RENAME_EXCHANGE
    (out / "stale").write_text("old")
    export.export_savedmodel(model, out, force=True)
    assert not (out / "stale").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["sm"]


@pytest.mark.parametrize("save,expected", [
    ("model.h5", "Expected a path ending in .keras"),
    ("{tmp}", "is a folder"),
    ("{tmp}/a-file/m.keras", "is a file, so"),
    ("/proc/cnnstudio-test/m.keras", "Cannot write to '/proc/cnnstudio-test'"),
])
def test_train_checks_the_save_destination_before_training(tmp_path, capsys, save, expected):
    (tmp_path / "a-file").write_text("x")
    destination = save.format(tmp=tmp_path)
    if destination == str(tmp_path):
        destination = str(tmp_path / "folder.keras")
        Path(destination).mkdir()
    assert main(["train", "digits-cnn", "--epochs", "1", "--save", destination]) == 2
    err = capsys.readouterr().err
    assert "Cannot save the model there, so nothing was trained" in err and expected in err
    assert "Training" not in err


@pytest.mark.parametrize("xla", ["--xla", "--no-xla"])
def test_a_failed_run_never_replaces_a_good_model(tmp_path, capsys, xla):
    """With XLA the loss turns NaN; without it TensorFlow's kernels keep the loss finite on NaN
    outputs, so the weights going NaN must fail the run just the same."""
    good = tmp_path / "good.keras"
    good.write_bytes(b"a good model, trained for days")
    code = main(["train", "digits-cnn", "--epochs", "1", "--optimizer", "sgd", "--lr", "1e30", xla,
                 "--save", str(good)])
    assert code == 1
    err = capsys.readouterr().err
    assert "The run failed, so the model was not saved to" in err
    assert "so training stopped and the weights from the last good epoch were restored" in err
    assert good.read_bytes() == b"a good model, trained for days"


def fake_result(settings=None):
    return TrainingResult(status="completed", error=None, model=None, settings=settings or TrainingSettings(),
                          history={"loss": [1.0]}, epochs_completed=1, seconds=1.0, images_per_second=10.0,
                          device="cpu")


def test_concurrent_recorders_get_unique_ids_and_keep_every_run(tmp_path):
    path = save_project(Project(network=presets.get("digits-cnn")), tmp_path / "p.cnnproj")
    writers = [load_project(path) for _ in range(6)]
    barrier = threading.Barrier(len(writers))
    ids = []

    def record(project):
        barrier.wait()
        ids.append(record_run(project, fake_result(), "digits", "now").id)

    threads = [threading.Thread(target=record, args=(p,)) for p in writers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(ids) == [f"run-{k:03d}" for k in range(1, 7)]
    assert sorted(r["id"] for r in load_project(path).runs) == sorted(ids)


def test_two_train_processes_started_at_once_on_one_project_both_land(tmp_path):
    """The real race: two `cnnstudio train PROJECT --save` children at once (a tiny network, one
    epoch, no XLA). Both runs are in the file under their own ids with their own weights, and both
    models are saved: the project's lock and merge lose no update."""
    import sys

    from cnnstudio.network.spec import LayerSpec, NetworkSpec
    from cnnstudio.workspace.runs import RunRecord, weights_path

    tiny = NetworkSpec(input_shape=(8, 8, 1), name="tiny",
                       layers=[LayerSpec("flatten", "Flatten"), LayerSpec("output", "Dense", {"units": 10})])
    path = save_project(Project(network=tiny), tmp_path / "p.cnnproj.json")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    children = [subprocess.Popen([sys.executable, "-m", "cnnstudio", "train", str(path), "--dataset", "digits",
                                  "--epochs", "1", "--no-xla", "--save", str(tmp_path / f"m{k}.keras")],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
                for k in range(2)]
    try:
        outputs = [child.communicate(timeout=300) for child in children]
    finally:
        for child in children:
            child.kill()
            child.wait()
    assert [child.returncode for child in children] == [0, 0], [err[-2000:] for _out, err in outputs]
    project = load_project(path)
    records = [RunRecord.from_dict(run) for run in project.runs]
    assert sorted(r.id for r in records) == ["run-001", "run-002"]
    weights = {weights_path(project, record) for record in records}
    assert len(weights) == 2 and all(w is not None and w.is_file() for w in weights)
    assert all(zipfile.is_zipfile(tmp_path / f"m{k}.keras") for k in range(2))
    assert project.network.to_dict() == tiny.to_dict()


def test_a_window_save_merges_runs_recorded_meanwhile_and_asks_about_other_edits(tmp_path):
    path = save_project(Project(network=presets.get("digits-cnn")), tmp_path / "p.cnnproj")
    document = NetworkDocument()
    document.open(path)
    record_run(load_project(path), fake_result(), "digits", "now")  # `cnnstudio train` meanwhile
    document.set_training({"epochs": 2})
    document.save()
    assert [r["id"] for r in load_project(path).runs] == ["run-001"]
    assert [r["id"] for r in document.project.runs] == ["run-001"]
    other = load_project(path)
    other.network.name = "edited-elsewhere"
    save_project(other)
    document.set_training({"epochs": 3})
    with pytest.raises(ChangedOnDisk, match="was changed on disk since it was opened here"):
        document.save()
    assert load_project(path).network.name == "edited-elsewhere"
    document.save(overwrite=True)
    loaded = load_project(path)
    assert loaded.network.name == "digits-cnn" and [r["id"] for r in loaded.runs] == ["run-001"]
    with contextlib.suppress(FileNotFoundError):
        assert not [p for p in tmp_path.iterdir() if files.TEMP_MARK in p.name]


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="zombies are told apart through /proc")
def test_a_process_that_ended_but_is_not_reaped_yet_is_not_alive():
    child = subprocess.Popen(["sleep", "0"])
    stat = Path(f"/proc/{child.pid}/stat")
    try:
        deadline = time.monotonic() + 30
        while stat.read_text().rsplit(")", 1)[1].split()[0] != "Z" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not files.process_alive(child.pid)  # a zombie: its temporary files are nobody's now
    finally:
        child.wait()
    assert files.process_alive(os.getpid()) and not files.process_alive(DEAD_PID)
