"""Ending a CNN Studio process without Python's teardown, once its work is done and written.

Finalising TensorFlow, Keras (and in the window, Qt) objects at exit costs about 1 s of CPU in a
process that has trained (measured on a training child: 4.9 s of work, 5.9 s in all), and after a
run in the window it took 7-8 s, once 30-50 s stuck in a futex wait on a worker thread (likely a tf.data
iterator's autotune thread: see the collection in ``training.loop.train``). Every file a process writes is
complete (atomic) before its command returns, so what is left to do at exit is nothing of ours.
"""

from __future__ import annotations

import contextlib
import os
import sys


def exit_now(code: int) -> None:
    """Flush stdout and stderr, then end the process with ``code``; never returns."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError, AttributeError):  # closed, a closed pipe, or None
            stream.flush()
    os._exit(code)
