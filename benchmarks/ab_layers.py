"""Time ``bench_layers.py`` cases with the layers of a git revision against the working tree's.

A change to a layer moves its ratio by less than the machine's noise between two runs of
``bench_layers.py`` (on 2 shared cores Keras' own step moved 12 -> 22 ms between runs), so
the two versions are timed in one process, interleaved round by round with Keras' layer,
the order rotating each round; the last column, the median of the rounds' new / base ratios,
is the one to read. Both run with XLA, as the app trains them. The base revision's
``layers/`` is exported by ``git archive`` into a temporary package ``layers_base`` (its
imports and Keras registrations renamed so that both versions load side by side).

Usage: ``python benchmarks/ab_layers.py CASE [CASE ...] [--base REV] [--repeats N]``
"""

from __future__ import annotations

import argparse
import io
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_layers  # noqa: E402  (sets the backend and the log level before Keras loads)

import layers  # noqa: E402


def export_layers(revision, destination):
    """Write ``layers/`` as it is at ``revision`` to ``destination/layers_base``, importable
    beside ``layers``: its own imports point at itself, its classes register apart."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", revision, "layers"],
        check=True,
        capture_output=True,
    ).stdout
    package = Path(destination) / "layers_base"
    package.mkdir()
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        for member in tar.getmembers():
            if not member.isfile() or not member.name.endswith(".py"):
                continue
            source = tar.extractfile(member).read().decode()
            source = re.sub(r"\bfrom layers(\.| import)", r"from layers_base\1", source)
            source = re.sub(r"^import layers$", "import layers_base", source, flags=re.MULTILINE)
            source = source.replace('"layers.', '"layers_base.')  # the lazy class table
            source = source.replace('package="cnnstudio"', 'package="cnnstudio_base"')
            (package / Path(member.name).name).write_text(source)


def run_case(name, base_module, repeats):
    """Median ms of each step and the medians of the rounds' ratios."""
    shape, make_ours, make_builtin, input_gradient = bench_layers.CASES[name]
    new = make_ours()
    base = getattr(base_module, type(new).__name__).from_config(new.get_config())
    if not type(base).__module__.startswith("layers_base."):
        raise RuntimeError(f"the base {type(base).__name__} came from {type(base).__module__}")
    builtin = make_builtin()
    for layer in (new, base, builtin):
        layer.build(shape)
    base.set_weights(new.get_weights())
    builtin.set_weights(new.get_weights())
    steps = {
        "keras": bench_layers._train_step(builtin, shape, input_gradient, jit_compile=False),
        "base": bench_layers._train_step(base, shape, input_gradient, jit_compile=True),
        "new": bench_layers._train_step(new, shape, input_gradient, jit_compile=True),
    }
    for step in steps.values():
        bench_layers._time(step)
        bench_layers._time(step)
    keys = list(steps)
    times = {key: [] for key in keys}
    for round_ in range(repeats):
        shift = round_ % len(keys)
        for key in keys[shift:] + keys[:shift]:
            times[key].append(bench_layers._time(steps[key]))

    def ratio(top, bottom):
        return statistics.median(t / b for t, b in zip(times[top], times[bottom], strict=True))

    medians = {key: statistics.median(values) * 1e3 for key, values in times.items()}
    return medians, ratio("base", "keras"), ratio("new", "keras"), ratio("new", "base")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="+", choices=sorted(bench_layers.CASES), metavar="CASE")
    parser.add_argument("--base", default="HEAD", help="git revision to compare against")
    parser.add_argument("--repeats", type=int, default=31, help="rounds per case")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="ab_layers_") as directory:
        export_layers(args.base, directory)
        sys.path.insert(0, directory)
        import layers_base

        print(f"base: layers/ at {args.base}; new: the working tree's ({layers.__file__})")
        header = ("case", "keras ms", "base ms", "new ms", "base/keras", "new/keras", "new/base")
        print("{:<19} {:>9} {:>9} {:>9} {:>10} {:>10} {:>9}".format(*header))
        for name in args.cases:
            medians, base_ratio, new_ratio, change = run_case(name, layers_base, args.repeats)
            print(
                f"{name:<19} {medians['keras']:9.2f} {medians['base']:9.2f} {medians['new']:9.2f} "
                f"{base_ratio:10.2f} {new_ratio:10.2f} {change:9.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
