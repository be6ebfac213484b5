"""List the ready-made networks, one line each.

Show one with ``cnnstudio summary NAME``.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help='print {"name": "description", ...}')


def run(args: argparse.Namespace) -> int:
    import json

    from cnnstudio.network.presets import PRESETS

    if args.json:
        print(json.dumps({name: description for name, (description, _) in PRESETS.items()}, indent=2))
        return 0
    width = max(len(name) for name in PRESETS)
    for name, (description, _) in PRESETS.items():
        print(f"{name.ljust(width)}  {description}")
    return 0
