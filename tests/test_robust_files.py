"""Hostile and broken files: .keras archives, .npz and CSV data, image folders (issue 13).

Each is refused with "Cannot read X ..." or a DataError naming the file, before anything
large is unpacked or allocated.
"""

import io
import json
import struct
import zipfile
import zlib

import keras
import numpy as np
import pytest

from cnnstudio import archives
from cnnstudio.cli import main
from cnnstudio.models.importer import ImportRefused, import_keras, load_keras_file
from cnnstudio.network import presets
from cnnstudio.training.data import DataError, load_dataset
from cnnstudio.workspace.model_files import open_model
from cnnstudio.workspace.project import Project, is_project_path, save_project


@pytest.fixture(scope="module")
def good_keras(tmp_path_factory):
    inputs = keras.Input((4, 4, 1))
    outputs = keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(inputs))
    path = tmp_path_factory.mktemp("keras") / "good.keras"
    keras.Model(inputs, outputs, name="tiny").save(path)
    return path


def rewrite_archive(source, target, change):
    """A copy of the zip ``source`` at ``target`` with ``change(name, data)`` applied to each
    member (return None to leave a member out)."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for info in old.infolist():
            data = change(info.filename, old.read(info.filename))
            if data is not None:
                new.writestr(info.filename, data)
    return target


def test_a_good_archive_still_loads(good_keras):
    assert load_keras_file(good_keras).name == "tiny"


@pytest.mark.parametrize("case,expected", [
    ("no config", "the archive has no config.json"),
    ("deep config", "nested too deeply"),
    ("nan config", "NaN is not a number JSON allows"),
    ("huge dense", "units=1099511627776. Expected sizes of at most 2147483647"),
    ("corrupt weights", "Cannot read"),
    ("not a zip", "is not a readable zip archive"),
])
def test_broken_keras_archives_are_refused_with_the_reason(good_keras, tmp_path, case, expected):
    target = tmp_path / "bad.keras"
    if case == "not a zip":
        target.write_bytes(b"PK\x03\x04 this is not really a zip")
    else:
        def change(name, data):
            if name == "config.json":
                if case == "no config":
                    return None
                if case == "deep config":
                    return b"[" * 100_000 + b"]" * 100_000
                config = json.loads(data)
                if case == "nan config":
                    return json.dumps(config).replace('"units": 3', '"units": NaN')
                if case == "huge dense":
                    return json.dumps(config).replace('"units": 3', f'"units": {2 ** 40}')
            if name.endswith(".h5") and case == "corrupt weights":
                return data[:100] + b"\0" * (len(data) - 100)
            return data

        rewrite_archive(good_keras, target, change)
    for load in (load_keras_file, import_keras, open_model):
        with pytest.raises(ImportRefused) as caught:
            load(target)
        assert str(caught.value).startswith(f"Cannot read {str(target)!r}")
        assert expected in str(caught.value)


def declare_sizes(path, size):
    """Rewrite every member's declared uncompressed size in the zip at ``path`` (a forged bomb)."""
    raw = bytearray(path.read_bytes())
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        start = 0
        while (start := raw.find(signature, start)) != -1:
            raw[start + offset:start + offset + 4] = struct.pack("<I", size)
            start += 4
    path.write_bytes(bytes(raw))


def test_a_zip_bomb_is_refused_before_anything_is_unpacked(good_keras, tmp_path):
    bomb = rewrite_archive(good_keras, tmp_path / "bomb.keras", lambda name, data: data)
    declare_sizes(bomb, 0xFFFF_FFF0)
    with pytest.raises(ImportRefused, match="would unpack to .* bytes. Expected at most 4,294,967,296 bytes; "
                                            "the archive may be a zip bomb"):
        load_keras_file(bomb)
    real = tmp_path / "real-bomb.keras"
    with zipfile.ZipFile(real, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("config.json", "{}")
        archive.writestr("model.weights.h5", b"\0" * 5_000_000)
    assert real.stat().st_size < 50_000
    with pytest.raises(ImportRefused, match="would unpack to 5,000,002 bytes"):
        load_keras_file(real, max_bytes=1_000_000)


def npz(path, **arrays):
    np.savez(path, **arrays)
    return path


def test_npz_holding_scalars_or_complex_values_is_refused(tmp_path):
    with pytest.raises(DataError, match=r"scalars\.npz: x is a single number"):
        load_dataset(npz(tmp_path / "scalars.npz", x=np.float32(1), y=np.int64(0)))
    with pytest.raises(DataError, match=r"y is a single number"):
        load_dataset(npz(tmp_path / "y.npz", x=np.zeros((4, 2, 2)), y=np.int64(0)))
    with pytest.raises(DataError, match="x holds complex numbers. Expected real numbers"):
        load_dataset(npz(tmp_path / "complex.npz", x=np.ones((4, 2, 2)) * (1 + 2j), y=np.arange(4) % 2))
    with pytest.raises(DataError, match=r"plain\.npz: not a readable \.npz file \(not a zip archive"):
        np.save(tmp_path / "plain.npy", np.zeros(3))
        (tmp_path / "plain.npy").rename(tmp_path / "plain.npz")
        load_dataset(tmp_path / "plain.npz")


def test_npz_whose_header_claims_terabytes_is_refused_before_allocating(tmp_path):
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "<f4", "fortran_order": False,
                                                  "shape": (10 ** 12,)})
    buffer.write(b"\0" * 64)
    labels = io.BytesIO()
    np.save(labels, np.arange(4))
    path = tmp_path / "forged.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("x.npy", buffer.getvalue())
        archive.writestr("y.npy", labels.getvalue())
    with pytest.raises(DataError, match=r"x\.npy claims 1,000,000,000,000 elements \(4,000,000,000,000 bytes\) "
                                        r"but holds only"):
        load_dataset(path)


def write_csv(path, text, bom=False):
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode())
    return path


def test_csv_with_only_a_label_column_is_refused(tmp_path):
    with pytest.raises(DataError, match=r"only-label\.csv: only a label column. Expected pixel columns"):
        load_dataset(write_csv(tmp_path / "only-label.csv", "label\n1\n0\n1\n"))


def test_csv_saved_by_excel_with_a_byte_order_mark_is_read(tmp_path):
    rows = "".join(f"{k % 2},{k},0,0,{k}\n" for k in range(10))
    dataset = load_dataset(write_csv(tmp_path / "excel.csv", "label,p0,p1,p2,p3\n" + rows, bom=True))
    assert dataset.input_shape == (2, 2, 1) and dataset.num_classes == 2


def test_csv_with_complex_values_is_refused_naming_the_row(tmp_path):
    with pytest.raises(DataError, match=r"row 3 is not 5 numbers"):
        load_dataset(write_csv(tmp_path / "c.csv", "label,a,b,c,d\n0,1,2,3,4\n1,1+2j,2,3,4\n0,1,2,3,4\n"))


NOT_FINITE = r"the data contains NaN or infinite values, or values beyond float32's range \(3.4e38\)"


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "3.5e38", "1e300"])
def test_csv_with_values_that_are_not_finite_floats_is_refused(tmp_path, value):
    rows = f"label,a,b,c,d\n0,1,2,3,4\n1,1,{value},3,4\n"
    with pytest.raises(DataError, match=rf"big\.csv: {NOT_FINITE}"):
        load_dataset(write_csv(tmp_path / "big.csv", rows))


@pytest.mark.parametrize("x", [np.full((4, 6), 1e300), np.full((4, 2, 2), -1e40)])
def test_npz_with_values_beyond_float32_is_refused(tmp_path, x):
    path = tmp_path / "big.npz"
    np.savez(path, x=x, y=np.array([0, 1, 0, 1]))
    with pytest.raises(DataError, match=rf"big\.npz: {NOT_FINITE}"):
        load_dataset(path, input_shape=x.shape[1:])


def test_an_image_folder_names_the_file_it_cannot_read(tmp_path):
    from cnnstudio.inspection.pictures import write_png

    for label in ("a", "b"):
        (tmp_path / label).mkdir()
        for k in range(2):
            write_png(tmp_path / label / f"{k}.png", np.full((4, 4), 40 * k, np.uint8))
    (tmp_path / "b" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not an image at all")
    with pytest.raises(DataError, match=r"b/broken\.png: cannot read this image"):
        load_dataset(tmp_path, input_shape=(4, 4, 1))


def test_export_and_inspect_accept_the_documented_project_name(tmp_path, capsys):
    path = save_project(Project(network=presets.get("digits-cnn")), tmp_path / "net.cnnproj.json")
    assert is_project_path(path) and is_project_path("x.CNNPROJ") and not is_project_path("x.json")
    assert open_model(path).spec.to_dict() == presets.get("digits-cnn").to_dict()
    assert main(["export", str(path), "--format", "python", str(tmp_path / "net.py")]) == 0
    assert (tmp_path / "net.py").is_file()
    assert main(["inspect", str(path), "--filters", str(tmp_path / "f.png")]) == 0
    assert (tmp_path / "f.png").is_file()
    capsys.readouterr()


def test_a_damaged_run_weights_file_is_refused_with_its_name(tmp_path):
    path = tmp_path / "p.cnnproj"
    (tmp_path / "p.runs").mkdir()
    (tmp_path / "p.runs" / "run-001.weights.h5").write_bytes(b"garbage")
    save_project(Project(network=presets.get("digits-cnn"),
                         runs=[{"id": "run-001", "status": "completed",
                                "weights_file": "p.runs/run-001.weights.h5"}]), path)
    with pytest.raises(ImportRefused, match=r"Cannot read the weights .*run-001\.weights\.h5"):
        open_model(path)
    assert archives.MAX_UNPACKED_BYTES == 4 * 1024 ** 3


def png(width, height, pixel_data, color_type=0):
    from cnnstudio.inspection import pictures

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    return pictures.PNG_SIGNATURE + chunk(b"IHDR", header) + chunk(b"IDAT", pixel_data) + chunk(b"IEND", b"")


@pytest.mark.parametrize("data,expected", [
    (png(100_000, 100_000, zlib.compress(b"\0" * 1000)), "claims 100000x100000 pixels. Expected at most"),
    (png(4000, 4000, zlib.compress(b"\0" * 40_000_000, 9)), "inflates to more than the 4000x4000 image"),
    (png(4, 4, b"not zlib at all"), "Corrupt PNG: error"),
    (png(4, 4, zlib.compress(b"\0" * 3)), "inflates to less"),
    (png(4, 4, zlib.compress(b"\0" * 20))[:40], "Corrupt PNG"),
])
def test_forged_or_broken_pngs_are_refused_as_image_errors(tmp_path, data, expected):
    from cnnstudio.inspection import pictures

    with pytest.raises(pictures.ImageError, match=expected):
        pictures.decode_png(data)
    path = tmp_path / "bad.png"
    path.write_bytes(data)
    with pytest.raises(pictures.ImageError):
        pictures.load_image(path)
