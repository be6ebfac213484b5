"""The dependency-free PNG writer and reader, colormaps, grids and image loading."""

import struct
import zlib

import numpy as np
import pytest

from cnnstudio.inspection import pictures


def test_png_round_trip_for_grey_rgb_and_rgba(tmp_path):
    rng = np.random.default_rng(0)
    for shape in [(5, 7), (6, 4, 3), (3, 9, 4)]:
        pixels = rng.integers(0, 256, size=shape, dtype=np.uint8)
        path = pictures.write_png(tmp_path / f"p{len(shape)}{shape[-1]}.png", pixels)
        data = path.read_bytes()
        assert data[:8] == pictures.PNG_SIGNATURE
        width, height = struct.unpack(">II", data[16:24])
        assert (height, width) == shape[:2]
        back = pictures.read_png(path)
        np.testing.assert_array_equal(back.reshape(shape), pixels)


def _png_with_filters(pixels: np.ndarray) -> bytes:
    """A PNG whose rows use the Sub, Up, Average and Paeth filters, as other tools write."""
    h, w, c = pixels.shape
    rows, prev = [], np.zeros(w * c, np.int32)
    for y in range(h):
        cur = pixels[y].reshape(-1).astype(np.int32)
        kind = y % 5
        left = np.concatenate([np.zeros(c, np.int32), cur[:-c]])
        upleft = np.concatenate([np.zeros(c, np.int32), prev[:-c]])
        if kind == 0:
            pred = np.zeros_like(cur)
        elif kind == 1:
            pred = left
        elif kind == 2:
            pred = prev
        elif kind == 3:
            pred = (left + prev) // 2
        else:
            p = left + prev - upleft
            pa, pb, pc = np.abs(p - left), np.abs(p - prev), np.abs(p - upleft)
            pred = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, prev, upleft))
        rows.append(bytes([kind]) + ((cur - pred) & 0xFF).astype(np.uint8).tobytes())
        prev = cur

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (pictures.PNG_SIGNATURE + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"".join(rows)))
            + chunk(b"IEND", b""))


def test_reader_undoes_every_row_filter():
    pixels = np.random.default_rng(1).integers(0, 256, size=(10, 6, 3), dtype=np.uint8)
    np.testing.assert_array_equal(pictures.decode_png(_png_with_filters(pixels)), pixels)


def test_reader_refuses_a_non_png_and_a_corrupt_chunk():
    with pytest.raises(pictures.ImageError, match="signature is missing"):
        pictures.decode_png(b"GIF89a....")
    data = bytearray(pictures.encode_png(np.zeros((2, 2), np.uint8)))
    data[20] ^= 0xFF  # inside IHDR
    with pytest.raises(pictures.ImageError, match="CRC of chunk IHDR"):
        pictures.decode_png(bytes(data))


def test_writer_refuses_floats_and_odd_shapes():
    with pytest.raises(pictures.ImageError, match=r"must be uint8.*Received: dtype=float64"):
        pictures.encode_png(np.zeros((2, 2)))
    with pytest.raises(pictures.ImageError, match=r"Received: shape=\(2, 2, 2\)"):
        pictures.encode_png(np.zeros((2, 2, 2), np.uint8))


def test_write_png_leaves_no_temp_file(tmp_path):
    pictures.write_png(tmp_path / "a.png", np.zeros((3, 3), np.uint8))
    assert [p.name for p in tmp_path.iterdir()] == ["a.png"]


def test_colormaps_run_from_dark_to_light_and_diverge_at_white():
    ramp = pictures.colorize(np.linspace(0, 1, 11), "viridis")
    brightness = ramp.astype(int).sum(axis=1)
    assert brightness[0] < brightness[5] < brightness[-1]
    diverging = pictures.colorize(np.array([0.0, 0.5, 1.0]), "diverging")
    assert diverging[0, 2] > diverging[0, 0]  # blue below zero
    assert diverging[2, 0] > diverging[2, 2]  # red above
    assert diverging[1].min() > 240  # white at zero
    with pytest.raises(ValueError, match=r"viridis, gray, diverging. Received: colormap='jet'"):
        pictures.colorize(np.zeros(2), "jet")


def test_normalize_maps_a_constant_to_grey():
    np.testing.assert_array_equal(pictures.normalize(np.full((2, 2), 3.0)), np.full((2, 2), 0.5))
    np.testing.assert_allclose(pictures.normalize(np.array([2.0, 4.0, 6.0])), [0.0, 0.5, 1.0])


def test_grid_upscales_tiles_with_separators():
    tiles = [np.full((2, 3), v, np.uint8) for v in (10, 20, 30)]
    picture = pictures.grid(tiles, columns=2, scale=4, gap=1, background=(0, 0, 0))
    assert picture.shape == (2 * 8 + 3, 2 * 12 + 3, 3)
    assert (picture[1:9, 1:13] == 10).all() and (picture[1:9, 14:26] == 20).all()
    assert (picture[10:18, 1:13] == 30).all()
    assert (picture[0] == 0).all() and (picture[:, 13] == 0).all()
    with pytest.raises(ValueError, match="same size"):
        pictures.grid([np.zeros((2, 2), np.uint8), np.zeros((3, 2), np.uint8)])


def test_load_image_reads_converts_and_resizes(tmp_path):
    pixels = np.zeros((4, 4, 3), np.uint8)
    pixels[:, 2:] = 255
    path = pictures.write_png(tmp_path / "half.png", pixels)
    loaded = pictures.load_image(path)
    assert loaded.dtype == np.float32 and loaded.shape == (4, 4, 3)
    np.testing.assert_allclose(loaded[..., 0], pixels[..., 0] / 255.0)
    grey = pictures.load_image(path, size=(8, 2), channels=1)
    assert grey.shape == (8, 2, 1)
    assert grey[:, 0].max() < 0.3 and grey[:, 1].min() > 0.7
    with pytest.raises(pictures.ImageError, match="No image file"):
        pictures.load_image(tmp_path / "missing.png")


def test_a_smaller_image_is_padded_centred_as_training_pads_it(tmp_path):
    pixels = np.full((28, 28), 200, np.uint8)
    path = pictures.write_png(tmp_path / "digit.png", pixels[..., None])
    padded = pictures.load_image(path, size=(32, 32), channels=1)
    assert padded.shape == (32, 32, 1)
    np.testing.assert_allclose(padded[2:30, 2:30, 0], 200 / 255.0)
    assert not padded[:2].any() and not padded[30:].any() and not padded[:, :2].any() and not padded[:, 30:].any()


def test_load_image_reads_other_formats_through_tensorflow(tmp_path):
    import tensorflow as tf

    pixels = np.random.default_rng(2).integers(0, 256, size=(5, 6, 3), dtype=np.uint8)
    path = tmp_path / "picture.bmp"
    path.write_bytes(tf.io.encode_png(pixels).numpy())  # PNG bytes under another name still decode
    jpeg = tmp_path / "real.jpg"
    jpeg.write_bytes(tf.io.encode_jpeg(pixels, quality=100).numpy())
    assert pictures.load_image(jpeg).shape == (5, 6, 3)
    np.testing.assert_allclose(pictures.load_image(path), pixels / 255.0, atol=1e-6)
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"not an image at all")
    with pytest.raises(pictures.ImageError, match="Cannot read"):
        pictures.load_image(junk)
