"""Atomic file writes: a crash or a full disk leaves the old file or the new one, never half of one.

Every temporary name is ``.NAME.cnnstudio-PID-RANDOM...`` beside its target, so a save killed
half-way leaves something recognisably ours: the next save of the same target removes the
leftovers of processes that no longer run (:func:`clean_leftovers`), and nothing else. A
folder (a SavedModel export) is swapped in with one atomic exchange (:func:`replace_path`).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

TEMP_MARK = "cnnstudio-"
"""Part of every temporary name we create, after ``.NAME.``; see :func:`temp_prefix`."""


def _new_file_mode() -> int:
    """The mode ``open()`` would give a new file under this process' umask (read once: not thread-safe)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


NEW_FILE_MODE = _new_file_mode()


def write_atomic(path: str | os.PathLike, data: str | bytes) -> Path:
    """Write ``data`` to a temporary file beside ``path``, then rename it over ``path``.

    The file keeps the mode of the one it replaces, or gets the usual umask-based mode: a
    temporary file is created private (0600), which is wrong for a project one shares.
    """
    path = Path(path)
    clean_leftovers(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temp_prefix(path), suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode("utf-8") if isinstance(data, str) else data)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except FileNotFoundError:
            mode = NEW_FILE_MODE
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


@contextlib.contextmanager
def replacing(path: str | os.PathLike, suffix: str) -> Iterator[Path]:
    """A free name beside ``path`` for a library that writes the file itself (Keras' save):
    moved over ``path`` when the block succeeds, removed when it fails."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_leftovers(path)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=temp_prefix(path), suffix=suffix)
    os.close(fd)
    os.unlink(name)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def temp_prefix(path: str | os.PathLike) -> str:
    """``.NAME.cnnstudio-PID-``: the start of this process' temporary names for ``path``."""
    return f".{Path(path).name}.{TEMP_MARK}{os.getpid()}-"


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (one of another user's counts as running; a zombie, which
    has ended and waits to be reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if not Path("/proc/self/stat").exists():  # no /proc (not Linux): os.kill's answer is all there is
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):  # it ended between the two looks
        return False


def clean_leftovers(path: str | os.PathLike) -> list[Path]:
    """Remove what interrupted saves of ``path`` left beside it: only names of the form
    ``.NAME.cnnstudio-PID-...`` whose process is gone (a live one may still be writing).

    An interrupted folder swap can leave the previous version aside (``...previous``) with
    nothing at ``path``: that one is moved back, not removed. Returns what was removed.
    """
    path = Path(path)
    pattern = re.compile(re.escape(f".{path.name}.{TEMP_MARK}") + r"(\d+)-")
    removed = []
    try:
        entries = list(path.parent.iterdir())
    except OSError:
        return removed
    for entry in entries:
        match = pattern.match(entry.name)
        if match is None or int(match.group(1)) == os.getpid() or process_alive(int(match.group(1))):
            continue
        previous = entry / "previous" if entry.is_dir() and not entry.is_symlink() else None
        if previous is not None and previous.exists() and not path.exists() and not os.path.islink(path):
            with contextlib.suppress(OSError):
                os.replace(previous, path)
        with contextlib.suppress(OSError):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            removed.append(entry)
    return removed


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap the names ``a`` and ``b`` (Linux renameat2); False where unsupported."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    result = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(b))


@contextlib.contextmanager
def staging_folder(target: str | os.PathLike) -> Iterator[Path]:
    """A fresh hidden folder beside ``target`` (``.NAME.cnnstudio-PID-....partial``) to build
    a replacement in; removed afterwards, whatever happens. Leftovers of dead processes go first."""
    target = Path(target)
    clean_leftovers(target)
    stage = Path(tempfile.mkdtemp(prefix=temp_prefix(target), suffix=".partial", dir=target.parent))
    try:
        yield stage
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def replace_path(new: str | os.PathLike, target: str | os.PathLike) -> None:
    """Put ``new`` (a file or folder inside a :func:`staging_folder` of ``target``) at ``target``,
    replacing what is there,
    so that at every moment ``target`` is the complete old one or the complete new one.

    A file is renamed over (atomic). A folder cannot be, so the two are exchanged atomically
    and the old one, now at ``new``, is removed. Where the exchange is unsupported, the old
    folder is first renamed into ``new``'s parent as ``...previous``, which
    :func:`clean_leftovers` moves back should the process die before the new one is in place.
    """
    new, target = Path(new), Path(target)
    if not (new.is_dir() or target.is_dir()) or not target.exists():
        os.replace(new, target)
        return
    if _exchange(new, target):
        shutil.rmtree(new) if new.is_dir() else new.unlink()
        return
    aside = new.parent / "previous"
    os.replace(target, aside)
    try:
        os.replace(new, target)
    except OSError:
        os.replace(aside, target)
        raise
    shutil.rmtree(aside) if aside.is_dir() else aside.unlink()


MEMORY_FOLDER = Path("/dev/shm")


@contextlib.contextmanager
def written_in_memory(target: str | os.PathLike, room: int = 0) -> Iterator[Path]:
    """A scratch name in RAM (``/dev/shm``) for a C library to write ``target``'s content to,
    copied to ``target`` by plain Python writes when the block succeeds.

    HDF5 crashes the interpreter at exit (SIGSEGV) after a write failed for a full disk; in
    RAM its writes cannot fail that way, and the copy fails as a clean OSError. Where there is
    no such folder or less than ``room`` bytes free in it, the library writes ``target`` itself.
    """
    target = Path(target)
    try:
        usable = MEMORY_FOLDER.is_dir() and shutil.disk_usage(MEMORY_FOLDER).free > 2 * room
    except OSError:
        usable = False
    if not usable:
        yield target
        return
    scratch = Path(tempfile.mkdtemp(prefix=temp_prefix(target), dir=MEMORY_FOLDER))
    try:
        yield scratch / target.name
        shutil.copyfile(scratch / target.name, target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
