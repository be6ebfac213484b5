"""Exporting a network: a TensorFlow SavedModel, a ``.keras`` archive or a Python script.

The GUI's File > Export and ``cnnstudio export`` both call these functions. Each export
is written beside its target first (a hidden ``.NAME.*.partial`` folder in the same
folder) and renamed into place only when complete, so a full disk or a missing permission
leaves nothing half-written behind, and an existing export is replaced only with
``force=True``. Each returns an :class:`ExportResult` whose ``warnings`` the caller shows
(the CLI prints them to stderr, the GUI in its dialog): they are data, not Python warnings.

The SavedModel is the one TensorFlow-only thing here: it is made with Keras' own
``ExportArchive`` and runs with TensorFlow alone, without CNN Studio installed.

*Untrained* means: a project with no training run, or a model whose optimizer never took
a step (or that has none) and whose every bias and batch-norm vector still holds one
repeated value, as the constant initialisers (zeros, ones) leave them. One step of
training moves those, so a trained model is never flagged. A model with neither an
optimizer state nor such vectors cannot be judged, and is not flagged.
"""

from __future__ import annotations

import contextlib
import errno
import gc
import hashlib
import json
import keyword
import os
import shutil
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np

from cnnstudio import files
from cnnstudio.network import catalog
from cnnstudio.network.spec import INPUT, NetworkSpec

FORMATS = ("savedmodel", "keras", "python", "tflite", "onnx")
"""Every export format; tflite and onnx live in ``cnnstudio.models.deploy``."""
INPUT_NAME = "image"
"""The name of the SavedModel's serving input."""
OUTPUT_NAME = "probabilities"
"""The name of the SavedModel's serving output: class probabilities, summing to 1."""


class ExportError(Exception):
    """An export that could not be written; the message says why and what to do."""


@dataclass
class ExportResult:
    """Where an export went, in which format, and what the user should know about it."""

    path: Path
    format: str
    warnings: list[str] = field(default_factory=list)
    verification: str | None = None
    """How the exported file compared with the model in its own runtime (tflite, onnx)."""


def untrained_warning(model: keras.Model | None = None, runs: list | None = None) -> str | None:
    """A warning when the network looks untrained (see the module's definition), else None.

    Pass ``runs`` (a project's runs) when exporting a project: no run means untrained.
    """
    message = "The network looks untrained ({}); its predictions will be no better than chance."
    if runs is not None and not runs:
        return message.format("the project has no training run")
    if model is None:
        return None
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and int(optimizer.iterations.numpy()) > 0:
        return None
    vectors = [
        w.numpy()
        for w in model.weights
        if w.path.rsplit("/", 1)[-1] in ("bias", "beta", "gamma", "moving_mean", "moving_variance")
    ]
    if vectors and all(np.all(v == v.reshape(-1)[0]) for v in vectors):
        return message.format("every bias is still at its initial value")
    return None


def export_savedmodel(model: keras.Model, out: str | os.PathLike, force: bool = False) -> ExportResult:
    """A TensorFlow SavedModel folder with one ``serving_default`` signature.

    Its input is named ``image`` (float32, shaped like the model's input with any batch
    size) and its output ``probabilities``; a network ending in logits gets a softmax.
    Load it with ``tf.saved_model.load(out).signatures["serving_default"](image=x)``.
    """
    from keras.export import ExportArchive

    out = Path(out)
    warnings = _warnings(model)
    add_softmax = not _ends_in_probabilities(model)
    if add_softmax:
        warnings.append(f"The network ends in logits; the export adds a softmax so that "
                        f"'{OUTPUT_NAME}' sums to 1.")

    def serve(image):
        outputs = model(image, training=False)
        return {OUTPUT_NAME: keras.ops.softmax(outputs, axis=-1) if add_softmax else outputs}

    archive = ExportArchive()
    archive.track(model)
    signature = keras.InputSpec(shape=(None, *model.input_shape[1:]), dtype="float32", name=INPUT_NAME)
    archive.add_endpoint("serving_default", serve, input_signature=[signature])
    with _staged(out, force, "savedmodel", 2 * _weights_bytes(model)) as target:
        archive.write_out(str(target), verbose=False)
    return ExportResult(out, "savedmodel", warnings)


def export_keras(model: keras.Model, out: str | os.PathLike, force: bool = False) -> ExportResult:
    """A ``.keras`` archive: ``keras.saving.load_model`` reads it back once ``layers`` is imported."""
    out = Path(out)
    if out.suffix != ".keras":
        raise ExportError(f"A Keras archive's name must end in .keras. Expected a path like "
                          f"{out.with_suffix('.keras').name!r}. Received: out={str(out)!r}")
    warnings = _warnings(model)
    with _staged(out, force, "keras", _weights_bytes(model, with_optimizer=True)) as target:
        model.save(target)
    return ExportResult(out, "keras", warnings)


def export_python(
    spec: NetworkSpec,
    out: str | os.PathLike,
    weights_path: str | os.PathLike | None = None,
    force: bool = False,
    model: keras.Model | None = None,
) -> ExportResult:
    """A readable script (``out``, a ``.py``) that rebuilds ``spec`` with CNN Studio's ``layers``.

    Running it prints the model's summary. With ``weights_path`` (an existing
    ``.weights.h5``) the script loads those weights; with ``model`` instead, its weights are
    saved beside the script as ``NAME.weights.h5`` and loaded from there, so the two files
    move together. With neither, the script builds an untrained network (a warning says so).
    """
    out = Path(out)
    if out.suffix != ".py":
        raise ExportError(f"A Python script's name must end in .py. Expected a path like "
                          f"{out.with_suffix('.py').name!r}. Received: out={str(out)!r}")
    if weights_path is not None and model is not None:
        raise ExportError("Give the weights once. Expected weights_path or model, not both. "
                          f"Received: weights_path={str(weights_path)!r} and a model")
    source = python_source(spec, None)  # refuses a broken spec before anything is written
    warnings: list[str] = []
    written: Path | None = None
    if model is not None:
        warnings = _warnings(model)
        weights_path = written = out.with_suffix(".weights.h5")
        needed = _weights_bytes(model)
        with _staged(written, force, "weights", needed) as target, files.written_in_memory(target, needed) as h5:
            model.save_weights(h5)
            _mark_h5(h5, "weights")
    elif weights_path is None:
        warnings.append("No weights given: the script builds the network with fresh, untrained weights.")
    else:
        weights_path = Path(weights_path)
        if not weights_path.is_file():
            raise ExportError(f"No weights file at {str(weights_path)!r}. Expected a .weights.h5 file saved by "
                              f"CNN Studio or model.save_weights. Received: weights_path={str(weights_path)!r}")
    if weights_path is not None:
        source = python_source(spec, _weights_reference(Path(weights_path), out))
    try:
        with _staged(out, force, "python", len(source.encode()) + 1024 * 1024) as target:
            target.write_text(source, encoding="utf-8")
    except BaseException:
        if written is not None:
            written.unlink(missing_ok=True)
        raise
    return ExportResult(out, "python", warnings)


def _weights_reference(weights_path: Path | None, script: Path) -> str | None:
    if weights_path is None:
        return None
    weights_path = weights_path.resolve()
    if weights_path.parent == script.resolve().parent:
        return weights_path.name
    return str(weights_path)


def _warnings(model: keras.Model) -> list[str]:
    warning = untrained_warning(model)
    return [warning] if warning else []


def _ends_in_probabilities(model: keras.Model) -> bool:
    last = model.layers[-1]
    activation = getattr(last, "activation", None)
    name = getattr(activation, "__name__", str(activation))
    return name in ("softmax", "sigmoid")


MARKER_NAME = "cnnstudio-export.json"
"""What marks an export as ours: a file of this name inside a folder export or a ``.keras`` zip, a
comment line in a script, an HDF5 attribute in a weights file. ``force`` replaces only a marked
export of the same kind, never a user's own file or folder."""
SCRIPT_MARKER = "# cnnstudio-export: python"
_H5_MARKER = "cnnstudio-export"


def _marker_json(kind: str) -> str:
    return json.dumps({"format": "cnnstudio-export", "kind": kind, "version": 1})


def _read_marker(text) -> str | None:
    try:
        data = json.loads(text)
    except (ValueError, TypeError, RecursionError):
        return None
    return data.get("kind") if isinstance(data, dict) and data.get("format") == "cnnstudio-export" else None


def _mark_folder(path: Path, kind: str) -> None:
    (path / MARKER_NAME).write_text(_marker_json(kind), encoding="utf-8")


def _folder_kind(path: Path) -> str | None:
    marker = path / MARKER_NAME
    if not path.is_dir() or not marker.is_file() or marker.stat().st_size > 4096:
        return None
    return _read_marker(marker.read_text(encoding="utf-8", errors="replace"))


def _mark_zip(path: Path, kind: str) -> None:
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr(MARKER_NAME, _marker_json(kind))


def _zip_kind(path: Path) -> str | None:
    try:
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo(MARKER_NAME)
            return _read_marker(archive.read(info)) if info.file_size <= 4096 else None
    except (OSError, KeyError, zipfile.BadZipFile, EOFError, ValueError):
        return None


def _script_kind(path: Path) -> str | None:
    try:
        with path.open("r", encoding="utf-8", errors="replace") as handle:
            head = handle.read(8192)
    except OSError:
        return None
    return "python" if SCRIPT_MARKER in head.splitlines() else None


def _mark_h5(path: Path, kind: str) -> None:
    import h5py

    with h5py.File(path, "a") as handle:
        handle.attrs[_H5_MARKER] = kind


def _h5_kind(path: Path) -> str | None:
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            value = handle.attrs.get(_H5_MARKER)
    except Exception:  # h5py raises OSError, KeyError or its own errors for a file that is not HDF5
        return None
    return value.decode() if isinstance(value, bytes) else value


EXPORT_KINDS: dict[str, tuple] = {
    # kind -> (is a folder, mark(path, kind), kind_of(path) -> the kind it was exported as, or None)
    "savedmodel": (True, _mark_folder, _folder_kind),
    "keras": (False, _mark_zip, _zip_kind),
    "python": (False, lambda path, kind: None, _script_kind),  # python_source writes SCRIPT_MARKER
    "weights": (False, lambda path, kind: None, _h5_kind),  # marked in memory by export_python
    "tflite": (False, None, lambda path: _sidecar_kind(path)),  # no room for a marker: a manifest beside it
    "onnx": (False, None, lambda path: _sidecar_kind(path)),
}
"""Every format goes through :func:`_staged` with its kind; a new format registers how it is marked."""


def _sidecar(path: Path) -> Path:
    """``.NAME.cnnstudio-export.json`` beside a file whose format has no room for a marker."""
    return path.with_name(f".{path.name}.{MARKER_NAME}")


def _digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _sidecar_kind(path: Path) -> str | None:
    """The kind the manifest beside ``path`` records, if it lists ``path``'s current content."""
    manifest = _sidecar(path)
    if not manifest.is_file() or manifest.stat().st_size > 4096 or not path.is_file():
        return None
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (ValueError, OSError, RecursionError):
        return None
    if not isinstance(data, dict) or data.get("format") != "cnnstudio-export":
        return None
    return data.get("kind") if _digest(path) in data.get("sha256", []) else None


def _swap_with_sidecar(target: Path, out: Path, kind: str) -> None:
    """Move ``target`` onto ``out`` with a manifest that lists the old and the new content during
    the swap and the new one after, so a kill at any moment leaves ``out`` recognisably ours."""
    new = _digest(target)
    old = [_digest(out)] if out.is_file() else []
    manifest = {"format": "cnnstudio-export", "kind": kind, "version": 1}
    files.write_atomic(_sidecar(out), json.dumps({**manifest, "sha256": [*old, new]}))
    files.replace_path(target, out)
    files.write_atomic(_sidecar(out), json.dumps({**manifest, "sha256": [new]}))


@contextlib.contextmanager
def _staged(out: Path, force: bool, kind: str, needed_bytes: int = 0) -> Iterator[Path]:
    """A path to write the export to; moved onto ``out`` if the block succeeds, else removed.

    Before anything is written: ``out`` must be new, or (with ``force``) an earlier export of
    the same ``kind`` (see MARKER_NAME); the folder must exist and have ``needed_bytes`` free.
    The block's result is marked and swapped in atomically (``files.replace_path``): a kill at
    any moment leaves the old export or the new one at ``out``, and the next export cleans up
    what the killed one left. Any failure is an ExportError saying why; nothing is left behind.
    """
    is_folder, mark, kind_of = EXPORT_KINDS[kind]
    parent = out.parent
    shown = repr(str(out))
    if os.path.lexists(out):
        if not force:
            raise ExportError(f"{shown} already exists. Expected a new path, or force=True "
                              f"(--force on the command line) to replace it. Received: out={shown}")
        if out.is_symlink() or out.is_dir() != is_folder or kind_of(out) != kind:
            what = "folder" if out.is_dir() else "file"
            raise ExportError(f"{shown} is a {what} that is not an earlier {kind} export by CNN Studio, so "
                              f"--force does not replace it; it was left untouched. Expected a new path, or one "
                              f"CNN Studio exported as {kind}. Received: out={shown}")
    if not parent.is_dir():
        raise ExportError(f"The folder {str(parent)!r} does not exist. Expected an existing folder "
                          f"to export into. Received: out={shown}")
    try:
        free = shutil.disk_usage(parent).free
    except OSError:
        free = None
    if free is not None and free < needed_bytes:
        raise ExportError(f"Cannot write the export to {shown}: the disk is full (it needs about "
                          f"{needed_bytes:,} bytes, {free:,} are free). Free some space or export to another "
                          "disk; nothing was written.")
    message = None
    try:
        with files.staging_folder(out) as stage:
            target = stage / out.name
            yield target
            if mark is None:
                _swap_with_sidecar(target, out, kind)
            else:
                mark(target, kind)
                files.replace_path(target, out)
    except ExportError:
        raise
    except Exception as exc:  # TensorFlow, Keras and h5py raise their own types for a failed write
        message = _failure_message(exc, out)
        _release(exc)
    if message is not None:
        raise ExportError(message)


def _failure_message(exc: Exception, out: Path) -> str:
    if isinstance(exc, OSError):
        return _describe(exc, out)
    if "No space left" in str(exc) or "ENOSPC" in str(exc) or "errno = 28" in str(exc):
        return _describe(OSError(errno.ENOSPC, "No space left on device"), out)
    return (f"Cannot write the export to {str(out)!r}: {type(exc).__name__}: "
            f"{' '.join(str(exc).split())[:300]}; nothing was left behind.")


def _release(exc: BaseException) -> None:
    """Let go of what a failed library write still holds (open files, tensors) now, while the
    libraries are alive, rather than through the traceback's frames at exit."""
    tb = exc.__traceback__
    while tb is not None:
        with contextlib.suppress(RuntimeError):
            tb.tb_frame.clear()
        tb = tb.tb_next
    exc.__traceback__ = exc.__context__ = exc.__cause__ = None
    del exc, tb
    gc.collect()


def _weights_bytes(model: keras.Model, with_optimizer: bool = False) -> int:
    """About what a save of ``model`` writes: its weights (and the optimizer's), plus room for metadata."""
    weights = sum(int(np.prod(w.shape)) * np.dtype(w.dtype).itemsize for w in model.weights)
    optimizer = getattr(model, "optimizer", None)
    if with_optimizer and optimizer is not None:
        weights += sum(int(np.prod(v.shape)) * np.dtype(v.dtype).itemsize for v in optimizer.variables)
    return weights + 1024 * 1024


def _describe(exc: OSError, out: Path) -> str:
    if exc.errno == errno.ENOSPC:
        why = "the disk is full. Free some space or export to another disk"
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        why = f"there is no permission to write in {str(out.parent)!r}. Choose a folder you can write to"
    else:
        why = f"{exc.strerror or exc}. Check the path and try again"
    return (f"Cannot write the export to {str(out)!r}: {why}; nothing was left behind. "
            f"Received: {type(exc).__name__}(errno={exc.errno})")


def python_source(spec: NetworkSpec, weights: str | None = None) -> str:
    """The text of a script rebuilding ``spec`` with ``layers`` (see ``export_python``).

    ``weights`` is the weights file to load: a name beside the script, or an absolute path.
    """
    from cnnstudio import __version__
    from cnnstudio.analysis.analyze import infer

    summary = infer(spec)
    if not summary.ok:
        problems = "; ".join(str(i) for i in summary.errors() if not i.caused_by)
        raise ExportError(f"The network {spec.name!r} has errors, so it cannot be exported as a script. "
                          f"Expected a network that builds. Received: {problems}")
    variables = {INPUT: "inputs"}
    lines = [f"    inputs = keras.Input(shape={tuple(spec.input_shape)!r}, name={INPUT!r})"]
    for i, layer in enumerate(spec.layers):
        config = summary.layers[i].config
        layer_type = catalog.get(layer.type)
        arguments = _arguments(layer_type, config) + [f"name={layer.name!r}"]
        sources = [variables[s] for s in spec.inputs_of(i)]
        variables[layer.name] = _identifier(layer.name, set(variables.values()))
        call = sources[0] if len(sources) == 1 else "[" + ", ".join(sources) + "]"
        lines.append(f"    {variables[layer.name]} = {layer_type.keras_class}({', '.join(arguments)})({call})")
    lines.append(f"    return keras.Model(inputs, {variables[spec.layers[-1].name]}, name={spec.name!r})")
    if weights is None:
        weights_line = "WEIGHTS = None  # no trained weights were exported: the network starts untrained"
    elif Path(weights).is_absolute():
        weights_line = f"WEIGHTS = Path({weights!r})"
    else:
        weights_line = f"WEIGHTS = Path(__file__).with_name({weights!r})"
    body = "\n".join(lines)
    title = "".join(c if c.isprintable() and c not in "\\\"" else "_" for c in spec.name)
    return f'''{SCRIPT_MARKER}
"""{title}: the network rebuilt with CNN Studio's layers (exported by CNN Studio {__version__}).

Needs CNN Studio installed, for its ``layers`` package. ``python {{this file}}`` prints the
summary; ``from this_module import build_model`` gives the model to train or predict with.
"""

from pathlib import Path

import keras

import layers

{weights_line}


def build_model() -> keras.Model:
{body}


if __name__ == "__main__":
    model = build_model()
    if WEIGHTS is not None:
        model.load_weights(WEIGHTS)
    model.summary()
    print(f"Total parameters: {{model.count_params()}}")
'''


def _arguments(layer_type: catalog.LayerType, config: dict) -> list[str]:
    """The constructor's arguments as the catalog describes them; those at Keras' default left out."""
    out = []
    for param in layer_type.params:
        value, default = config[param.name], param.keras_default
        required = default is catalog.REQUIRED
        if not required and value == default:
            continue
        if param.to_keras == catalog.ToKeras.L2:
            text = f"keras.regularizers.L2({value!r})"
        else:
            text = repr(tuple(value) if isinstance(value, list) else value)
        out.append(text if required and len(out) < 2 else f"{param.keras_argument}={text}")
    return out


def _identifier(name: str, taken: set[str]) -> str:
    base = "".join(c if c.isalnum() or c == "_" else "_" for c in name)
    if not base or base[0].isdigit() or keyword.iskeyword(base) or base in ("keras", "layers", "Path", "inputs"):
        base = f"x_{base}"
    candidate, k = base, 2
    while candidate in taken:
        candidate, k = f"{base}_{k}", k + 1
    return candidate
