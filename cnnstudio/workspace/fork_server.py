"""Training children forked from a process that has imported Keras once (Linux).

A training child used to be a fresh interpreter: ~3 s of CPU importing TensorFlow and Keras
before its first batch, every run. The fork server is started once per window process (in
the background, while the user edits); it imports what a child needs, then forks one child
per run, which starts training at once. TensorFlow is only imported in the server, never
initialised (no session, no device, no thread pool of its own), so a fork is as clean as a
fresh start; the child reseeds NumPy's global generator (Python's ``random`` reseeds itself).

The server is the child's parent, so it reaps the child and writes its exit code to a pipe the
window passed in with the request: :class:`ForkedChild` reads it there, which gives the window
the ``poll``/``wait``/``kill``/``pid`` of a ``subprocess.Popen``. When the window's end of its
socket closes (the window exited or shut it down), the server ends once its children have; a
child ends with its own run, as before. Where fork, ``pidfd_open`` or the server are missing,
:func:`start_child` returns None and the caller starts a fresh interpreter instead.
"""

from __future__ import annotations

import contextlib
import functools
import os
import pickle
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection

from cnnstudio.files import process_alive

_PID = struct.Struct("!i")
_REQUEST_LIMIT = 1 << 20
LOST = 255
"""The exit code reported for a child whose server died before it (``status_lost``): its real
code went with the server."""
_READ_AT_IMPORT = ("KERAS_", "TF_", "XLA_", "JAX_", "CUDA", "NVIDIA_", "OMP_", "MKL_", "OPENBLAS_", "LD_",
                   "PYTHON", "HOME")
"""The environment variables TensorFlow, Keras, JAX, CUDA, the BLAS libraries and Python read as they
load: when one of them changes, the server (which loaded them) is replaced. The rest of the
environment reaches each child as it is when the child is forked."""


@functools.cache
def supported() -> bool:
    """Linux with ``pidfd_open`` (kernel 5.3 or later), which the server waits on its children with."""
    if not (sys.platform.startswith("linux") and hasattr(os, "pidfd_open") and hasattr(socket, "send_fds")):
        return False
    try:
        os.close(os.pidfd_open(os.getpid()))
    except OSError:
        return False
    return True


class ForkedChild:
    """The window's handle on a child the server forked: what it uses of ``subprocess.Popen``."""

    def __init__(self, pid: int, status_fd: int):
        self.pid = pid
        self.returncode: int | None = None
        self.status_lost = False
        self._status_fd = status_fd
        self._lock = threading.Lock()

    def poll(self) -> int | None:
        if not self._lock.acquire(blocking=False):  # another thread waits for it: it still runs
            return self.returncode
        try:
            return self._collect(0)
        finally:
            self._lock.release()

    def wait(self, timeout: float | None = None) -> int:
        with self._lock:
            code = self._collect(timeout)
        if code is None:
            raise subprocess.TimeoutExpired(f"training child {self.pid}", timeout)
        return code

    def kill(self) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)

    def _collect(self, timeout: float | None) -> int | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.returncode is None:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if self._status_fd is not None:
                if not select.select([self._status_fd], [], [], left)[0]:
                    return None
                data = os.read(self._status_fd, _PID.size)
                os.close(self._status_fd)
                self._status_fd = None
                if len(data) == _PID.size:
                    self.returncode = _PID.unpack(data)[0]
            elif not process_alive(self.pid):  # the server died first: its code went with it
                self.returncode, self.status_lost = LOST, True
            elif left == 0:
                return None
            else:
                time.sleep(0.1 if left is None else min(0.1, left))
        return self.returncode

    def __del__(self):
        if self._status_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._status_fd)


class ForkServer:
    """The window's side of one server process; :meth:`fork` is safe from any thread."""

    def __init__(self, argv: list[str], env: dict[str, str]):
        self.argv = argv
        self.loaded_with = _read_at_import(env)
        self._socket, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._lock = threading.Lock()
        with theirs:
            self.process = subprocess.Popen(
                [*argv, str(theirs.fileno())], pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, close_fds=True,
            )

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def fork(self, connection: Connection, log_path: str, env: dict[str, str]) -> ForkedChild | None:
        """A child running the server's child function on ``connection`` in ``env``, writing to
        ``log_path``; None if the server is gone."""
        read_status, write_status = os.pipe()
        request = pickle.dumps((os.getcwd(), log_path, env))
        try:
            with self._lock:
                socket.send_fds(self._socket, [request], [connection.fileno(), write_status])
                reply = self._socket.recv(_PID.size)
        except OSError:
            reply = b""
        finally:
            os.close(write_status)
        pid = _PID.unpack(reply)[0] if len(reply) == _PID.size else 0
        if pid <= 0:
            os.close(read_status)
            return None
        return ForkedChild(pid, read_status)

    def shutdown(self, timeout: float = 1.0) -> None:
        """Close the server's socket and wait up to ``timeout`` for it to end: it does once it has
        finished importing and the children it forked have ended their runs (they go on)."""
        self._socket.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=timeout)


_servers: dict[tuple[str, ...], ForkServer] = {}
"""The running server of each command (one in the window: the training child's)."""
_servers_lock = threading.Lock()


def start_server(argv: list[str], env: dict[str, str]) -> ForkServer | None:
    """The running server of this command for ``env``, started if there is none (or it died, or
    the environment changed since: what the server imported read it)."""
    if not supported():
        return None
    key = tuple(argv)
    with _servers_lock:
        server = _servers.get(key)
        if server is not None and (server.loaded_with != _read_at_import(env) or not server.alive):
            server.shutdown()
            server = None
        if server is None:
            server = _servers[key] = ForkServer(argv, env)
        return server


def start_child(argv: list[str], env: dict[str, str], connection: Connection, log_path: str) -> ForkedChild | None:
    """A child forked by the server (started with ``argv`` + its socket's fd if need be), or None."""
    server = start_server(argv, env)
    return server.fork(connection, log_path, env) if server is not None else None


def _read_at_import(env: dict[str, str]) -> dict[str, str]:
    return {name: value for name, value in env.items() if name.startswith(_READ_AT_IMPORT)}


def shutdown(argv: list[str] | None = None) -> None:
    """End the running server of ``argv``, or every one (a process ending closes their sockets,
    which does the same)."""
    with _servers_lock:
        for key in [tuple(argv)] if argv is not None else list(_servers):
            server = _servers.pop(key, None)
            if server is not None:
                server.shutdown()


def server_pids() -> set[int]:
    """The running servers' pids: services of the window's process, not a run's children."""
    return {server.process.pid for server in list(_servers.values()) if server.alive}


# ------------------------------------------------------------------------------ the server


def serve(control_fd: int, child_main: Callable[[Connection], int]) -> int:
    """Fork a child running ``child_main`` for each request on ``control_fd``; once it closes, end
    when the last child has ended (each child's exit code is reported: only a parent can)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in a terminal is the window's to handle
    control: socket.socket | None = socket.socket(fileno=control_fd)
    children: dict[int, tuple[int, int]] = {}  # pidfd -> (pid, status fd)
    while control is not None or children:
        ready = select.select([*([control] if control else []), *children], [], [])[0]
        for fd in ready:
            if fd is not control:
                pid, status_fd = children.pop(fd)
                code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
                with contextlib.suppress(OSError):  # the window is gone or stopped listening
                    os.write(status_fd, _PID.pack(code))
                os.close(status_fd)
                os.close(fd)
                continue
            try:
                request, fds, _flags, _address = socket.recv_fds(control, _REQUEST_LIMIT, 2)
            except OSError:
                request, fds = b"", []
            if not request or len(fds) != 2:
                for fd_received in fds:
                    os.close(fd_received)
                control.close()
                control = None
                continue
            connection_fd, status_fd = fds
            cwd, log_path, env = pickle.loads(request)
            pid = os.fork()
            if pid == 0:
                for fd_held in (*children, *(status for _pid, status in children.values()), status_fd):
                    os.close(fd_held)
                control.close()
                _run_child(child_main, connection_fd, cwd, log_path, env)
            os.close(connection_fd)
            children[os.pidfd_open(pid)] = (pid, status_fd)
            control.send(_PID.pack(pid))
    return 0


def _run_child(child_main: Callable[[Connection], int], connection_fd: int, cwd: str, log_path: str,
               env: dict[str, str]) -> None:
    """In the forked child: its own output file, folder, environment and random state; never returns."""
    from cnnstudio.process_exit import exit_now

    code = 1
    try:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(env)
        import numpy as np

        np.random.seed()
        code = child_main(Connection(connection_fd))
    except BaseException:  # the child's failure goes to its log, as a fresh interpreter's would
        import traceback

        traceback.print_exc()
    finally:
        exit_now(code)
