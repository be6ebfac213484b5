"""The training child process on its own, without a window: messages, a crash, no leftovers, both ways
of starting it."""

import os
import signal
import subprocess

from cnnstudio.network import presets
from cnnstudio.training import groups
from cnnstudio.training.loop import TrainingSettings
from cnnstudio.workspace import fork_server
from cnnstudio.workspace.training_process import CHECKPOINT, ChildJob, TrainingProcess


def test_a_crashed_child_is_reported_as_a_crash_and_leaves_nothing_running(tmp_path):
    """The child is forked from the fork server (Linux); its server reports how it ended."""
    job = ChildJob(spec=presets.get("digits-cnn").to_dict(), data="digits",
                   settings=TrainingSettings(epochs=50, batch_size=64, jit_compile=False).to_dict(),
                   folder=str(tmp_path / "run"))
    process = TrainingProcess(job)
    process.start()
    assert isinstance(process.process, fork_server.ForkedChild) or not fork_server.supported()
    kinds = []
    try:
        for kind, _payload in process.messages():
            kinds.append(kind)
            if kind == "checkpoint":
                os.kill(process.pid, signal.SIGSEGV)  # as a crash inside TensorFlow or XLA would
    finally:
        process.kill()
        code = process.close()
    assert code == -signal.SIGSEGV
    assert kinds[:2] == ["dataset", "snapshot"] and "result" not in kinds
    assert "checkpoint" in kinds and process.checkpoint_epoch >= 1
    report = process.death_report()
    assert report.startswith("The training process ended unexpectedly: it crashed (SIGSEGV")
    assert f"The weights after epoch {process.checkpoint_epoch} were kept." in report
    assert process.checkpoint_path == tmp_path / "run" / CHECKPOINT and process.checkpoint_path.stat().st_size > 0
    assert not process.request_stop()  # the child is gone: nothing to tell it


def test_a_stop_before_the_first_batch_ends_the_run_with_a_result_also_without_a_fork_server(tmp_path, monkeypatch):
    monkeypatch.setattr(fork_server, "supported", lambda: False)  # as on Windows and macOS: a fresh interpreter
    job = ChildJob(spec=presets.get("digits-cnn").to_dict(), data="digits",
                   settings=TrainingSettings(epochs=50, jit_compile=False).to_dict(), folder=str(tmp_path / "run"))
    process = TrainingProcess(job)
    process.start()
    assert isinstance(process.process, subprocess.Popen)
    assert process.request_stop()
    try:
        messages = list(process.messages())
    finally:
        code = process.close()
    assert code == 0
    kind, result = messages[-1]
    assert kind == "result" and result.status == "stopped" and result.model is None
    assert result.batches <= groups.BATCHES_PER_CALL and result.epochs_completed == 0  # one group at most
    assert process.final_path.exists()


def test_a_child_whose_fork_server_died_first_is_reported_with_its_status_unknown(tmp_path):
    read_status, write_status = os.pipe()
    os.close(write_status)  # the server is gone without writing the code
    job = ChildJob(spec=presets.get("digits-cnn").to_dict(), data="digits", settings=TrainingSettings().to_dict(),
                   folder=str(tmp_path / "run"))
    process = TrainingProcess(job)
    process.process = fork_server.ForkedChild(4_000_000, read_status)  # above pid_max: long gone
    assert process.process.wait(timeout=5) == fork_server.LOST and process.process.status_lost
    assert process.death_report().startswith(
        "The training process ended unexpectedly: its exit status is unknown (the fork server that started it "
        "ended before it). The window is unaffected. No epoch had completed")
