"""The training timeline: snapshots of kernels and activations, free of Keras.

A run in its own process sends its snapshots to the window, which keeps them in a
:class:`Timeline` without loading Keras; ``probes.TimelineCallback`` fills one inside ``fit``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Timeline:
    """Snapshots taken while training: per snapshot, the epoch, the conv kernels and the
    activations of one fixed input, as numpy copies the GUI can scrub through.

    Snapshot 0 is taken before the first epoch (epoch 0 = the initialisation); snapshot i
    after epoch i. Appending and reading are guarded by a lock, so a GUI thread can read
    while training runs in another.
    """

    fixed_input: np.ndarray
    color_layers: set[str] = field(default_factory=set)
    """The layers whose kernels are drawn in colour (they read an RGB input), so a view can
    draw a snapshot without the model (a run in its own process sends only snapshots)."""
    epochs: list[int] = field(default_factory=list)
    kernels: list[dict[str, np.ndarray]] = field(default_factory=list)
    activations: list[dict[str, np.ndarray]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self.epochs)

    def record(self, epoch: int, kernels_by_layer: dict[str, np.ndarray], acts: dict[str, np.ndarray]) -> None:
        with self._lock:
            self.epochs.append(int(epoch))
            self.kernels.append(kernels_by_layer)
            self.activations.append(acts)

    def at(self, index: int) -> tuple[int, dict[str, np.ndarray], dict[str, np.ndarray]]:
        """(epoch, kernels by layer, activations by layer) of snapshot ``index``."""
        with self._lock:
            if not -len(self.epochs) <= index < len(self.epochs):
                raise IndexError(
                    f"The timeline has {len(self.epochs)} snapshots. Expected 0 <= index < "
                    f"{len(self.epochs)}. Received: index={index}"
                )
            return self.epochs[index], self.kernels[index], self.activations[index]
