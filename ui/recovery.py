"""Autosave of unsaved work to a recovery file, so that a crash loses nothing.

Each window has its own file, ``recovery-PID-K.cnnproj.json`` (process id, window number),
written atomically shortly after each edit (debounced) and every minute while there are
unsaved changes; it keeps the network, the training settings and the runs (those not saved
yet without their weights, which are not on disk). A clean save or close deletes that
window's file only. On the next start every file left by a process that no longer runs is
offered (:meth:`Autosaver.pending_all`), when newer than the file it belongs to. A recovery
file that cannot be read is set aside (renamed ``...set-aside``, never deleted) with a message,
and a failed autosave is reported through ``sig_failed`` (the status bar), never raised in a timer.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from cnnstudio import safe_json
from cnnstudio.files import process_alive, write_atomic
from cnnstudio.network.spec import NetworkSpec, SpecError
from cnnstudio.workspace.document import NetworkDocument

RECOVERY_NAME = "recovery.cnnproj.json"
"""The single file of earlier versions, still offered after an update."""
RECOVERY_PATTERN = re.compile(r"recovery-(\d+)-(\d+)\.cnnproj\.json")
SET_ASIDE_SUFFIX = ".set-aside"
DEBOUNCE_MS = 1500
PERIOD_MS = 60_000
_window_numbers = itertools.count(1)


def _process_alive(pid: int) -> bool:
    # this process' other windows are never live at start-up, when files are offered
    return pid != os.getpid() and process_alive(pid)


@dataclass
class Recovered:
    spec: NetworkSpec
    original_path: str | None
    saved_at: float
    training: dict = field(default_factory=dict)
    runs: list[dict] = field(default_factory=list)
    path: Path | None = None
    """The recovery file it came from (removed once restored elsewhere or declined)."""


class Autosaver(QObject):
    """Keeps this window's ``folder/recovery-PID-K.cnnproj.json`` up to date with the document's
    unsaved state."""

    sig_failed = Signal(str)
    """An autosave or a recovery file could not be written or read: the message to show."""

    def __init__(self, document: NetworkDocument, folder: str | os.PathLike, parent=None):
        super().__init__(parent)
        self.document = document
        self.folder = Path(folder)
        self.path = self.folder / f"recovery-{os.getpid()}-{next(_window_numbers)}.cnnproj.json"
        self.set_aside: list[str] = []
        """Messages about recovery files set aside by the last :meth:`pending_all`."""
        self.pending_runs: Callable[[], list[dict]] = list
        """The runs trained but not yet in the document (the Train tab sets it)."""
        self._debounce = QTimer(self, singleShot=True, interval=DEBOUNCE_MS)
        self._debounce.timeout.connect(self.save_now)
        self._periodic = QTimer(self, interval=PERIOD_MS)
        self._periodic.timeout.connect(self.save_now)
        self._periodic.start()
        document.events.changed.connect(lambda _label: self._debounce.start())
        document.events.dirty.connect(lambda dirty: self._debounce.start() if dirty else None)

    def save_now(self) -> None:
        """Write the recovery file if there are unsaved changes (remove it if there are none).

        A failure (a full disk, a folder in the way) is reported through ``sig_failed``, not
        raised: this runs from a timer, where an exception would be lost or abort."""
        self._debounce.stop()
        if not self.document.dirty:
            self.discard()
            return
        try:
            project = self.document.project
            data = {
                "format": "cnnstudio-recovery",
                "original_path": self.document.path,
                "saved_at": time.time(),
                "network": self.document.current.to_dict(),
                "training": project.training,
                "runs": [*project.runs, *self.pending_runs()],
            }
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(self.path, json.dumps(data, indent=1, allow_nan=False))
        except (OSError, ValueError, TypeError) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            self.sig_failed.emit(f"Autosave failed: cannot write {self.path} ({why}). Save your work with "
                                 "File > Save.")

    def discard(self) -> None:
        """Remove this window's recovery file (a clean save or close)."""
        self._debounce.stop()
        try:
            self.path.unlink(missing_ok=True)
        except OSError as exc:
            self.sig_failed.emit(f"Cannot remove the recovery file {self.path}: {exc.strerror or exc}")

    def pending(self) -> Recovered | None:
        """The newest recovery file worth offering, or None (see :meth:`pending_all`)."""
        found = self.pending_all()
        return found[0] if found else None

    def pending_all(self) -> list[Recovered]:
        """Every recovery file left by a window that did not close cleanly, newest first.

        Files of processes still running (another CNN Studio) are left alone; one older than
        the project it belongs to is removed; one that cannot be read is set aside with a
        message in ``set_aside`` (and ``sig_failed``)."""
        self.set_aside = []
        try:
            entries = sorted(self.folder.iterdir()) if self.folder.is_dir() else []
        except OSError:
            return []
        found = []
        for entry in entries:
            match = RECOVERY_PATTERN.fullmatch(entry.name)
            if entry == self.path or not (entry.name == RECOVERY_NAME or match):
                continue
            if match and _process_alive(int(match.group(1))):
                continue
            recovered = self._read(entry)
            if recovered is not None:
                found.append(recovered)
        return sorted(found, key=lambda r: r.saved_at, reverse=True)

    def _read(self, path: Path) -> Recovered | None:
        try:
            data = safe_json.read(path, f"The recovery file {path.name}")
            if not isinstance(data, dict) or data.get("format") != "cnnstudio-recovery":
                raise ValueError("it is not a CNN Studio recovery file")
            spec = NetworkSpec.from_dict(data.get("network"))
            original = data.get("original_path")
            saved_at = float(data["saved_at"])
            training = data.get("training", {})
            runs = data.get("runs", [])
            if original is not None and not isinstance(original, str):
                raise ValueError("original_path is not a path")
            if not isinstance(training, dict) or not isinstance(runs, list) or \
                    not all(isinstance(r, dict) and isinstance(r.get("id"), str) for r in runs):
                raise ValueError("its training settings or runs are not what was written")
        except (safe_json.JSONReadError, SpecError, ValueError, KeyError, TypeError, OverflowError) as exc:
            self._set_aside(path, str(exc))
            return None
        if original and os.path.exists(original) and os.path.getmtime(original) >= saved_at:
            remove(path)
            return None
        return Recovered(spec=spec, original_path=original, saved_at=saved_at, training=training, runs=runs,
                         path=path)

    def _set_aside(self, path: Path, reason: str) -> None:
        target = path.with_name(path.name + SET_ASIDE_SUFFIX)
        k = 1
        while target.exists():
            k += 1
            target = path.with_name(f"{path.name}{SET_ASIDE_SUFFIX}-{k}")
        try:
            os.replace(path, target)
            where = f"it was set aside as {target}"
        except OSError as exc:
            where = f"it could not be moved aside ({exc.strerror or exc})"
        message = f"A recovery file could not be read and was not restored ({reason}); {where}."
        self.set_aside.append(message)
        self.sig_failed.emit(message)


def remove(path: Path | None) -> None:
    """Remove a recovery file that was restored or declined (quietly: it may be gone already)."""
    if path is not None:
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)
