"""Data sets: built-ins, a user's CSV/npz/image folder, label and shape checks, clear errors."""

from __future__ import annotations

import gzip
import time

import numpy as np
import pytest

from cnnstudio.training import data, mnist1d
from cnnstudio.training.data import DataError, Dataset, check_compatible, load_dataset


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def test_digits_is_scaled_split_and_offline(digits):
    from sklearn.datasets import load_digits

    assert digits.input_shape == (8, 8, 1)
    assert digits.num_classes == 10
    assert len(digits.x_train) + len(digits.x_val) == len(load_digits().target)
    assert len(digits.x_val) == round(0.2 * len(load_digits().target))
    assert digits.x_train.dtype == np.float32
    assert digits.x_train.min() == 0.0 and digits.x_train.max() == 1.0
    assert set(np.unique(digits.y_train)) == set(range(10))


def test_split_depends_on_seed_only(digits):
    again = load_dataset("digits", seed=0)
    other = load_dataset("digits", seed=1)
    np.testing.assert_array_equal(again.y_val, digits.y_val)
    assert not np.array_equal(other.y_val, digits.y_val)


def test_mnist1d_is_deterministic_fast_and_shaped_for_1d_cnns():
    start = time.perf_counter()
    a = load_dataset("mnist1d")
    elapsed = time.perf_counter() - start
    b = load_dataset("mnist1d")
    assert a.input_shape == (40, 1)
    assert (len(a.x_train), len(a.x_val)) == (4000, 1000)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    assert elapsed < 5
    counts = np.bincount(np.concatenate([a.y_train, a.y_val]))
    assert counts.tolist() == [500] * 10


def test_mnist1d_follows_greydanus_templates():
    shapes = mnist1d.templates()
    assert shapes.shape == (10, 12)
    np.testing.assert_allclose(shapes[:, 0], 0.0)
    other = mnist1d.generate(num_samples=100, seed=7)
    assert other.x_train.shape == (80, 40, 1)
    assert not np.allclose(other.x_train[0], other.x_train[1])


def test_every_builtin_has_one_line():
    assert set(data.DATASETS) == {"digits", "mnist-5k", "mnist1d", "mnist", "fashion_mnist", "cifar10"}
    assert all("\n" not in line and line for line in data.DATASETS.values())


def test_keras_dataset_offline_says_which_file_to_place_where(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    for var in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")
    start = time.perf_counter()
    with pytest.raises(DataError) as info:
        load_dataset("mnist")
    assert time.perf_counter() - start < 30
    message = str(info.value)
    assert 'Could not load the "mnist" data set' in message
    assert str(tmp_path / "datasets" / "mnist.npz") in message
    assert "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz" in message


@pytest.fixture
def keras_home(tmp_path, monkeypatch):
    """Keras' cache moved to tmp_path, with its file-hash check off so small stand-ins are read."""
    import keras.src.backend.config as keras_config
    import keras.src.utils.file_utils as file_utils

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(keras_config, "_KERAS_DIR", str(tmp_path))
    monkeypatch.setattr(file_utils, "validate_file", lambda *args, **kwargs: True)
    (tmp_path / "datasets").mkdir()
    return tmp_path / "datasets"


def _idx(array, kind):
    """The MNIST idx layout Keras' fashion_mnist reads: a header (8 bytes labels, 16 images), then bytes."""
    header = np.zeros(8 if kind == "labels" else 16, np.uint8).tobytes()
    return gzip.compress(header + np.ascontiguousarray(array, np.uint8).tobytes())


def test_mnist_placed_in_the_keras_cache_loads_as_the_message_says(keras_home):
    rng = np.random.default_rng(0)
    x_train, x_test = rng.integers(0, 256, (12, 28, 28)), rng.integers(0, 256, (4, 28, 28))
    y_train, y_test = np.arange(12) % 10, np.arange(4)
    np.savez(keras_home / "mnist.npz", x_train=x_train.astype(np.uint8), y_train=y_train,
             x_test=x_test.astype(np.uint8), y_test=y_test)
    ds = load_dataset("mnist")
    assert ds.x_train.shape == (12, 28, 28, 1) and ds.x_val.shape == (4, 28, 28, 1)
    np.testing.assert_allclose(ds.x_train[..., 0], x_train / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(ds.y_val, y_test)
    assert ds.class_names == [str(d) for d in range(10)]


def test_fashion_mnist_placed_in_the_keras_cache_loads_with_class_names(keras_home):
    rng = np.random.default_rng(1)
    folder = keras_home / "fashion-mnist"
    folder.mkdir()
    images = {"train": rng.integers(0, 256, (6, 28, 28)), "t10k": rng.integers(0, 256, (3, 28, 28))}
    for split, x in images.items():
        (folder / f"{split}-images-idx3-ubyte.gz").write_bytes(_idx(x, "images"))
        (folder / f"{split}-labels-idx1-ubyte.gz").write_bytes(_idx(np.arange(len(x)), "labels"))
    ds = load_dataset("fashion_mnist")
    assert ds.x_train.shape == (6, 28, 28, 1) and ds.x_val.shape == (3, 28, 28, 1)
    np.testing.assert_allclose(ds.x_val[..., 0], images["t10k"] / 255.0, rtol=1e-6)
    assert ds.class_names[0] == "T-shirt/top" and len(ds.class_names) == 10


def _write_kaggle_csv(path, n=30, side=4, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    pixels = rng.integers(0, 256, (n, side * side))
    header = "label," + ",".join(f"pixel{i}" for i in range(side * side))
    rows = [",".join(map(str, [lab, *px])) for lab, px in zip(labels, pixels, strict=True)]
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    return labels, pixels


def test_kaggle_csv_loads_square_scaled_images(tmp_path):
    path = tmp_path / "train.csv"
    labels, pixels = _write_kaggle_csv(path)
    ds = load_dataset(path, validation_split=0.2, seed=0)
    assert ds.input_shape == (4, 4, 1)
    assert ds.num_classes == 3
    assert len(ds.x_train) + len(ds.x_val) == len(labels)
    x = np.concatenate([ds.x_train, ds.x_val])
    np.testing.assert_allclose(np.sort(x.ravel()), np.sort(pixels.ravel() / 255.0), rtol=1e-6)


def test_csv_without_label_column_names_the_file(tmp_path):
    path = tmp_path / "test.csv"
    path.write_text("pixel0,pixel1,pixel2,pixel3\n1,2,3,4\n")
    with pytest.raises(DataError, match=r'test\.csv: no "label" column'):
        load_dataset(path)


def test_csv_with_non_square_pixels_or_text_is_refused(tmp_path):
    path = tmp_path / "odd.csv"
    path.write_text("label,a,b,c\n1,2,3,4\n0,1,1,1\n")
    with pytest.raises(DataError, match="3 pixel columns do not make a square image"):
        load_dataset(path)
    path.write_text("label,a,b,c,d\n1,2,3,4,5\n0,x,1,1,1\n")
    with pytest.raises(DataError, match=r"odd\.csv: row 3 is not 5 numbers"):
        load_dataset(path)


def test_npz_images_and_sequences(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "mine.npz"
    np.savez(path, x=rng.integers(0, 256, (20, 6, 6), dtype=np.uint8), y=np.arange(20) % 4)
    ds = load_dataset(path)
    assert ds.input_shape == (6, 6, 1) and ds.num_classes == 4
    assert ds.x_train.max() <= 1.0
    seq = tmp_path / "seq.npz"
    np.savez(seq, x=rng.normal(size=(20, 12, 2)).astype("float32"), y=np.arange(20) % 2)
    ds = load_dataset(seq, input_shape=(12, 2))
    assert ds.input_shape == (12, 2)


def test_broken_npz_and_missing_arrays_name_the_file(tmp_path):
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"PK\x03\x04 this is not a zip")
    with pytest.raises(DataError, match=r"broken\.npz: not a readable \.npz file"):
        load_dataset(broken)
    partial = tmp_path / "partial.npz"
    np.savez(partial, x=np.zeros((3, 4, 4)))
    with pytest.raises(DataError, match=r"partial\.npz: missing array y"):
        load_dataset(partial)
    nan = tmp_path / "nan.npz"
    x = np.zeros((4, 2, 2))
    x[1, 0, 0] = np.nan
    np.savez(nan, x=x, y=np.array([0, 1, 0, 1]))
    with pytest.raises(DataError, match=r"nan\.npz: the data contains NaN"):
        load_dataset(nan)


def test_labels_must_be_integers_from_zero(tmp_path):
    path = tmp_path / "labels.npz"
    np.savez(path, x=np.zeros((4, 2, 2)), y=np.array([0.5, 1, 2, 3]))
    with pytest.raises(DataError, match=r"must be whole numbers\. Expected integers 0\.\.K-1"):
        load_dataset(path)
    np.savez(path, x=np.zeros((4, 2, 2)), y=np.array([-1, 1, 2, 3]))
    with pytest.raises(DataError, match=r"must not be negative.*Received: min=-1"):
        load_dataset(path)
    with pytest.raises(DataError, match=r"go beyond the 2 classes\. Expected integers 0\.\.1\. Received: max=5"):
        Dataset("mine", np.zeros((2, 2, 2, 1)), [0, 5], np.zeros((1, 2, 2, 1)), [1], ["a", "b"])


def test_image_folder_takes_size_and_channels_from_the_network(tmp_path):
    import tensorflow as tf

    rng = np.random.default_rng(0)
    for cls in ("cat", "dog"):
        (tmp_path / cls).mkdir()
        for i in range(3):
            img = rng.integers(0, 256, (10, 12, 3), dtype=np.uint8)
            (tmp_path / cls / f"{i}.png").write_bytes(tf.io.encode_png(img).numpy())
    ds = load_dataset(tmp_path, validation_split=0.34, input_shape=(8, 8, 1))
    assert ds.input_shape == (8, 8, 1)
    assert ds.class_names == ["cat", "dog"]
    assert len(ds.x_train) + len(ds.x_val) == 6
    pixels = np.asarray(ds.x_train)
    assert pixels.shape == (len(ds.x_train), 8, 8, 1) and pixels.min() >= 0.0 and pixels.max() <= 1.0
    assert load_dataset(tmp_path, input_shape=(5, 7, 3)).input_shape == (5, 7, 3)


def test_unknown_name_and_empty_folder(tmp_path):
    with pytest.raises(DataError, match=r'There is no data set "digitz"'):
        load_dataset("digitz")
    with pytest.raises(DataError, match="no class subfolders"):
        load_dataset(tmp_path)
    with pytest.raises(DataError, match=r"Expected 0 < validation_split < 1\. Received: validation_split=1\.5"):
        load_dataset("digits", validation_split=1.5)


def test_check_compatible_names_both_shapes_and_the_fix(digits):
    check_compatible(digits, (8, 8, 1), 10)
    with pytest.raises(DataError) as info:
        check_compatible(digits, (28, 28, 1), 10)
    assert str(info.value) == (
        "The data's images are 8x8x1 but the network's input is 28x28x1. "
        "Set the input to 8x8x1 or pick a data set of 28x28x1 images."
    )
    with pytest.raises(DataError, match="The data has 10 classes but the network's output has 5 units"):
        check_compatible(digits, (8, 8, 1), 5)
