"""Autosave of unsaved work to a recovery file, so that a crash loses nothing.

The file is written atomically shortly after each edit (debounced) and every minute while
there are unsaved changes; it keeps the network, the training settings and the runs (those
not saved yet without their weights, which are not on disk). It is deleted on a clean save or exit and offered on the next start
when it is newer than the file it belongs to.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QObject, QTimer

from cnnstudio.files import write_atomic
from cnnstudio.network.spec import NetworkSpec
from cnnstudio.workspace.document import NetworkDocument

RECOVERY_NAME = "recovery.cnnproj.json"
DEBOUNCE_MS = 1500
PERIOD_MS = 60_000


@dataclass
class Recovered:
    spec: NetworkSpec
    original_path: str | None
    saved_at: float
    training: dict = field(default_factory=dict)
    runs: list[dict] = field(default_factory=list)


class Autosaver(QObject):
    """Keeps ``folder/recovery.cnnproj.json`` up to date with the document's unsaved state."""

    def __init__(self, document: NetworkDocument, folder: str | os.PathLike, parent=None):
        super().__init__(parent)
        self.document = document
        self.path = Path(folder) / RECOVERY_NAME
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
        """Write the recovery file if there are unsaved changes (remove it if there are none)."""
        self._debounce.stop()
        if not self.document.dirty:
            self.discard()
            return
        project = self.document.project
        data = {
            "format": "cnnstudio-recovery",
            "original_path": self.document.path,
            "saved_at": time.time(),
            "network": self.document.spec.to_dict(),
            "training": project.training,
            "runs": [*project.runs, *self.pending_runs()],
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(self.path, json.dumps(data, indent=1))

    def discard(self) -> None:
        self._debounce.stop()
        self.path.unlink(missing_ok=True)

    def pending(self) -> Recovered | None:
        """The recovery file's content when it is worth offering, else None (a broken one is removed)."""
        if not self.path.exists():
            return None
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            spec = NetworkSpec.from_dict(data["network"])
            original = data.get("original_path")
            saved_at = float(data["saved_at"])
            training = data.get("training", {})
            runs = data.get("runs", [])
            if not isinstance(training, dict) or not isinstance(runs, list) or \
                    not all(isinstance(r, dict) and "id" in r for r in runs):
                raise ValueError("the recovery file's training settings or runs are not what was written")
        except (OSError, ValueError, KeyError, TypeError):
            self.discard()
            return None
        if original and os.path.exists(original) and os.path.getmtime(original) >= saved_at:
            self.discard()
            return None
        return Recovered(spec=spec, original_path=original, saved_at=saved_at, training=training, runs=runs)
