"""Open the studio window (the default when cnnstudio runs without a command).

  cnnstudio gui                      the default project (LeNet-5 on mnist-5k), or unsaved work to recover
  cnnstudio gui resnet18             a preset
  cnnstudio gui net.cnnproj.json     a project file
  cnnstudio gui lenet5 --screenshot lenet5.png   render 1400x900 offscreen, save, exit
  cnnstudio gui net.cnnproj.json --screenshot train.png --size 1000x700 --tab Train --settle
"""

from __future__ import annotations

import argparse
import os
import sys

from cnnstudio import cli
from cnnstudio.process_exit import exit_now


def add_arguments(parser) -> None:
    parser.add_argument("target", nargs="?", help="a preset name or a project file to open")
    parser.add_argument("--screenshot", metavar="OUT.png",
                        help="render the window offscreen (at --size, default 1400x900), save it to OUT.png and exit")
    parser.add_argument("--select", metavar="LAYER", help="select this layer (shows its properties)")
    parser.add_argument("--size", metavar="WxH", type=window_size,
                        help="the window's size, for example 1000x700 (default: 1400x900)")
    parser.add_argument("--tab", metavar="NAME", help="show this tab first (Network, Train, Results, ...)")
    parser.add_argument("--settle", action="store_true",
                        help="with --screenshot: first wait (up to a minute) for the background work to end: "
                             "TensorFlow, a reopened run's weights, the views they fill")


def window_size(text: str) -> tuple[int, int]:
    """``1000x700`` -> (1000, 700); argparse reports the ValueError's text as a usage error."""
    width, sep, height = text.lower().partition("x")
    if not sep or not width.isdigit() or not height.isdigit() or int(width) < 1 or int(height) < 1:
        raise argparse.ArgumentTypeError(
            f"the window size must be WIDTHxHEIGHT in pixels. Expected for example 1000x700. Received: {text!r}")
    return int(width), int(height)


def run(args) -> int:
    if args.screenshot:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from ui.platform_check import advice, missing_xcb_packages

    missing = missing_xcb_packages()
    if missing:  # Qt would abort the process with a hint few users can act on
        print(advice(missing), file=sys.stderr)
        return 1
    from ui import app

    return app.run(args.target, screenshot=args.screenshot, select=args.select, size=args.size, tab=args.tab,
                   settle=args.settle)


def main(argv: list[str] | None = None) -> int:
    """The ``cnnstudio`` command: the engine's commands plus ``gui``, the default."""
    return cli.main(argv, extra_commands={"gui": sys.modules[__name__]}, default="gui")


def entry() -> None:
    """The installed ``cnnstudio`` command: :func:`main`, then the end of the process without
    Python's teardown (see ``cnnstudio.process_exit``)."""
    exit_now(main())
