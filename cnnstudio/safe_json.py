"""Reading JSON a user (or an attacker) hands us: bounded, strict, and never a traceback.

Projects, recovery files and the ``config.json`` inside ``.keras`` archives all go through
:func:`loads`/:func:`read`, so they share the same limits: a file larger than ``max_bytes``,
nesting deeper than ``max_depth``, NaN or Infinity (not JSON, and unsavable later) and
invalid UTF-8 are refused with a :class:`JSONReadError` that says which and where. A
byte-order mark (Excel's and Notepad's "UTF-8") is accepted.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

MAX_BYTES = 512 * 1024 * 1024
"""Larger than any real project (190,000 runs is about 100 MB), small enough to refuse a disk image."""
MAX_DEPTH = 64
"""A project nests about 6 levels; a run's settings or history a few more."""


class JSONReadError(ValueError):
    """JSON that cannot be read; the message says what is wrong and what was expected."""


def _refuse_constant(name: str) -> Any:
    raise JSONReadError(f"{name} is not a number JSON allows. Expected finite numbers only. Received: {name}")


def loads(text: str | bytes, what: str = "the JSON text", max_depth: int = MAX_DEPTH) -> Any:
    """Parse ``text`` strictly; JSONReadError naming ``what`` on anything wrong."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise JSONReadError(f"{what} is not UTF-8 text (byte {exc.start}). Expected a JSON file saved "
                                "as UTF-8.") from None
    text = text.removeprefix("\ufeff")
    try:
        data = json.loads(text, parse_constant=_refuse_constant)
    except JSONReadError as exc:
        raise JSONReadError(f"{what}: {exc}") from None
    except RecursionError:
        raise JSONReadError(_too_deep(what, max_depth)) from None
    except json.JSONDecodeError as exc:
        raise JSONReadError(f"{what} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
                            "the file may be truncated") from None
    except ValueError as exc:  # e.g. an integer longer than Python's int-to-string limit
        raise JSONReadError(f"{what} holds a value that cannot be read: {exc}") from None
    check_depth(data, what, max_depth)
    return data


def read(path: str | os.PathLike, what: str | None = None, max_bytes: int = MAX_BYTES,
         max_depth: int = MAX_DEPTH) -> Any:
    """The JSON stored at ``path``; JSONReadError for a missing, huge, non-file or bad file."""
    path = Path(path)
    what = what or str(path)
    try:
        if not path.is_file():
            if path.exists():
                raise JSONReadError(f"{what} is not a file (a folder or a device). Expected a JSON file.")
            raise JSONReadError(f"{what} does not exist. Expected a JSON file.")
        size = path.stat().st_size
        if size > max_bytes:
            raise JSONReadError(f"{what} is {size:,} bytes. Expected at most {max_bytes:,} bytes of JSON.")
        with path.open("rb") as handle:
            raw = handle.read(max_bytes + 1)
    except OSError as exc:
        raise JSONReadError(f"Cannot read {what}: {exc.strerror or exc}") from None
    if len(raw) > max_bytes:
        raise JSONReadError(f"{what} is larger than {max_bytes:,} bytes. Expected a smaller JSON file.")
    return loads(raw, what, max_depth)


def check_depth(data: Any, what: str = "the JSON value", max_depth: int = MAX_DEPTH) -> None:
    """JSONReadError if ``data`` nests lists/objects more than ``max_depth`` levels (iterative)."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, (list, tuple)):
            children = value
        else:
            continue
        if depth > max_depth:
            raise JSONReadError(_too_deep(what, max_depth))
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list, tuple)))


def _too_deep(what: str, max_depth: int) -> str:
    return f"{what} is nested too deeply. Expected at most {max_depth} levels of lists and objects."
