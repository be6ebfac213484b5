"""A run's timeline kept beside its weights, and read back for a reopened project."""

import numpy as np
import pytest

from cnnstudio.inspection.probes import Timeline
from cnnstudio.workspace import runs
from cnnstudio.workspace.project import ProjectError


def small_timeline():
    timeline = Timeline(fixed_input=np.arange(12, dtype="float32").reshape(2, 2, 3))
    for epoch in range(3):
        timeline.record(epoch, {"conv1": np.full((3, 3, 1, 4), epoch, "float32")},
                        {"conv1": np.full((2, 2, 4), epoch + 0.5, "float32"), "output": np.ones(10, "float32")})
    return timeline


def test_a_timeline_round_trips_through_its_file(tmp_path):
    path = tmp_path / "run-001.timeline.npz"
    assert runs.save_timeline(small_timeline(), path)
    loaded = runs.load_timeline(path)
    assert list(loaded.epochs) == [0, 1, 2]
    np.testing.assert_array_equal(loaded.fixed_input, small_timeline().fixed_input)
    epoch, kernels, acts = loaded.at(2)
    assert epoch == 2 and set(acts) == {"conv1", "output"}
    np.testing.assert_array_equal(kernels["conv1"], np.full((3, 3, 1, 4), 2, "float32"))
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left


def test_a_timeline_over_the_limit_is_not_written(tmp_path, monkeypatch):
    monkeypatch.setattr(runs, "TIMELINE_LIMIT_BYTES", 100)
    assert not runs.save_timeline(small_timeline(), tmp_path / "big.timeline.npz")
    assert list(tmp_path.iterdir()) == []


def test_a_broken_timeline_file_is_refused_with_its_name(tmp_path):
    path = tmp_path / "run-001.timeline.npz"
    path.write_bytes(b"not a zip")
    with pytest.raises(ProjectError, match="run-001.timeline.npz cannot be read"):
        runs.load_timeline(path)
