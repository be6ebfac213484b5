"""Report Python, TensorFlow and Keras versions, the devices, and why no GPU is used.

Prints the versions, the devices TensorFlow sees and, when it sees no GPU, which link is
missing (a CPU-only build, no NVIDIA driver, or missing CUDA/cuDNN libraries). With --json,
prints the same report as one JSON object.
"""

from __future__ import annotations

import json


def add_arguments(parser) -> None:
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")


def run(args) -> int:
    from cnnstudio.training.environment import environment_report

    report = environment_report()
    print(json.dumps(report.to_dict()) if args.json else report.format())
    return 0
