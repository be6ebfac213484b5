"""What the studio has learned about the current network: its trained model and data.

The document holds the spec; the workspace holds the results that training produces and
the inspection and export views read: the Keras model with its weights, the data set it
was trained on, and the per-epoch timeline. Qt-free: views listen to its events.
"""

from __future__ import annotations

from typing import Any

from cnnstudio.workspace.document import NetworkDocument, Signal


class WorkspaceEvents:
    """``model(model_or_None)``: a trained model appeared, changed or was discarded.
    ``dataset(dataset_or_None)``: the data set in use changed.
    ``epoch(epoch, logs)``: an epoch of training ended (views refresh filters on it).
    """

    def __init__(self):
        self.model = Signal("model")
        self.dataset = Signal("dataset")
        self.epoch = Signal("epoch")


class Workspace:
    """The document plus the trained model, data set and timeline that belong to it.

    A model is valid only for the spec it was built from: an edit of the network
    discards it, so no view shows weights of a network that no longer exists.
    """

    def __init__(self, document: NetworkDocument):
        self.document = document
        self.events = WorkspaceEvents()
        self._model: Any = None
        self._model_spec: dict | None = None
        self._dataset: Any = None
        self.timeline: Any = None
        self.training_model: Any = None
        """The model a run is training right now (its weights change under you), or None
        when it trains in a child process (then only ``training_timeline`` is here)."""
        self.training_timeline: Any = None
        """The timeline of the run in progress, growing an epoch at a time, or None."""
        document.events.changed.connect(self._on_document_changed)

    @property
    def model(self) -> Any:
        """The trained ``keras.Model`` of the current spec, or None."""
        return self._model

    @property
    def dataset(self) -> Any:
        """The ``cnnstudio.training.data.Dataset`` last trained on or chosen, or None."""
        return self._dataset

    def validation_data(self, inputs_only: bool = False) -> Any:
        """The data set when the model can be looked at on its validation examples, else None.

        The model must fit the data as training requires (``training.data.check_model_fits``),
        or with ``inputs_only`` just read its inputs (to show what the layers make of them).
        """
        from cnnstudio.training.data import DataError, check_compatible, check_model_fits

        model, dataset = self._model, self._dataset
        if model is None or dataset is None or len(dataset.x_val) == 0:
            return None
        try:
            if inputs_only:
                check_compatible(dataset, model.input_shape[1:], None)
            else:
                check_model_fits(model, dataset)
        except DataError:
            return None
        return dataset

    def validation_images(self) -> Any:
        """The data set's validation inputs when they fit the trained model's input, else None."""
        dataset = self.validation_data(inputs_only=True)
        return dataset.x_val if dataset is not None else None

    def training_started(self, model: Any, timeline: Any) -> None:
        """A run began (on ``model``, or None in a child process): views that refresh per epoch
        (filters) show its live timeline, not an earlier run's model."""
        self.training_model = model
        self.training_timeline = timeline
        self.timeline = timeline

    @property
    def is_training(self) -> bool:
        return self.training_model is not None or self.training_timeline is not None

    def training_ended(self) -> None:
        """The run in progress ended, whether or not it left a model."""
        self.training_model = None
        self.training_timeline = None

    def set_model(self, model: Any, timeline: Any = None) -> None:
        """Adopt ``model`` as the current spec's trained model; a run in progress has ended."""
        self.training_ended()
        self._model = model
        self._model_spec = self.document.spec.to_dict() if model is not None else None
        if timeline is not None:
            self.timeline = timeline
        self.events.model.emit(model)

    def restore_timeline(self, timeline: Any) -> None:
        """A reopened run's timeline: the views showing the model refresh to offer it."""
        self.timeline = timeline
        if self._model is not None:
            self.events.model.emit(self._model)

    def set_dataset(self, dataset: Any) -> None:
        self._dataset = dataset
        self.events.dataset.emit(dataset)

    def epoch_ended(self, epoch: int, logs: dict) -> None:
        self.events.epoch.emit(epoch, logs)

    def _on_document_changed(self, label: str) -> None:
        if self._model is not None and self.document.spec.to_dict() != self._model_spec:
            self._model = None
            self._model_spec = None
            self.timeline = None
            self.training_ended()
            self.events.model.emit(None)
