"""SIGKILL during project saves leaves the complete old or new project (issue 13).

The light version of benchmarks/kill_safety.py, which kills each kind (`train --save` and
`export --force` too, whose children start TensorFlow) 20 times: real child processes, killed
at random moments, then the destination is checked. A swap killed half-way is checked in
test_robust_saves without a child.
"""

import importlib.util
import random
from pathlib import Path

KILL_SAFETY = Path(__file__).resolve().parent.parent / "benchmarks" / "kill_safety.py"


def kill_safety():
    spec = importlib.util.spec_from_file_location("kill_safety", KILL_SAFETY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_killed_project_saves_leave_a_complete_project_and_no_leftovers(tmp_path):
    random.seed(1)
    report = kill_safety().kill_project_saves(8, tmp_path)
    assert report["failures"] == []
    assert report["complete"] == report["kills"] == 8 and report["runs_kept"] > 0

