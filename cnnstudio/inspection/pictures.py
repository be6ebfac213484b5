"""Pictures for reports and the GUI, with numpy and zlib only.

Pillow is not a dependency, so this module writes and reads PNG files itself (8-bit,
non-interlaced: what we write and what most tools save), maps values to colours, tiles
pictures into grids with thin separators and upscales them nearest-neighbour so an 8x8
kernel is visible. ``load_image`` also reads JPEG, GIF and BMP through TensorFlow's
decoder when the file is not a PNG this reader understands.
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import numpy as np

from cnnstudio.files import write_atomic

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

_COLORMAPS = {
    # A few anchors of matplotlib's viridis: perceptually ordered, readable in grey print.
    "viridis": np.array(
        [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]], dtype=np.float64
    ),
    "gray": np.array([[0, 0, 0], [255, 255, 255]], dtype=np.float64),
    # Signed values (kernel weights): blue below zero, white at zero, red above.
    "diverging": np.array([[33, 102, 172], [247, 247, 247], [178, 24, 43]], dtype=np.float64),
}
COLORMAPS = tuple(_COLORMAPS)


class ImageError(ValueError):
    """An image file that cannot be read, or pixels that cannot be written."""


class NotOurPNG(ImageError):
    """Not a PNG, or a kind this decoder leaves to TensorFlow (16-bit, interlaced)."""


def normalize(values: np.ndarray, vmin: float | None = None, vmax: float | None = None) -> np.ndarray:
    """``values`` scaled to [0, 1] between vmin and vmax (default: their min and max).

    A constant array maps to 0.5, so a dead feature map reads as flat grey, not as noise.
    """
    values = np.asarray(values, dtype=np.float64)
    lo = float(np.min(values)) if vmin is None else float(vmin)
    hi = float(np.max(values)) if vmax is None else float(vmax)
    if not np.isfinite(lo) or not np.isfinite(hi) or hi <= lo:
        return np.full(values.shape, 0.5)
    return np.clip((values - lo) / (hi - lo), 0.0, 1.0)


def colorize(unit: np.ndarray, colormap: str = "viridis") -> np.ndarray:
    """Values in [0, 1] (any shape) as RGB uint8 with one more axis of size 3."""
    if colormap not in _COLORMAPS:
        raise ValueError(
            f"Unknown colormap. Expected one of {', '.join(COLORMAPS)}. Received: colormap={colormap!r}"
        )
    anchors = _COLORMAPS[colormap]
    unit = np.clip(np.nan_to_num(np.asarray(unit, dtype=np.float64), nan=0.5), 0.0, 1.0)
    position = unit * (len(anchors) - 1)
    low = np.minimum(np.floor(position).astype(int), len(anchors) - 2)
    frac = (position - low)[..., None]
    rgb = anchors[low] * (1.0 - frac) + anchors[low + 1] * frac
    return np.round(rgb).astype(np.uint8)


def to_uint8(unit: np.ndarray) -> np.ndarray:
    """Values in [0, 1] as uint8 0..255."""
    return np.round(np.clip(np.asarray(unit, dtype=np.float64), 0.0, 1.0) * 255).astype(np.uint8)


def upscale(pixels: np.ndarray, factor: int) -> np.ndarray:
    """Each pixel repeated ``factor`` times down and across (nearest neighbour)."""
    if not isinstance(factor, int) or factor < 1:
        raise ValueError(f"The upscale factor must be a positive integer. Received: factor={factor!r}")
    return np.repeat(np.repeat(pixels, factor, axis=0), factor, axis=1)


def grid(
    tiles: list[np.ndarray] | np.ndarray,
    columns: int | None = None,
    scale: int = 1,
    gap: int = 1,
    background: tuple[int, int, int] = (40, 40, 40),
) -> np.ndarray:
    """RGB uint8 tiles of one size laid out row by row, ``gap`` pixels apart, upscaled first.

    ``columns`` defaults to a near-square layout. Returns an (H, W, 3) uint8 picture.
    """
    tiles = [np.asarray(t) for t in tiles]
    if not tiles:
        raise ValueError("A grid needs at least one tile. Received: tiles=[]")
    tiles = [_as_rgb(t) for t in tiles]
    shape = tiles[0].shape
    if any(t.shape != shape for t in tiles):
        raise ValueError(
            "Grid tiles must all have the same size. Expected every tile shaped "
            f"{shape}. Received: shapes={sorted({t.shape for t in tiles})}"
        )
    count = len(tiles)
    columns = columns or int(np.ceil(np.sqrt(count)))
    rows = int(np.ceil(count / columns))
    th, tw = shape[0] * scale, shape[1] * scale
    out = np.empty((rows * th + (rows + 1) * gap, columns * tw + (columns + 1) * gap, 3), np.uint8)
    out[:] = background
    for i, tile in enumerate(tiles):
        r, c = divmod(i, columns)
        top, left = gap + r * (th + gap), gap + c * (tw + gap)
        out[top : top + th, left : left + tw] = upscale(tile, scale)
    return out


def input_picture(sample: np.ndarray, vmin: float | None = None, vmax: float | None = None) -> np.ndarray:
    """An input as RGB uint8: grey or colour pixels in 2D, a (channels, length) strip in 1D.

    ``vmin``/``vmax`` fix the value range (patches of one image set share it); default: its own.
    """
    x = np.asarray(sample, dtype=np.float32)
    if x.ndim == 2:
        return colorize(normalize(x.T, vmin, vmax))
    unit = normalize(x if x.shape[-1] == 3 else x[..., 0], vmin, vmax)
    return to_uint8(unit)


def stack(pictures: list[np.ndarray], gap: int = 4, background: tuple[int, int, int] = (255, 255, 255)) -> np.ndarray:
    """RGB pictures of any widths stacked top to bottom, left-aligned, ``gap`` pixels apart."""
    return _concatenate(pictures, 0, gap, background, "Nothing to stack")


def _concatenate(pictures: list[np.ndarray], axis: int, gap: int, background: tuple[int, int, int],
                 nothing: str) -> np.ndarray:
    """Pictures one after another along ``axis`` (0 down, 1 across), aligned at the start of the
    other axis, ``gap`` pixels of ``background`` apart; ``nothing`` starts the error for none."""
    if not pictures:
        raise ValueError(f"{nothing}. Expected at least one picture. Received: pictures=[]")
    pictures = [_as_rgb(p) for p in pictures]
    across = 1 - axis
    shape = [0, 0, 3]
    shape[axis] = sum(p.shape[axis] for p in pictures) + gap * (len(pictures) - 1)
    shape[across] = max(p.shape[across] for p in pictures)
    out = np.empty(shape, np.uint8)
    out[:] = background
    start = 0
    for p in pictures:
        place = [slice(None), slice(None)]
        place[axis] = slice(start, start + p.shape[axis])
        place[across] = slice(0, p.shape[across])
        out[tuple(place)] = p
        start += p.shape[axis] + gap
    return out


VECTOR_ROW = 32
"""Cells per row when drawing a vector (Flatten, Dense), so 576 values stay a compact block."""
EMPTY_CELL = (40, 40, 40)
"""The grey of the unused cells after a vector's last value."""


def side_by_side(pictures: list[np.ndarray], gap: int = 2,
                 background: tuple[int, int, int] = (255, 255, 255)) -> np.ndarray:
    """RGB pictures of any heights placed left to right, top-aligned, ``gap`` pixels apart."""
    return _concatenate(pictures, 1, gap, background, "Nothing to place")


def reconstruction_tiles(clean: np.ndarray, noisy: np.ndarray, rebuilt: np.ndarray) -> list[np.ndarray]:
    """One picture per example: the clean input, its noisy copy and the reconstruction, side by
    side on one grey scale (0 black, 1 white), so that the three compare at a glance."""
    return [side_by_side([input_picture(np.clip(image, 0.0, 1.0), 0.0, 1.0) for image in triple])
            for triple in zip(clean, noisy, rebuilt, strict=True)]


def activation_tiles(activation: np.ndarray, colormap: str = "viridis") -> list[np.ndarray]:
    """One sample's layer output as RGB uint8 tiles, each stretched to its own range.

    (h, w, c): one tile per feature map; (l, c): one (c, l) picture, a row per channel;
    (n,): the values in rows of ``VECTOR_ROW`` cells, the last row padded in grey.
    """
    a = np.asarray(activation, dtype=np.float32)
    if a.ndim == 3:
        return [colorize(normalize(a[..., c]), colormap) for c in range(a.shape[-1])]
    if a.ndim == 2:
        return [colorize(normalize(a.T), colormap)]
    if a.ndim == 1:
        columns = min(len(a), VECTOR_ROW)
        rows = -(-len(a) // columns)
        cells = np.empty((rows * columns, 3), np.uint8)
        cells[:] = EMPTY_CELL
        cells[: len(a)] = colorize(normalize(a), colormap)
        return [cells.reshape(rows, columns, 3)]
    raise ValueError(f"Expected one sample's activation of rank 1, 2 or 3. Received: shape={a.shape}")


def _as_rgb(pixels: np.ndarray) -> np.ndarray:
    if pixels.dtype != np.uint8:
        raise ValueError(f"Expected uint8 pixels (use to_uint8 or colorize). Received: dtype={pixels.dtype}")
    if pixels.ndim == 2:
        return np.repeat(pixels[..., None], 3, axis=2)
    if pixels.ndim == 3 and pixels.shape[2] == 3:
        return pixels
    raise ValueError(f"Expected an (H, W) or (H, W, 3) picture. Received: shape={pixels.shape}")


def encode_png(pixels: np.ndarray) -> bytes:
    """PNG bytes for uint8 pixels shaped (H, W) grey, (H, W, 3) RGB or (H, W, 4) RGBA."""
    pixels = np.asarray(pixels)
    if pixels.dtype != np.uint8:
        raise ImageError(f"PNG pixels must be uint8 (use to_uint8 or colorize). Received: dtype={pixels.dtype}")
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    if pixels.ndim != 3 or pixels.shape[2] not in (1, 3, 4) or 0 in pixels.shape:
        raise ImageError(
            f"Expected pixels shaped (H, W), (H, W, 3) or (H, W, 4), none empty. Received: shape={pixels.shape}"
        )
    height, width, channels = pixels.shape
    color_type = {1: 0, 3: 2, 4: 6}[channels]
    # Filter type 0 (none) on every row: simple, and zlib does well on flat upscaled tiles.
    raw = np.concatenate([np.zeros((height, 1), np.uint8), pixels.reshape(height, -1)], axis=1)
    header = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    return (
        PNG_SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(raw.tobytes(), 6))
        + _chunk(b"IEND", b"")
    )


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def write_png(path: str | os.PathLike, pixels: np.ndarray) -> Path:
    """Write ``pixels`` as a PNG atomically (temp file beside it, then rename); returns the path."""
    path = Path(path)
    write_atomic(path, encode_png(pixels))
    return path


MAX_PIXELS = 2**26
"""64 megapixels: more than any photo one feeds a network; a PNG claiming more is refused unread."""


def decode_png(data: bytes) -> np.ndarray:
    """uint8 pixels (H, W, C) of an 8-bit non-interlaced PNG (grey, grey+alpha, RGB, RGBA, palette).

    A damaged or forged file (truncated chunks, bad zlib data, a "PNG bomb" claiming billions of
    pixels or inflating far beyond its size) raises ImageError, never another exception."""
    try:
        return _decode_png(data)
    except ImageError:
        raise
    except (struct.error, zlib.error, ValueError, IndexError) as exc:
        raise ImageError(f"Corrupt PNG: {type(exc).__name__}: {exc}") from None


def _decode_png(data: bytes) -> np.ndarray:
    if not data.startswith(PNG_SIGNATURE):
        raise NotOurPNG("Not a PNG file: the 8-byte PNG signature is missing.")
    pos, idat, header, palette = len(PNG_SIGNATURE), [], None, None
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        if zlib.crc32(kind + body) & 0xFFFFFFFF != crc:
            raise ImageError(f"Corrupt PNG: the CRC of chunk {kind.decode('latin-1')} does not match.")
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"PLTE":
            palette = np.frombuffer(body, np.uint8).reshape(-1, 3)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
        pos += 12 + length
    if header is None:
        raise ImageError("Corrupt PNG: no IHDR chunk.")
    width, height, depth, color_type, _, _, interlace = header
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}.get(color_type)
    if depth != 8 or interlace != 0 or channels is None:
        raise NotOurPNG(
            "Unsupported PNG. Expected 8 bits per sample, not interlaced. "
            f"Received: bit_depth={depth}, interlace={interlace}, color_type={color_type}"
        )
    if width * height > MAX_PIXELS or not width or not height:
        raise ImageError(f"The PNG claims {width}x{height} pixels. Expected at most {MAX_PIXELS:,} pixels.")
    expected = height * (width * channels + 1)
    inflater = zlib.decompressobj()
    raw = inflater.decompress(b"".join(idat), expected + 1)
    if len(raw) != expected:
        raise ImageError(f"Corrupt PNG: its pixel data inflates to {'more' if len(raw) > expected else 'less'} than "
                         f"the {width}x{height} image it declares.")
    raw = np.frombuffer(raw, np.uint8)
    stride = width * channels
    rows = raw.reshape(height, stride + 1)
    out = np.zeros((height, stride), np.uint8)
    previous = np.zeros(stride, np.int32)
    for y in range(height):
        out[y] = _unfilter(int(rows[y, 0]), rows[y, 1:].astype(np.int32), previous, channels)
        previous = out[y].astype(np.int32)
    pixels = out.reshape(height, width, channels)
    if color_type == 3:
        if palette is None:
            raise ImageError("Corrupt PNG: a palette image without a PLTE chunk.")
        pixels = palette[pixels[..., 0]]
    return pixels


def _unfilter(kind: int, row: np.ndarray, up: np.ndarray, bpp: int) -> np.ndarray:
    if kind == 0:
        return row.astype(np.uint8)
    if kind == 2:
        return ((row + up) & 0xFF).astype(np.uint8)
    out = np.zeros_like(row)
    for i in range(len(row)):
        left = out[i - bpp] if i >= bpp else 0
        upper_left = up[i - bpp] if i >= bpp else 0
        if kind == 1:
            predictor = left
        elif kind == 3:
            predictor = (left + up[i]) // 2
        elif kind == 4:
            p = left + up[i] - upper_left
            pa, pb, pc = abs(p - left), abs(p - up[i]), abs(p - upper_left)
            predictor = left if pa <= pb and pa <= pc else (up[i] if pb <= pc else upper_left)
        else:
            raise ImageError(f"Corrupt PNG: unknown row filter {kind}.")
        out[i] = (row[i] + predictor) & 0xFF
    return out.astype(np.uint8)


def read_png(path: str | os.PathLike) -> np.ndarray:
    """uint8 pixels (H, W, C) of a PNG file."""
    return decode_png(Path(path).read_bytes())


def load_image(
    path: str | os.PathLike, size: tuple[int, int] | None = None, channels: int | None = None
) -> np.ndarray:
    """An image file as float32 (H, W, C) in [0, 1], optionally resized and converted.

    ``size`` is (height, width): a smaller image is padded with zeros, centred (as training pads
    a data set's smaller images, LeNet-5's 28x28 digits in 32x32), a larger or otherwise
    shaped one resized bilinearly; ``channels`` 1 averages RGB to grey,
    3 repeats grey to RGB; alpha is dropped. This is how the GUI and the CLI feed a picture
    of one's own to a network whose input is ``(height, width, channels)``.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"No image file at {str(path)!r}. Expected a PNG, JPEG, GIF or BMP file.")
    data = path.read_bytes()
    try:
        pixels = decode_png(data)
    except NotOurPNG:
        pixels = _decode_with_tensorflow(data, path)
    except ImageError as exc:
        raise ImageError(f"Cannot read {str(path)!r} as an image: {exc}") from None
    if pixels.shape[2] in (2, 4):
        pixels = pixels[..., :-1]
    image = pixels.astype(np.float32) / 255.0
    if channels is not None:
        image = convert_channels(image, channels)
    if size is not None:
        rows, cols = size[0] - image.shape[0], size[1] - image.shape[1]
        if rows >= 0 and cols >= 0:
            image = np.pad(image, ((rows // 2, rows - rows // 2), (cols // 2, cols - cols // 2), (0, 0)))
        else:
            image = resize(image, size)
    return image


def _decode_with_tensorflow(data: bytes, path: Path) -> np.ndarray:
    import tensorflow as tf

    try:
        decoded = tf.io.decode_image(data, expand_animations=False)
    except Exception as exc:  # TensorFlow's OpError family (InvalidArgument, ResourceExhausted...) or ValueError
        raise ImageError(f"Cannot read {str(path)!r} as an image ({type(exc).__name__}). Expected a PNG, JPEG, "
                         "GIF or BMP file.") from None
    return np.asarray(decoded, dtype=np.uint8)


def convert_channels(image: np.ndarray, channels: int) -> np.ndarray:
    """(H, W, C) to (H, W, channels): grey <-> RGB."""
    have = image.shape[2]
    if have == channels:
        return image
    if channels == 1 and have == 3:
        return image.mean(axis=2, keepdims=True).astype(image.dtype)
    if channels == 3 and have == 1:
        return np.repeat(image, 3, axis=2)
    raise ImageError(f"Cannot convert a {have}-channel image. Expected 1 or 3 channels. Received: channels={channels}")


def resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(H, W, C) resized to ``size`` = (height, width) bilinearly, pixel centres aligned."""
    height, width = (int(v) for v in size)
    if height < 1 or width < 1:
        raise ValueError(f"Expected a positive (height, width). Received: size={size!r}")
    image = np.asarray(image, dtype=np.float32)
    if image.shape[:2] == (height, width):
        return image

    def coords(n_out: int, n_in: int):
        x = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
        lo = np.floor(x).astype(int)
        hi = np.minimum(lo + 1, n_in - 1)
        return lo, hi, (x - lo).astype(np.float32)

    y0, y1, fy = coords(height, image.shape[0])
    x0, x1, fx = coords(width, image.shape[1])
    top = image[y0][:, x0] * (1 - fx)[None, :, None] + image[y0][:, x1] * fx[None, :, None]
    bottom = image[y1][:, x0] * (1 - fx)[None, :, None] + image[y1][:, x1] * fx[None, :, None]
    return (top * (1 - fy)[:, None, None] + bottom * fy[:, None, None]).astype(np.float32)
