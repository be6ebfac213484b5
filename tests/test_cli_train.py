"""`cnnstudio train` and `cnnstudio doctor` through the real command line entry point."""

from __future__ import annotations

import io
import json
import sys

import numpy as np
import pytest

from cnnstudio.cli import main


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    """digits-cnn, 3 epochs on digits, saved to a .keras file: shared by the checks below (without XLA,
    which the two-worker test below trains with: compiling the last, partial batch's steps again
    would double this run's time)."""
    out = tmp_path_factory.mktemp("cli") / "digits.keras"
    capture = pytest.MonkeyPatch()
    stdout, stderr = io.StringIO(), io.StringIO()
    capture.setattr(sys, "stdout", stdout)
    capture.setattr(sys, "stderr", stderr)
    try:
        code = main(["train", "digits-cnn", "--dataset", "digits", "--epochs", "3", "--seed", "0",
                     "--no-xla", "--save", str(out), "--json"])
    finally:
        capture.undo()
    return code, stdout.getvalue(), stderr.getvalue(), out


def test_digits_cnn_reaches_90_percent_in_three_epochs(digits_run):
    code, stdout, _, _ = digits_run
    assert code == 0
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert {"epochs", "loss", "accuracy", "val_loss", "val_accuracy", "seconds", "images_per_second"} <= set(summary)
    assert summary["epochs"] == 3 and summary["status"] == "completed"
    assert summary["val_accuracy"] >= 0.90
    assert summary["seconds"] > 0 and summary["images_per_second"] > 0


def test_progress_bar_goes_to_stderr(digits_run):
    _, stdout, stderr, _ = digits_run
    assert "Training digits-cnn on digits: 1438 training and 359 validation examples of 8x8x1" in stderr
    assert "Epoch 3/3 [" in stderr and "img/s" in stderr and "val_accuracy" in stderr
    assert "Epoch" not in stdout


def test_saved_model_reloads_and_predicts_like_the_summary(digits_run):
    import keras

    from cnnstudio.training.data import load_dataset

    _, stdout, _, out = digits_run
    model = keras.saving.load_model(out)
    ds = load_dataset("digits")
    accuracy = float(np.mean(np.argmax(model.predict(ds.x_val, verbose=0), axis=1) == ds.y_val))
    assert accuracy == pytest.approx(json.loads(stdout.strip().splitlines()[-1])["val_accuracy"], abs=1e-6)
    assert not list(out.parent.glob(".*tmp*"))


def test_project_runs_are_recorded_and_resume(tmp_path, capsys):
    from cnnstudio.network import presets
    from cnnstudio.workspace import runs
    from cnnstudio.workspace.project import Project, load_project, save_project

    path = tmp_path / "seq.cnnproj"
    project = Project(network=presets.get("mnist1d-cnn"))
    runs.set_project_settings(project, runs.TrainingSettings(epochs=1, batch_size=128, jit_compile=False), "mnist1d")
    save_project(project, path)
    assert main(["train", str(path), "--json"]) == 0
    first = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert main(["train", str(path), "--resume", "--json"]) == 0
    second = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    records = runs.list_runs(load_project(path))
    assert [r.id for r in records] == ["run-001", "run-002"]
    assert records[0].dataset == "mnist1d" and records[0].settings["batch_size"] == 128
    assert records[1].resumed_from == "run-001"
    assert (tmp_path / "seq.runs" / "run-002.weights.h5").is_file()
    assert second["loss"] < first["loss"]


def test_wrong_shaped_data_is_refused_with_both_shapes(capsys):
    assert main(["train", "digits-cnn", "--dataset", "mnist1d", "--epochs", "1"]) == 1
    err = capsys.readouterr().err
    assert "The data's sequences are 40x1 but the network's input is 8x8x1." in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "digits-cnnn"], 'Unknown preset "digits-cnnn". Did you mean "digits-cnn"?'),
        (["train", "digits-cnn", "--lr", "-1"], "Bad learning rate. Expected a positive number"),
        (["train", "digits-cnn", "--dataset", "nowhere.csv"], 'There is no data set "nowhere.csv"'),
        (["train", "digits-cnn", "--device", "gpu:x"], 'Unknown device. Expected "auto"'),
    ],
)
def test_bad_arguments_say_what_to_fix(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_doctor_reports_versions_and_the_gpu(capsys):
    import keras
    import tensorflow as tf

    assert main(["doctor"]) == 0
    text = capsys.readouterr().out
    assert tf.__version__ in text and keras.__version__ in text
    assert "\nGPU: " in text
    assert main(["doctor", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    if not report["gpus"]:
        assert report["gpu_status"].startswith("none")


def _free_ports(count):
    """Ports free on localhost now (held open together, so they differ)."""
    import contextlib
    import socket

    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for s in sockets:
            s.bind(("localhost", 0))
        return [s.getsockname()[1] for s in sockets]


def _start_workers(train_args: list[str], folders: list) -> list:
    """``cnnstudio train digits-cnn --device workers ...`` in one process per folder, under one TF_CONFIG
    cluster on localhost, as on machines of their own; the second and later without ``--device``,
    which TF_CONFIG alone makes a worker of the cluster."""
    import os
    import subprocess

    cluster = {"worker": [f"localhost:{port}" for port in _free_ports(len(folders))]}
    procs = []
    for index, folder in enumerate(folders):
        tf_config = {"cluster": cluster, "task": {"type": "worker", "index": index}}
        env = {**os.environ, "TF_CONFIG": json.dumps(tf_config), "TF_CPP_MIN_LOG_LEVEL": "3"}
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "cnnstudio", "train", "digits-cnn", "--dataset", "digits",
             *(["--device", "workers"] if index == 0 else []), *train_args, "--json"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=folder,
        ))
    return procs


def _worker_summaries(procs: list, first=None) -> list[dict]:
    """Run ``first`` (if any), wait for every worker and read each one's JSON summary; no worker
    outlives the test, whatever fails."""
    try:
        if first is not None:
            first()
        outputs = [proc.communicate(timeout=300) for proc in procs]
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
    summaries = []
    for proc, (stdout, stderr) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, stderr[-2000:]
        summaries.append(json.loads(stdout.strip().splitlines()[-1]))
    return summaries


def test_two_workers_train_one_model_and_only_the_chief_saves(tmp_path):
    """Two processes under TF_CONFIG, as on two machines: the custom strategy.run loop trains
    one model on both (Keras' fit cannot, keras-team/keras#20585)."""
    folders = [tmp_path / "worker0", tmp_path / "worker1"]
    for folder in folders:
        folder.mkdir()
    summaries = _worker_summaries(_start_workers(["--epochs", "2", "--save", "model.keras"], folders))
    for summary in summaries:
        assert summary["status"] == "completed" and summary["epochs"] == 2
        assert summary["replicas"] == 2 and summary["device"] == "2 replica(s) across workers (TF_CONFIG)"
        assert summary["val_accuracy"] >= 0.9
    assert summaries[0]["weights_sha256"] == summaries[1]["weights_sha256"]
    assert (tmp_path / "worker0" / "model.keras").is_file()
    assert list((tmp_path / "worker1").iterdir()) == []  # the other worker saved nothing


def test_ctrl_c_on_the_chief_stops_every_worker_at_the_same_step(tmp_path):
    """A Stop on one worker travels with the next step: all end together, none waits for ever."""
    import signal

    procs = _start_workers(["--epochs", "100", "--no-xla"], [tmp_path, tmp_path])

    def stop_the_chief_after_its_first_epoch_starts():
        for line in procs[0].stderr:  # the chief's progress: one line per epoch
            if line.startswith("\rEpoch 1/100") or line.startswith("Epoch 1/100"):
                break
        procs[0].send_signal(signal.SIGINT)

    summaries = _worker_summaries(procs, stop_the_chief_after_its_first_epoch_starts)
    assert [s["status"] for s in summaries] == ["stopped", "stopped"]
    assert summaries[0]["epochs"] == summaries[1]["epochs"] < 100
    assert summaries[0]["weights_sha256"] == summaries[1]["weights_sha256"]
