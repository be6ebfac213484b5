"""Garbage is collected on the GUI thread only, however much a task thread allocates."""

import gc
import threading

from ui.garbage import GuiThreadCollector
from ui.tasks import Task


class Cycle:
    def __init__(self):
        self.me = self


def test_garbage_made_on_a_task_thread_is_collected_on_the_gui_thread(qtbot):
    collecting_threads = []

    def note(phase, info):
        if phase == "start":
            collecting_threads.append(threading.get_ident())

    def make_garbage(state):
        for _ in range(20 * gc.get_threshold()[0]):
            Cycle()
        return gc.isenabled()

    gc.callbacks.append(note)
    try:
        task = Task(make_garbage)
        with qtbot.waitSignal(task.sig_done, timeout=30_000) as done:
            task.start()
        assert done.args == [False]  # automatic collection was off while the task allocated
        qtbot.waitUntil(lambda: gc.get_count()[0] < gc.get_threshold()[0], timeout=5_000)
    finally:
        gc.callbacks.remove(note)
    assert collecting_threads and set(collecting_threads) == {threading.main_thread().ident}


def test_stopping_the_collector_gives_automatic_collection_back(qapp):
    assert gc.isenabled()  # no qtbot: this test runs without the GUI tests' collector
    collector = GuiThreadCollector()
    assert not gc.isenabled()
    collector.stop()
    assert gc.isenabled()
