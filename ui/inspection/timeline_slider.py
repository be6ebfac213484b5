"""A slider over the training timeline's snapshots: drag it to watch filters form epoch by epoch."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSlider, QWidget


class QtTimelineSlider(QWidget):
    """Picks snapshot ``index`` of a ``Timeline``; it follows new snapshots while at the latest."""

    sig_index_changed = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._epochs: list[int] = []
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setMinimum(0)
        self.slider.setPageStep(1)
        self.slider.setTickPosition(QSlider.TickPosition.TicksBelow)
        self.slider.setToolTip("Drag to see the network as it was after each epoch of training")
        self.label = QLabel()
        self.label.setMinimumWidth(190)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("Training timeline:"))
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.label)
        self.slider.valueChanged.connect(self._on_value)
        self.set_epochs([])

    @property
    def index(self) -> int:
        return self.slider.value()

    @property
    def is_latest(self) -> bool:
        return not self._epochs or self.slider.value() == len(self._epochs) - 1

    def set_epochs(self, epochs: list[int]) -> None:
        """The snapshots' epochs; hidden with fewer than two (nothing to scrub)."""
        follow = self.is_latest
        self._epochs = list(epochs)
        self.slider.blockSignals(True)
        self.slider.setMaximum(max(0, len(self._epochs) - 1))
        if follow:
            self.slider.setValue(self.slider.maximum())
        self.slider.blockSignals(False)
        self.setVisible(len(self._epochs) >= 2)
        self._update_label()

    def set_index(self, index: int) -> None:
        self.slider.setValue(index)

    def _on_value(self, value: int) -> None:
        self._update_label()
        self.sig_index_changed.emit(value)

    def _update_label(self) -> None:
        if not self._epochs:
            self.label.setText("")
            return
        epoch = self._epochs[self.slider.value()]
        last = self._epochs[-1]
        self.label.setText("Initial weights (epoch 0)" if epoch == 0 else f"After epoch {epoch} of {last}")
