"""The project file: round trips, atomic saves, and broken files refused with the field."""

import json
import os
import stat

import numpy as np
import pytest

from cnnstudio import files
from cnnstudio.inspection.pictures import write_png
from cnnstudio.network import presets
from cnnstudio.network.spec import SpecError
from cnnstudio.workspace.project import FORMAT, Project, ProjectError, load_project, save_project


def write(path, data):
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return path


def valid(tmp_path):
    return Project(network=presets.get("resnet18", input_shape=(32, 32, 3), num_classes=10),
                   training={"epochs": 3, "optimizer": {"name": "adam", "learning_rate": 1e-3}},
                   runs=[{"id": "run-1", "val_accuracy": [0.5, 0.7]}])


def test_round_trip_keeps_network_training_and_runs(tmp_path):
    project = valid(tmp_path)
    path = save_project(project, tmp_path / "net.cnnproj")
    assert project.path == path
    data = json.loads(path.read_text())
    assert (data["format"], data["version"]) == (FORMAT, 1)
    loaded = load_project(path)
    assert loaded.network.to_dict() == project.network.to_dict()
    assert loaded.training == project.training and loaded.runs == project.runs
    assert loaded.path == path
    assert [p.name for p in tmp_path.iterdir()] == ["net.cnnproj"]


def test_failed_save_leaves_the_old_file_and_no_temporary(tmp_path):
    project = valid(tmp_path)
    path = save_project(project, tmp_path / "net.cnnproj")
    before = path.read_text()
    project.training["callback"] = object()
    with pytest.raises(ProjectError, match="^training: expected plain JSON values"):
        save_project(project)
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["net.cnnproj"]


def test_saved_files_get_the_usual_mode_and_keep_a_chosen_one(tmp_path):
    umask = os.umask(0o022)
    os.umask(umask)
    usual = 0o666 & ~umask  # what open() gives; a bare temporary file would be 0600
    assert usual == files.NEW_FILE_MODE
    path = save_project(valid(tmp_path), tmp_path / "net.cnnproj")
    png = write_png(tmp_path / "picture.png", np.zeros((2, 2), np.uint8))
    assert stat.S_IMODE(path.stat().st_mode) == stat.S_IMODE(png.stat().st_mode) == usual
    path.chmod(0o640)
    save_project(load_project(path))
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


@pytest.mark.parametrize(("data", "field", "message"), [
    ('{"format": "cnnstudio-project", "version": 1, "netw', "(file)", "is not valid JSON"),
    ([1, 2], "(file)", "expected a JSON object"),
    ({"format": "other", "version": 1, "network": {}}, "format", "this is not a CNN Studio project"),
    ({"format": FORMAT, "version": 99, "network": {}}, "version", "newer than the 1"),
    ({"format": FORMAT, "version": "1", "network": {}}, "version", "expected a format version"),
    ({"format": FORMAT, "version": 1}, "network", "missing"),
    ({"format": FORMAT, "version": 1, "network": {}, "extra": 1}, "extra", "unknown field"),
    ({"format": FORMAT, "version": 1, "network": {"input_shape": [8, 8, 1]}, "training": []},
     "training", "expected an object"),
    ({"format": FORMAT, "version": 1, "network": {"input_shape": [8, 8, 1]}, "runs": {}},
     "runs", "expected a list"),
    ({"format": FORMAT, "version": 1, "network": {"input_shape": [8, -8, 1]}},
     "network.input_shape", "positive integers"),
    ({"format": FORMAT, "version": 1, "network": {"input_shape": [8, 8, 1], "layers": [
        {"name": "c", "type": "Conv2D", "params": {"kernal_size": 3}}]}},
     "network.layers[0].params.kernal_size", 'Did you mean "kernel_size"?'),
    ({"format": FORMAT, "version": 1, "network": {"input_shape": [8, 8, 1], "layers": [
        {"name": "c", "type": "Conv3D"}]}},
     "network.layers[0].type", 'unknown layer type "Conv3D"'),
    ({"format": FORMAT, "version": 1, "network": {"input_shape": [8, 8, 1], "layers": [
        {"name": "c", "type": "Add", "inputs": ["input", "later"]}]}},
     "network.layers[0].inputs", '"later" is not the input or an earlier layer'),
])
def test_broken_files_are_refused_naming_the_field(tmp_path, data, field, message):
    path = write(tmp_path / "broken.cnnproj", data)
    with pytest.raises(ProjectError) as info:
        load_project(path)
    assert info.value.field == field
    assert message in str(info.value)
    assert isinstance(info.value, SpecError)


def test_missing_file_and_save_without_a_path(tmp_path):
    with pytest.raises(ProjectError, match="does not exist"):
        load_project(tmp_path / "nope.cnnproj")
    with pytest.raises(ProjectError, match="expected a path to save it to"):
        save_project(Project(network=presets.get("lenet5")))
