"""Predicting a file of images with a trained model, and Kaggle's submission format.

Kaggle's Digit Recognizer scores a CSV with the header ``ImageId,Label`` and one row per test
image, ImageId counting from 1. The images come from a CSV of pixel columns (test.csv has no
label column; train.csv has one, and then the accuracy is known) or an .npz, fitted to the
model's input the way training fits them (smaller images padded with zeros, larger ones
resized when asked).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cnnstudio.files import write_atomic
from cnnstudio.training.data import DataError, fit_images, format_shape, load_unlabelled

SUBMISSION_HEADER = ("ImageId", "Label")


class PredictionError(ValueError):
    """A model or data file that cannot be used to predict, naming the file and the fix."""


@dataclass
class Predictions:
    """One predicted class per image, its probability, and the true labels when the file had them."""

    labels: np.ndarray
    confidence: np.ndarray
    truth: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def accuracy(self) -> float | None:
        if self.truth is None or not len(self.labels):
            return None
        return float(np.mean(self.labels == self.truth))

    def rows(self, limit: int | None = None) -> list[tuple[int, int]]:
        """(ImageId from 1, Label) rows of the submission, the first ``limit`` of them."""
        count = len(self.labels) if limit is None else min(limit, len(self.labels))
        return [(i + 1, int(self.labels[i])) for i in range(count)]

    def submission_text(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(SUBMISSION_HEADER)
        writer.writerows(self.rows())
        return out.getvalue()


def load_model(path):
    """The model to predict with: a ``.keras`` file, or a project file's latest run (its weights
    read into the network that run trained)."""
    import keras

    import layers
    from cnnstudio.models.builder import build_model
    from cnnstudio.workspace.project import ProjectError, load_project
    from cnnstudio.workspace.runs import latest_weights, run_network

    layers.load_all()
    path = Path(path)
    if not path.is_file():
        raise PredictionError(f"No model file at {str(path)!r}. Expected a .keras file or a project file "
                              "with a trained run.")
    if path.suffix == ".keras":
        try:
            return keras.saving.load_model(str(path), compile=False)
        except (ValueError, TypeError, OSError) as exc:
            raise PredictionError(f"Cannot read {str(path)!r} as a Keras model: {exc}") from None
    try:
        project = load_project(path)
    except ProjectError as exc:
        raise PredictionError(f"Cannot read {str(path)!r}: {exc}. Expected a .keras file or a project file.") from None
    found = latest_weights(project)
    if found is None:
        raise PredictionError(f"The project {path} has no run with weights. Train it first, or pass a .keras file.")
    model = build_model(run_network(project, found[0]))
    model.load_weights(str(found[1]))
    return model


def predict_images(model, x: np.ndarray, truth: np.ndarray | None = None, resize: bool = False,
                   batch_size: int = 256, progress=None) -> Predictions:
    """Predict ``x`` in batches, fitted to the model's input first; ``progress(done, total)``."""
    import keras

    input_shape = tuple(model.input_shape[1:])
    try:
        x, note = fit_images(np.asarray(x, dtype="float32"), input_shape, resize)
    except DataError as exc:
        raise PredictionError(str(exc)) from None
    if tuple(x.shape[1:]) != input_shape:
        raise PredictionError(f"The images are {format_shape(x.shape[1:])} but the model's input is "
                              f"{format_shape(input_shape)}. Expected images of the model's input size "
                              f"(smaller ones are padded).")
    labels, confidence = [], []
    for start in range(0, len(x), batch_size):
        out = keras.ops.convert_to_numpy(model(x[start:start + batch_size], training=False))
        out = out.reshape(len(out), -1).astype("float64")
        if not (np.all(out >= 0) and np.allclose(out.sum(axis=1), 1.0, atol=1e-3)):
            out = np.exp(out - out.max(axis=1, keepdims=True))
            out /= out.sum(axis=1, keepdims=True)
        labels.append(np.argmax(out, axis=1))
        confidence.append(out.max(axis=1))
        if progress is not None:
            progress(min(start + batch_size, len(x)), len(x))
    empty = np.zeros(0)
    return Predictions(labels=np.concatenate(labels).astype("int64") if labels else empty.astype("int64"),
                       confidence=np.concatenate(confidence) if confidence else empty,
                       truth=truth, notes=[note] if note else [])


def predict_file(model, data_path, resize: bool = False, progress=None) -> Predictions:
    """Predict every image of a .csv or .npz file (see :func:`predict_images`)."""
    try:
        x, y = load_unlabelled(data_path)
    except DataError as exc:
        raise PredictionError(str(exc)) from None
    return predict_images(model, x, y, resize=resize, progress=progress)


def write_submission(predictions: Predictions, path) -> Path:
    """Kaggle's ``ImageId,Label`` CSV, written atomically."""
    path = Path(path)
    if path.parent and not path.parent.is_dir():
        raise PredictionError(f"There is no folder {str(path.parent)!r} to write {path.name} in. "
                              "Expected an existing folder.")
    return write_atomic(path, predictions.submission_text())
