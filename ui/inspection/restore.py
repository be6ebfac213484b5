"""A reopened trained project gets its views back: the data set and timeline of its latest run.

The weights come through the Train tab (it builds the model off the GUI thread); this loads,
as a task, what the Results and Activations views and the filter timeline need besides: the
data set the run recorded and the per-epoch timeline kept beside its weights.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QMainWindow

from ui.tasks import Task


def install_restore(window: QMainWindow) -> None:
    """Restore the latest run's data set and timeline whenever ``window`` opens a project."""
    window.document.events.changed.connect(lambda label: _on_changed(window, label))


def _on_changed(window: QMainWindow, label: str) -> None:
    if label != "Open" or not window.document.project.runs:
        return
    previous = getattr(window, "restore_task", None)
    if previous is not None:
        previous.cancel()
    project = window.document.project
    task = Task(_restore, project, name="restore views")
    task.sig_done.connect(lambda restored: _adopt(window, project, restored))
    task.sig_error.connect(lambda exc: window.show_message(f"The views of the last run were not restored: {exc}"))
    window.restore_task = task
    task.start()


def _restore(state, project):
    from cnnstudio.workspace.runs import restore_views

    state.check()
    return restore_views(project)


def _adopt(window: QMainWindow, project, restored) -> None:
    """Hand the loaded data to the views, unless another project was opened meanwhile."""
    document, workspace = window.document, window.workspace
    if restored is None or document.path is None or project.path != Path(document.path):
        return
    if document.current.to_dict() != project.network.to_dict():
        return
    if restored.timeline is not None:
        workspace.restore_timeline(restored.timeline)
    if restored.dataset is not None:
        workspace.set_dataset(restored.dataset)
    for note in restored.notes:
        window.show_message(note)
