"""The engine's command line: subcommands are discovered in ``cnnstudio.commands``.

``python -m cnnstudio`` runs it headless. The installed ``cnnstudio`` command is
:func:`ui.launcher.main`, which adds the ``gui`` command through ``extra_commands``, so the
engine never imports the GUI.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import pkgutil
import re
import sys

from cnnstudio import __version__, commands


def _command_modules():
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if not info.name.startswith("_"):
            yield info.name.replace("_", "-"), importlib.import_module(f"cnnstudio.commands.{info.name}")


def build_parser(extra_commands: dict | None = None) -> argparse.ArgumentParser:
    """The parser of every engine command, plus ``extra_commands`` (name -> module with
    ``add_arguments(parser)`` and ``run(args)``)."""
    parser = argparse.ArgumentParser(
        prog="cnnstudio",
        description="CNN Studio: build, train and look inside convolutional networks.",
    )
    parser.add_argument("--version", action="version", version=f"cnnstudio {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    modules = dict(_command_modules()) | dict(extra_commands or {})
    for name, module in sorted(modules.items()):
        doc = (module.__doc__ or "").strip().splitlines()
        summary = doc[0] if doc else name
        p = sub.add_parser(name, help=summary, description=(module.__doc__ or "").strip(),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None, extra_commands: dict | None = None,
         default: str | None = None) -> int:
    """Run one command; with no arguments, ``default`` (or print the help)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(extra_commands)
    if not argv and default:
        argv = [default]
    try:
        with escaped_output():
            args = parser.parse_args(argv)
            if getattr(args, "_run", None) is None:
                parser.print_help()
                return 2
            return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print("cnnstudio: interrupted (Ctrl-C); nothing was saved after that moment.", file=sys.stderr)
        return 130


_TERMINAL_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
"""What a terminal obeys rather than prints (escape sequences, bells, bidirectional overrides);
newlines, tabs and the progress bar's carriage return stay."""


class _EscapingStream:
    """A text stream that writes terminal control characters as ``\\x1b``-style escapes, so a
    layer name or a path taken from a hostile file cannot rewrite the user's terminal."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text: str) -> int:
        return self._stream.write(_TERMINAL_CONTROLS.sub(
            lambda m: m.group().encode("unicode_escape").decode("ascii"), text))

    def __getattr__(self, name):
        return getattr(self._stream, name)


@contextlib.contextmanager
def escaped_output():
    """stdout and stderr escaped (see _EscapingStream) for the duration of a command."""
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _EscapingStream(sys.stdout), _EscapingStream(sys.stderr)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved
