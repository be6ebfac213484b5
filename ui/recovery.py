"""Autosave of unsaved work to a recovery file, so that a crash loses nothing.

The file is written atomically shortly after each edit (debounced) and every minute while
there are unsaved changes; it is deleted on a clean save or exit and offered on the next start
when it is newer than the file it belongs to.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
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


class Autosaver(QObject):
    """Keeps ``folder/recovery.cnnproj.json`` up to date with the document's unsaved state."""

    def __init__(self, document: NetworkDocument, folder: str | os.PathLike, parent=None):
        super().__init__(parent)
        self.document = document
        self.path = Path(folder) / RECOVERY_NAME
        self._debounce = QTimer(self, singleShot=True, interval=DEBOUNCE_MS)
        self._debounce.timeout.connect(self.save_now)
        self._periodic = QTimer(self, interval=PERIOD_MS)
        self._periodic.timeout.connect(self.save_now)
        self._periodic.start()
        document.events.changed.connect(lambda _label: self._debounce.start())

    def save_now(self) -> None:
        """Write the recovery file if there are unsaved changes (remove it if there are none)."""
        self._debounce.stop()
        if not self.document.dirty:
            self.discard()
            return
        data = {
            "format": "cnnstudio-recovery",
            "original_path": self.document.path,
            "saved_at": time.time(),
            "network": self.document.spec.to_dict(),
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
        except (OSError, ValueError, KeyError, TypeError):
            self.discard()
            return None
        if original and os.path.exists(original) and os.path.getmtime(original) >= saved_at:
            self.discard()
            return None
        return Recovered(spec=spec, original_path=original, saved_at=saved_at)
