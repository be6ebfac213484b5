"""Zip archives from users (``.keras`` models, ``.npz`` data): checked before anything is extracted.

A zip declares each member's uncompressed size; a 4 MB "zip bomb" can declare (and hold)
gigabytes. :func:`check_zip` refuses an archive whose members together declare more than a
limit, and :func:`check_npz_member` refuses an ``.npy`` member whose header claims more
elements than the member holds, both before a byte is decompressed or allocated.
"""

from __future__ import annotations

import ast
import os
import struct
import zipfile
from pathlib import Path

MAX_UNPACKED_BYTES = 4 * 1024**3
"""What an archive may unpack to: VGG16 with its optimizer state is about 1.6 GB."""


class ArchiveError(ValueError):
    """An archive that is broken or would unpack to more than the limit; the message says which."""


def check_zip(path: str | os.PathLike, what: str, max_bytes: int = MAX_UNPACKED_BYTES) -> list[zipfile.ZipInfo]:
    """The members of the zip at ``path``, or ArchiveError if it is not a zip or declares too much."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, struct.error) as exc:
        raise ArchiveError(f"{what} is not a readable zip archive ({exc}).") from None
    except OSError as exc:
        raise ArchiveError(f"Cannot read {what}: {exc.strerror or exc}") from None
    total = sum(member.file_size for member in members)
    if total > max_bytes:
        raise ArchiveError(f"{what} would unpack to {total:,} bytes. Expected at most {max_bytes:,} bytes; "
                           "the archive may be a zip bomb.")
    return members


def check_npz_member(archive: zipfile.ZipFile, member: zipfile.ZipInfo, what: str) -> None:
    """ArchiveError if the ``.npy`` header of ``member`` claims more data than the member holds."""
    try:
        with archive.open(member) as handle:
            head = handle.read(10)
            if head[:6] != b"\x93NUMPY":
                raise ArchiveError(f"{what}: {member.filename} is not a NumPy array (.npy).")
            if head[6] == 1:
                header_len = int.from_bytes(head[8:10], "little")
            else:  # format 2 and 3 spend four bytes on the header's length
                header_len = int.from_bytes(head[8:10] + handle.read(2), "little")
            if header_len > 65_536:
                raise ArchiveError(f"{what}: {member.filename} has a {header_len:,}-byte header. "
                                   "Expected a NumPy array header of a few hundred bytes.")
            header = ast.literal_eval(handle.read(header_len).decode("latin1"))
    except ArchiveError:
        raise
    except (OSError, zipfile.BadZipFile, EOFError, ValueError, SyntaxError, UnicodeDecodeError,
            RecursionError, MemoryError) as exc:
        raise ArchiveError(f"{what}: cannot read the header of {member.filename} ({type(exc).__name__}).") from None
    shape = header.get("shape") if isinstance(header, dict) else None
    descr = header.get("descr") if isinstance(header, dict) else None
    if not isinstance(shape, tuple) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise ArchiveError(f"{what}: {member.filename} has no valid shape in its header. Received: {shape!r}")
    import numpy as np

    try:
        itemsize = np.dtype(descr).itemsize
    except (TypeError, ValueError):
        raise ArchiveError(f"{what}: {member.filename} has an unknown element type {descr!r}.") from None
    count = 1
    for d in shape:
        count *= d
    claimed = count * itemsize
    if claimed > member.file_size:
        raise ArchiveError(f"{what}: {member.filename} claims {count:,} elements ({claimed:,} bytes) but holds "
                           f"only {member.file_size:,} bytes. Expected a header matching its data; the file is "
                           "damaged or forged.")
