"""Exports for deployment: a LiteRT model (``.tflite``) and an ONNX model (``.onnx``).

Both carry the SavedModel's serving signature (input ``image``, any batch size; output
``probabilities``; a softmax is added to a network ending in logits). Each export is
verified before it is reported done: the file runs in its own runtime (the LiteRT
interpreter, ONNX Runtime) on a few validation inputs and is compared with the Keras model.
A float32 export must give the same probabilities to ``tolerance`` (1e-5); a quantized
LiteRT export (``dynamic``: int8 weights; ``int8``: int8 weights and activations, calibrated
on a representative sample of the training data) must keep the validation accuracy within
``accuracy_drop`` (1 point) of the float model. A failed verification raises
:class:`VerificationFailed` and leaves nothing at the destination.

The converters and runtimes are the optional extra ``cnnstudio[deploy]`` (ai-edge-litert,
tf2onnx, onnx, onnxruntime); a missing one is named in the error.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from cnnstudio.models import export
from cnnstudio.models.export import INPUT_NAME, OUTPUT_NAME, ExportError, ExportResult
from layers import winograd

QUANTIZATIONS = ("dynamic", "int8")
EXTRA = "pip install 'cnnstudio[deploy]'"
TOLERANCE = 1e-5
"""Largest difference allowed between a float32 export's probabilities and Keras'."""
ACCURACY_DROP = 0.01
"""Largest validation accuracy a quantized export may lose against the float model."""
REPRESENTATIVE_EXAMPLES = 200
"""Training examples that calibrate int8 activations."""
CHECK_EXAMPLES = 32
"""Examples a float32 export is compared on (validation data when given, else random)."""


class VerificationFailed(ExportError):
    """The exported file ran, but its outputs differ from the Keras model's too much."""


@dataclass
class Verification:
    """How an exported file compared with the Keras model in its own runtime."""

    runtime: str
    examples: int
    max_abs_diff: float
    accuracy: float | None = None
    reference_accuracy: float | None = None
    tolerance: float | None = None
    accuracy_drop: float | None = None

    @property
    def passed(self) -> bool:
        if self.accuracy is not None:
            return self.accuracy >= self.reference_accuracy - self.accuracy_drop - 1e-12
        return self.max_abs_diff <= self.tolerance

    def describe(self) -> str:
        """One line for the CLI and the dialog, e.g. "verified in LiteRT on 32 inputs: ..."."""
        verdict = "verified" if self.passed else "FAILED verification"
        text = f"{verdict} in {self.runtime} on {self.examples} inputs: max |difference| {self.max_abs_diff:.2e}"
        if self.accuracy is not None:
            return (f"{text}; accuracy {100 * self.accuracy:.2f}% against {100 * self.reference_accuracy:.2f}% "
                    f"for the float model (allowed drop {100 * self.accuracy_drop:.1f} points)")
        return f"{text} (allowed {self.tolerance:.0e})"


def require(module: str, purpose: str):
    """Import an optional ``module`` of the deploy extra, or say which extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ExportError(f"{purpose} needs the optional package {module.split('.')[0]!r}. "
                          f"Expected the deploy extra installed: {EXTRA}. "
                          f"Received: {type(exc).__name__}: {exc}") from exc


def serving_outputs(model: keras.Model, x: np.ndarray) -> np.ndarray:
    """What the exports' ``probabilities`` output must hold for inputs ``x``."""
    outputs = model(x, training=False)
    if not export._ends_in_probabilities(model):
        outputs = keras.ops.softmax(outputs, axis=-1)
    return keras.ops.convert_to_numpy(outputs)


def litert_bytes(model: keras.Model, quantize: str | None = None, representative=None) -> bytes:
    """The model as a LiteRT flatbuffer with builtin ops only, from its SavedModel signature.

    ``quantize``: None (float32), "dynamic" or "int8" (then ``representative``, an array of
    training inputs, calibrates the activations; inputs and outputs stay float32).
    """
    import tensorflow as tf

    if quantize not in (None, *QUANTIZATIONS):
        raise ExportError(f"Unknown quantization {quantize!r}. Expected one of {', '.join(QUANTIZATIONS)} or "
                          f"none (float32). Received: quantize={quantize!r}")
    if quantize == "int8" and (representative is None or len(representative) == 0):
        raise ExportError("int8 quantization calibrates on training data. Expected a representative sample "
                          "of the training inputs (--data on the command line). Received: none")
    with tempfile.TemporaryDirectory(prefix="cnnstudio-litert-") as folder:
        saved = Path(folder) / "savedmodel"
        with winograd.direct_sums() if quantize is not None else contextlib.nullcontext():
            export.export_savedmodel(model, saved)
        converter = tf.lite.TFLiteConverter.from_saved_model(str(saved))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        if quantize is not None:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if quantize == "int8":
            sample = np.asarray(representative, dtype="float32")[:REPRESENTATIVE_EXAMPLES]
            converter.representative_dataset = lambda: ([x[None]] for x in sample)
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        try:
            return converter.convert()
        except Exception as exc:  # the converter raises its own ConverterError and others
            raise ExportError(f"LiteRT could not convert the model: {_first_line(exc)}. Expected a network of "
                              f"LiteRT builtin ops. Received: {type(exc).__name__}") from exc


def run_litert(content: bytes, x: np.ndarray) -> np.ndarray:
    """Run a LiteRT flatbuffer's serving signature on ``x`` in the LiteRT interpreter."""
    interpreter_module = require("ai_edge_litert.interpreter", "Running a LiteRT model")
    interpreter = interpreter_module.Interpreter(model_content=content)
    runner = interpreter.get_signature_runner("serving_default")
    return np.asarray(runner(**{INPUT_NAME: np.asarray(x, dtype="float32")})[OUTPUT_NAME])


def onnx_bytes(model: keras.Model) -> bytes:
    """The model's serving function as an ONNX model (tf2onnx), input ``image``, output ``probabilities``."""
    import tensorflow as tf

    tf2onnx = require("tf2onnx", "ONNX export")
    add_softmax = not export._ends_in_probabilities(model)
    signature = [tf.TensorSpec((None, *model.input_shape[1:]), tf.float32, name=INPUT_NAME)]

    @tf.function(input_signature=signature)
    def serve(image):
        outputs = model(image, training=False)
        return {OUTPUT_NAME: tf.nn.softmax(outputs, axis=-1) if add_softmax else outputs}

    try:
        proto, _ = tf2onnx.convert.from_function(serve, input_signature=signature)
    except Exception as exc:  # tf2onnx raises assorted errors for ops it cannot map
        raise ExportError(f"tf2onnx could not convert the model: {_first_line(exc)}. Expected a network of "
                          f"ops ONNX supports. Received: {type(exc).__name__}") from exc
    return proto.SerializeToString()


def run_onnx(content: bytes, x: np.ndarray) -> np.ndarray:
    """Run an ONNX model on ``x`` in ONNX Runtime (CPU)."""
    ort = require("onnxruntime", "Running an ONNX model")
    session = ort.InferenceSession(content, providers=["CPUExecutionProvider"])
    return np.asarray(session.run([OUTPUT_NAME], {INPUT_NAME: np.asarray(x, dtype="float32")})[0])


ANY_SIZE_CHECK = 32
"""The height and width random inputs get when the network takes any size."""


def verify(model: keras.Model, run, runtime: str, data=None, quantized: bool = False,
           tolerance: float = TOLERANCE, accuracy_drop: float = ACCURACY_DROP) -> Verification:
    """Compare ``run(x)`` (the exported file in its runtime) with the Keras model.

    ``data`` is a ``Dataset`` (its validation part is used) or None (random inputs, float
    exports only). A quantized export is judged on validation accuracy, so it needs ``data``.
    """
    if quantized:
        if data is None or len(data.x_val) == 0:
            raise ExportError("A quantized export is verified on validation accuracy. Expected a data set with "
                              "validation examples (--data on the command line). Received: none")
        x, y = data.x_val, data.y_val
    elif data is not None and len(data.x_val):
        x, y = data.x_val[:CHECK_EXAMPLES], None
    else:
        shape = [ANY_SIZE_CHECK if d is None else d for d in model.input_shape[1:]]  # any size: check one
        x = np.random.default_rng(0).random((CHECK_EXAMPLES, *shape)).astype("float32")
        y = None
    expected = serving_outputs(model, x)
    got = run(x)
    if got.shape != expected.shape:
        raise VerificationFailed(f"The exported model's output has the wrong shape in {runtime}. Expected "
                                 f"{expected.shape}. Received: {got.shape}")
    diff = float(np.max(np.abs(got - expected))) if got.size else 0.0
    if not np.isfinite(diff):
        diff = float("inf")
    if not quantized:
        return Verification(runtime, len(x), diff, tolerance=tolerance)
    return Verification(runtime, len(x), diff, accuracy=float(np.mean(np.argmax(got, -1) == y)),
                        reference_accuracy=float(np.mean(np.argmax(expected, -1) == y)),
                        accuracy_drop=accuracy_drop)


def export_tflite(model: keras.Model, out: str | os.PathLike, force: bool = False, quantize: str | None = None,
                  data=None, tolerance: float = TOLERANCE, accuracy_drop: float = ACCURACY_DROP) -> ExportResult:
    """A verified ``.tflite`` file for the LiteRT interpreter (see the module's docstring).

    ``data`` (a ``Dataset``) gives the int8 calibration sample (training part) and the
    verification inputs (validation part); quantized exports need it.
    """
    out = _suffixed(out, ".tflite", "A LiteRT model")
    warnings = export._warnings(model)
    if quantize is not None:
        if data is None:
            raise ExportError(f"A {quantize}-quantized export is verified on validation accuracy and int8 "
                              f"calibrates on training data. Expected a data set (train on one first, or "
                              f"--data on the command line). Received: none")
        _check_data(model, data)
    representative = data.x_train if data is not None else None
    content = litert_bytes(model, quantize, representative)
    check = verify(model, lambda x: run_litert(content, x), "LiteRT", data, quantize is not None,
                   tolerance, accuracy_drop)
    return _write_verified(out, force, content, check, "tflite", warnings)


def export_onnx(model: keras.Model, out: str | os.PathLike, force: bool = False, data=None,
                tolerance: float = TOLERANCE) -> ExportResult:
    """A verified ``.onnx`` file for ONNX Runtime (see the module's docstring)."""
    out = _suffixed(out, ".onnx", "An ONNX model")
    warnings = export._warnings(model)
    if data is not None:
        _check_data(model, data)
    content = onnx_bytes(model)
    check = verify(model, lambda x: run_onnx(content, x), "ONNX Runtime", data, False, tolerance)
    return _write_verified(out, force, content, check, "onnx", warnings)


def _write_verified(out: Path, force: bool, content: bytes, check: Verification, format_name: str,
                    warnings: list[str]) -> ExportResult:
    if not check.passed:
        raise VerificationFailed(f"The {format_name} export was not written: it {check.describe()}. "
                                 f"Expected the exported model to match the Keras model. Received: "
                                 f"the differences above; nothing was left at {str(out)!r}")
    with export._staged(out, force, format_name, len(content) + 1024 * 1024) as target:
        target.write_bytes(content)
    return ExportResult(out, format_name, warnings, verification=check.describe())


def _suffixed(out, suffix: str, what: str) -> Path:
    out = Path(out)
    if out.suffix != suffix:
        raise ExportError(f"{what}'s name must end in {suffix}. Expected a path like "
                          f"{out.with_suffix(suffix).name!r}. Received: out={str(out)!r}")
    return out


def _check_data(model: keras.Model, data) -> None:
    if tuple(data.input_shape) != tuple(model.input_shape[1:]):
        raise ExportError(f"The data set {data.name!r} does not fit the network's input. Expected examples of "
                          f"shape {tuple(model.input_shape[1:])}. Received: {tuple(data.input_shape)}")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__
