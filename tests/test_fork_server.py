"""The fork server on its own, with a small child function (training through it: test_training_process)."""

import os
import signal
import subprocess
import sys
from multiprocessing import Pipe

import pytest

from cnnstudio.workspace import fork_server

pytestmark = pytest.mark.skipif(not fork_server.supported(), reason="the fork server is Linux-only")

SERVER = '''
import os, sys
import numpy as np
from cnnstudio.workspace import fork_server

def child(conn):
    request = conn.recv()
    if request == "wait":
        conn.recv()
    print("child output", os.getpid())
    conn.send((os.getcwd(), os.environ.get("RUN_LABEL"), np.random.random()))
    return 3

fork_server.serve(int(sys.argv[1]), child)
'''


@pytest.fixture
def server(tmp_path):
    script = tmp_path / "server.py"
    script.write_text(SERVER)
    made = fork_server.ForkServer([sys.executable, str(script)], dict(os.environ))
    yield made
    made.shutdown()


def _fork(server, tmp_path, name, **env):
    ours, theirs = Pipe(duplex=True)
    child = server.fork(theirs, str(tmp_path / f"{name}.log"), {**os.environ, **env})
    theirs.close()
    assert child is not None
    return child, ours


def test_children_run_in_the_requests_folder_and_environment_with_their_own_random_state(server, tmp_path,
                                                                                           monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    replies = []
    for label in ("first", "second"):
        child, conn = _fork(server, tmp_path, label, RUN_LABEL=label)
        conn.send("go")
        replies.append(conn.recv())
        assert child.wait(timeout=30) == 3 and child.poll() == 3
        assert f"child output {child.pid}" in (tmp_path / f"{label}.log").read_text()
    assert [reply[:2] for reply in replies] == [(str(work), "first"), (str(work), "second")]
    assert replies[0][2] != replies[1][2]  # NumPy reseeded in each fork, not the server's state copied


def test_a_killed_child_reports_its_signal_and_wait_times_out_while_it_runs(server, tmp_path):
    child, conn = _fork(server, tmp_path, "killed")
    conn.send("wait")
    with pytest.raises(subprocess.TimeoutExpired):
        child.wait(timeout=0.2)
    assert child.poll() is None
    child.kill()
    assert child.wait(timeout=30) == -signal.SIGKILL


def test_a_shut_down_server_ends_once_its_child_has_ended_and_reports_its_code(server, tmp_path):
    child, conn = _fork(server, tmp_path, "last")
    conn.send("wait")
    server.shutdown(timeout=0.2)
    assert server.alive  # its child still runs
    assert server.fork(Pipe()[1], str(tmp_path / "late.log"), dict(os.environ)) is None
    conn.send("finish")
    assert conn.recv()[1] is None
    assert child.wait(timeout=30) == 3
    assert server.process.wait(timeout=30) == 0


def test_a_child_outlives_a_killed_server_and_its_lost_code_is_said(server, tmp_path):
    child, conn = _fork(server, tmp_path, "orphan")
    conn.send("wait")
    server.process.kill()
    server.process.wait()
    conn.send("finish")
    assert conn.recv()[1] is None  # the run went on without its server
    assert child.wait(timeout=30) == fork_server.LOST and child.status_lost


def test_the_shared_server_is_replaced_when_a_variable_read_at_import_changes(tmp_path):
    script = tmp_path / "server.py"
    script.write_text(SERVER)
    argv = [sys.executable, str(script)]
    others = fork_server.server_pids()  # the training children's server, if this process started it
    try:
        first = fork_server.start_server(argv, {**os.environ, "UNRELATED": "1"})
        assert fork_server.start_server(argv, {**os.environ, "UNRELATED": "2"}) is first
        replaced = fork_server.start_server(argv, {**os.environ, "KERAS_HOME": str(tmp_path)})
        assert replaced is not first and not first.alive
        assert fork_server.server_pids() == others | {replaced.process.pid}
    finally:
        fork_server.shutdown(argv)
    assert fork_server.server_pids() == others
