"""The engine's command line: subcommands are discovered in ``cnnstudio.commands``.

``python -m cnnstudio`` runs it headless. The installed ``cnnstudio`` command is
:func:`ui.launcher.main`, which adds the ``gui`` command through ``extra_commands``, so the
engine never imports the GUI.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
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
    args = parser.parse_args(argv)
    if getattr(args, "_run", None) is None:
        parser.print_help()
        return 2
    return int(args._run(args) or 0)
