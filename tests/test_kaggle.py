"""From the course to Kaggle: mnist-5k offline, padding to the input, Digit Recognizer CSVs
through `train` and `predict`, and image folders in Kaggle's seg_train/seg_test layout."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from cnnstudio.cli import main
from cnnstudio.training.data import (
    DataError,
    Dataset,
    ImageFiles,
    fit_to_input,
    load_dataset,
    load_unlabelled,
)


@pytest.fixture(scope="module")
def mnist5k():
    return load_dataset("mnist-5k")


def test_mnist_5k_loads_offline_as_28x28_digits_with_a_seeded_split(mnist5k):
    assert mnist5k.input_shape == (28, 28, 1)
    assert mnist5k.num_classes == 10 and mnist5k.class_names == [str(d) for d in range(10)]
    assert (len(mnist5k.x_train), len(mnist5k.x_val)) == (4000, 1000)
    assert mnist5k.x_train.dtype == np.float32 and mnist5k.x_train.max() == 1.0 and mnist5k.x_train.min() == 0.0
    counts = np.bincount(np.concatenate([mnist5k.y_train, mnist5k.y_val]))
    assert counts.tolist() == [500] * 10
    np.testing.assert_array_equal(load_dataset("mnist-5k").y_val, mnist5k.y_val)
    assert not np.array_equal(load_dataset("mnist-5k", seed=1).y_val, mnist5k.y_val)


def test_smaller_images_are_padded_centred_and_reported(mnist5k):
    padded, note = fit_to_input(mnist5k, (32, 32, 1))
    assert note == "Padded the 28x28x1 images with zeros to 32x32x1 (centred) to fit the network's input."
    assert padded.input_shape == (32, 32, 1)
    np.testing.assert_array_equal(padded.x_train[:, 2:30, 2:30], mnist5k.x_train)
    assert not padded.x_val[:, :2].any() and not padded.x_val[:, 30:].any()
    assert not padded.x_val[:, :, :2].any() and not padded.x_val[:, :, 30:].any()
    same, none = fit_to_input(mnist5k, (28, 28, 1))
    assert same is mnist5k and none is None


def test_larger_images_are_refused_with_both_sizes_or_resized_when_asked(mnist5k):
    small = Dataset("big", mnist5k.x_train[:8], mnist5k.y_train[:8], mnist5k.x_val[:4], mnist5k.y_val[:4],
                    mnist5k.class_names)
    with pytest.raises(DataError) as info:
        fit_to_input(small, (16, 16, 1))
    assert str(info.value).startswith("The data's images are 28x28x1, larger than the network's input 16x16x1. "
                                      "Set the input to 28x28x1")
    assert "--resize" in str(info.value)
    resized, note = fit_to_input(small, (16, 16, 1), resize=True)
    assert resized.input_shape == (16, 16, 1)
    assert note == "Resized the 28x28x1 images to 16x16x1 to fit the network's input."


def _write_kaggle_csv(path, x, y=None):
    pixels = np.rint(x.reshape(len(x), -1) * 255).astype(int)
    header = (["label"] if y is not None else []) + [f"pixel{i}" for i in range(pixels.shape[1])]
    rows = pixels if y is None else np.column_stack([y, pixels])
    np.savetxt(path, rows, fmt="%d", delimiter=",", header=",".join(header), comments="")


@pytest.fixture(scope="module")
def kaggle_files(tmp_path_factory, mnist5k):
    """Digit Recognizer's train.csv (with labels) and test.csv (without) made from mnist-5k."""
    folder = tmp_path_factory.mktemp("kaggle")
    _write_kaggle_csv(folder / "train.csv", mnist5k.x_train[:1200], mnist5k.y_train[:1200])
    _write_kaggle_csv(folder / "test.csv", mnist5k.x_val[:300])
    _write_kaggle_csv(folder / "labelled.csv", mnist5k.x_val[:300], mnist5k.y_val[:300])
    return folder


@pytest.fixture(scope="module")
def lenet_on_train_csv(kaggle_files):
    capture = pytest.MonkeyPatch()
    import io
    import sys

    out, err = io.StringIO(), io.StringIO()
    capture.setattr(sys, "stdout", out)
    capture.setattr(sys, "stderr", err)
    try:
        code = main(["train", "lenet5", "--dataset", str(kaggle_files / "train.csv"), "--epochs", "3",
                     "--lr", "0.002", "--no-xla", "--save", str(kaggle_files / "lenet.keras"), "--json"])
    finally:
        capture.undo()
    return code, out.getvalue(), err.getvalue(), kaggle_files / "lenet.keras"


def test_lenet5_trains_on_kaggle_train_csv_padded_to_32x32(lenet_on_train_csv):
    code, out, err, model_file = lenet_on_train_csv
    assert code == 0, err
    assert "Padded the 28x28x1 images with zeros to 32x32x1 (centred) to fit the network's input." in err
    assert json.loads(out.strip().splitlines()[-1])["val_accuracy"] > 0.5
    assert model_file.is_file()


def test_predict_writes_kaggles_submission_format(lenet_on_train_csv, kaggle_files, capsys):
    _, _, _, model_file = lenet_on_train_csv
    x, y = load_unlabelled(kaggle_files / "test.csv")
    assert x.shape == (300, 28, 28, 1) and y is None
    out = kaggle_files / "submission.csv"
    assert main(["predict", str(model_file), "--data", str(kaggle_files / "test.csv"), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "Accuracy" not in captured.out
    assert f"Wrote 300 predictions to {out}" in captured.err
    with open(out, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["ImageId", "Label"]
    assert [int(r[0]) for r in rows[1:]] == list(range(1, 301))
    assert all(r[1] in [str(d) for d in range(10)] for r in rows[1:])


def test_predict_with_labels_prints_the_accuracy_of_the_submission(lenet_on_train_csv, kaggle_files, capsys):
    import keras

    _, _, _, model_file = lenet_on_train_csv
    out = kaggle_files / "scored.csv"
    assert main(["predict", str(model_file), "--data", str(kaggle_files / "labelled.csv"), "--out", str(out)]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    x, y = load_unlabelled(kaggle_files / "labelled.csv")
    labels = np.loadtxt(out, delimiter=",", skiprows=1, dtype=int)[:, 1]
    model = keras.saving.load_model(model_file)
    expected = np.argmax(model.predict(np.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0))), verbose=0), axis=1)
    np.testing.assert_array_equal(labels, expected)
    right = int(np.sum(labels == y))
    assert line == f"Accuracy: {right} of 300 right ({100 * right / 300:.2f}%)"


def test_predict_refuses_what_it_cannot_use(lenet_on_train_csv, kaggle_files, tmp_path, capsys):
    _, _, _, model_file = lenet_on_train_csv
    assert main(["predict", str(tmp_path / "none.keras"), "--data", str(kaggle_files / "test.csv")]) == 2
    assert "No model file at" in capsys.readouterr().err
    assert main(["predict", str(model_file), "--data", str(tmp_path / "none.csv")]) == 2
    assert "There is no file" in capsys.readouterr().err
    assert main(["predict", str(model_file), "--data", str(kaggle_files / "test.csv"),
                 "--out", str(tmp_path / "missing" / "s.csv")]) == 2
    assert "There is no folder" in capsys.readouterr().err


def _image_folder(root, split_names=("seg_train", "seg_test"), counts=(6, 2), size=(20, 30)):
    """Kaggle's layout with generated JPEGs (RGB) and PNGs (grey): bright vs dark pictures."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, count in zip(split_names, counts, strict=True):
        for label, (cls, level) in enumerate((("dark", 40), ("light", 210))):
            folder = root / split / cls
            folder.mkdir(parents=True)
            for i in range(count):
                pixels = np.clip(rng.normal(level, 20, (*size, 3)), 0, 255).astype(np.uint8)
                if (i + label) % 2:
                    Image.fromarray(pixels).save(folder / f"{i}.jpg", quality=90)
                else:
                    Image.fromarray(pixels[..., 0]).save(folder / f"{i}.png")
    return root


def test_an_image_folder_in_kaggles_layout_is_streamed_and_trains(tmp_path, capsys):
    root = _image_folder(tmp_path / "intel")
    seen = []
    ds = load_dataset(root, input_shape=(16, 16, 3), progress=lambda done, total: seen.append((done, total)))
    assert isinstance(ds.x_train, ImageFiles) and isinstance(ds.x_val, ImageFiles)
    assert ds.class_names == ["dark", "light"]
    assert (len(ds.x_train), len(ds.x_val)) == (12, 4)
    assert ds.input_shape == (16, 16, 3)
    assert seen[-1] == (4, 4) and (12, 12) in seen
    first = ds.x_train[0]
    assert first.shape == (16, 16, 3) and first.dtype == np.float32 and first.min() >= 0 and first.max() <= 1
    # 20x30 pictures kept their aspect: padded rows of zeros above and below
    assert not first[:2].any() and first[8].any()
    cropped = load_dataset(root, input_shape=(16, 16, 3), aspect="crop")
    assert cropped.x_train[0][:2].any()
    spec = tmp_path / "tiny.json"
    spec.write_text(json.dumps({"name": "tiny", "input_shape": [16, 16, 3], "layers": [
        {"name": "conv", "type": "Conv2D", "params": {"filters": 4}},
        {"name": "pool", "type": "GlobalAvgPool2D", "params": {}},
        {"name": "out", "type": "Dense", "params": {"units": 2, "activation": "softmax"}}]}))
    from cnnstudio.network.spec import NetworkSpec
    from cnnstudio.training.loop import TrainingSettings, train

    result = train(NetworkSpec.from_dict(json.loads(spec.read_text())), ds,
                   TrainingSettings(epochs=2, batch_size=4, learning_rate=0.01, jit_compile=False))
    assert result.status == "completed", result.error
    assert result.epochs_completed == 2 and len(result.history["val_accuracy"]) == 2


def test_an_image_folder_trains_from_the_cli_with_a_scan_progress_bar(tmp_path, capsys):
    root = _image_folder(tmp_path / "digits", split_names=("train", "test"), counts=(4, 2), size=(10, 10))
    assert main(["train", "digits-cnn", "--dataset", str(root), "--epochs", "1", "--batch-size", "4", "--no-xla"]) == 0
    err = capsys.readouterr().err
    assert "Scanning images 8/8" in err and "Scanning images 4/4" in err
    assert "8 training and 4 validation examples of 8x8x1, 2 classes" in err


def test_image_folders_with_unknown_test_classes_or_broken_files_are_refused(tmp_path):
    root = _image_folder(tmp_path / "data", counts=(2, 1))
    (root / "seg_test" / "extra").mkdir()
    with pytest.raises(DataError, match=r"classes \['extra'\] are not among the training classes"):
        load_dataset(root, input_shape=(8, 8, 1))
    (root / "seg_test" / "extra").rmdir()
    (root / "seg_train" / "dark" / "broken.jpg").write_bytes(b"not a picture")
    with pytest.raises(DataError, match=r"broken\.jpg: cannot read this image"):
        load_dataset(root, input_shape=(8, 8, 1))
