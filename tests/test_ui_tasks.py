"""ui.tasks: long work on its own thread; done, error or cancelled, then always finished, on the GUI thread."""

import threading

import pytest

from cnnstudio.tasks import Cancelled, TaskState
from ui import tasks
from ui.tasks import LatestRunner, Task

TIMEOUT_MS = 10_000


@pytest.fixture(autouse=True)
def no_thread_left():
    yield
    assert tasks.running() == []
    for thread in threading.enumerate():
        if thread.name.startswith("task "):  # finished was delivered: its thread is returning
            thread.join(5)
            assert not thread.is_alive()


def record(task: Task) -> list:
    """Every signal the task delivers, in order, with the thread it arrived on."""
    seen = []
    main = threading.get_ident()
    for name in ("sig_progress", "sig_partial", "sig_done", "sig_error", "sig_cancelled", "sig_finished"):
        getattr(task, name).connect(
            lambda *args, name=name: seen.append((name.removeprefix("sig_"), args, threading.get_ident() == main)))
    return seen


def run(qtbot, task: Task) -> list:
    seen = record(task)
    with qtbot.waitSignal(task.sig_finished, timeout=TIMEOUT_MS):
        task.start()
    assert task.wait(5)
    return seen


def test_progress_partial_results_and_the_result_arrive_in_order_on_the_gui_thread(qtbot):
    worker_threads = []

    def work(state: TaskState, count: int) -> int:
        worker_threads.append(threading.get_ident())
        for i in range(count):
            state.set_partial(i)
            state.set_progress((i + 1) / count, f"step {i + 1}")
        return count * 10

    task = Task(work, 3, report_interval=0)
    seen = run(qtbot, task)
    kinds = [kind for kind, _, _ in seen]
    assert kinds[-2:] == ["done", "finished"] and set(kinds[:-2]) == {"partial", "progress"}
    partials = [args[0] for kind, args, _ in seen if kind == "partial"]
    assert partials == sorted(set(partials)) and partials[-1] == 2  # a slow window skips to the latest
    assert [args for kind, args, _ in seen if kind == "progress"][-1] == (1.0, "step 3")
    assert seen[-2][1] == (30,)
    assert all(on_gui_thread for _, _, on_gui_thread in seen)
    assert worker_threads[0] != threading.get_ident()
    assert task.outcome == "done" and task.result == 30 and not task.is_running
    assert task.state.progress == (1.0, "step 3")


def test_reports_come_at_most_every_interval_and_the_last_one_always(qtbot):
    first_shown = threading.Event()

    def work(state: TaskState) -> str:
        state.set_partial(0)
        assert first_shown.wait(5)
        for i in range(1, 20_000):
            state.set_partial(i)
        return "done"

    task = Task(work, report_interval=3600)
    task.sig_partial.connect(lambda _value: first_shown.set())
    seen = run(qtbot, task)
    assert [(kind, args) for kind, args, _ in seen] == [("partial", (0,)), ("partial", (19_999,)),
                                                      ("done", ("done",)), ("finished", ())]


def test_an_exception_is_delivered_as_an_error_and_finished_still_follows(qtbot):
    def work(state):
        raise ValueError("The file is broken. Expected a .keras file. Received: path='x'")

    task = Task(work)
    seen = run(qtbot, task)
    assert [kind for kind, _, _ in seen] == ["error", "finished"]
    error = seen[0][1][0]
    assert isinstance(error, ValueError) and "Expected a .keras file" in str(error)
    assert task.outcome == "error" and task.exception is error


def cancel_while_running(qtbot, after_release) -> list:
    """Start work that waits, cancel it while it waits, let it go on with ``after_release(state)``."""
    started, release = threading.Event(), threading.Event()

    def work(state):
        started.set()
        release.wait()
        return after_release(state)

    task = Task(work)
    seen = record(task)
    with qtbot.waitSignal(task.sig_finished, timeout=TIMEOUT_MS):
        task.start()
        assert started.wait(5)
        task.cancel()
        release.set()
    assert task.wait(5) and task.outcome == "cancelled"
    return [kind for kind, _, _ in seen]


def test_cancel_stops_the_work_at_its_next_check_and_no_result_is_delivered(qtbot):
    steps = []

    def check_then_return(state):
        state.check()
        steps.append("after the check")
        return "too late"

    assert cancel_while_running(qtbot, check_then_return) == ["cancelled", "finished"]
    assert steps == []


def test_work_that_ignores_the_cancel_still_delivers_no_result(qtbot):
    def carry_on(state):
        state.set_partial("stale")
        raise RuntimeError("a failure after the cancel is not reported either")

    assert cancel_while_running(qtbot, carry_on) == ["cancelled", "finished"]


def test_a_task_cancelled_before_it_starts_finishes_without_running(qtbot):
    ran = []
    task = Task(lambda state: ran.append(1))
    seen = record(task)
    with qtbot.waitSignal(task.sig_finished, timeout=TIMEOUT_MS):
        task.cancel()
        task.start()
    assert [kind for kind, _, _ in seen] == ["cancelled", "finished"]
    assert ran == [] and task.wait(0)


def test_the_state_raises_cancelled_only_after_cancel():
    state = TaskState()
    state.check()
    state.cancel()
    with pytest.raises(Cancelled, match="cancelled"):
        state.check()


def test_the_latest_runner_drops_superseded_requests_and_shows_only_the_last(qtbot):
    runner = LatestRunner()
    started, release = threading.Event(), threading.Event()
    ran, shown = [], []

    def work(state, label):
        ran.append(label)
        if label == "first":
            started.set()
            release.wait()
            state.check()
        return label

    with qtbot.waitSignal(runner.sig_idle, timeout=TIMEOUT_MS):
        first = runner.submit(work, "first", on_done=shown.append)
        assert started.wait(5)
        second = runner.submit(work, "second", on_done=shown.append)
        third = runner.submit(work, "third", on_done=shown.append)
        assert runner.busy
        release.set()
    assert ran == ["first", "third"]
    assert shown == ["third"]
    assert (first.outcome, second.outcome, third.outcome) == ("cancelled", "cancelled", "done")
    assert not runner.busy
    assert runner.shutdown(5)


def test_shutdown_cancels_running_work_and_waits_a_bounded_time(qtbot):
    started, release = threading.Event(), threading.Event()

    def stuck(state):
        started.set()
        release.wait()

    task = Task(stuck)
    seen = record(task)
    task.start()
    assert started.wait(5)
    assert tasks.shutdown(timeout=0.05) == [task]  # it ignores the cancel: left behind, not waited for forever
    assert task.state.is_cancelled
    with qtbot.waitSignal(task.sig_finished, timeout=TIMEOUT_MS):
        release.set()
    assert [kind for kind, _, _ in seen] == ["cancelled", "finished"]
    assert tasks.shutdown(timeout=1) == []
