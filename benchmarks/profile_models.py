"""Where one of ``bench_models.py``'s networks spends a training step, layer by layer.

Profiles one epoch (after a warm-up epoch that compiles) with TensorFlow's profiler and sums
the time of every operation per layer, forward and gradient together: for our layers with XLA
the HLO operations (XLA's trace events, ``--xla_cpu_enable_xprof_traceme``, named back to
their TensorFlow ops through the optimized HLO that ``--xla_dump_to`` writes), for
``--builtin`` Keras' layers as Keras trains them (TensorFlow's graph, no XLA). The figures
are thread time per step: an operation split over both cores counts on each, and
TensorFlow's graph runs independent operations at once, so neither column adds up to wall
time; compare a layer with itself across changes, or ours against the built-in one.

Usage: ``python benchmarks/profile_models.py [--network NAME] [--builtin] [--top N]``
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import sys
import tempfile
from pathlib import Path

_DUMP = tempfile.TemporaryDirectory(prefix="profile_models_hlo_")
os.environ["XLA_FLAGS"] = " ".join([
    os.environ.get("XLA_FLAGS", ""),
    "--xla_cpu_enable_xprof_traceme=true",
    f"--xla_dump_to={_DUMP.name}",
    "--xla_dump_hlo_as_text",
])
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_models  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow.tsl.profiler.protobuf import xplane_pb2  # noqa: E402

import layers  # noqa: E402

_HLO_OP = re.compile(r'^\s*(?:ROOT )?%([\w.\-]+) = .*?op_name="([^"]+)"')
_LAYER = re.compile(r"functional[_0-9]*/([A-Za-z0-9_]+)")


def hlo_op_names(dump_dir):
    """HLO instruction name -> the TensorFlow op it came from, from XLA's optimized dumps."""
    names = {}
    for path in Path(dump_dir).glob("*after_optimizations.txt"):
        for line in path.read_text().splitlines():
            match = _HLO_OP.match(line)
            if match:
                names.setdefault(match.group(1), match.group(2))
    return names


def op_times(trace_dir, builtin):
    """Summed duration in ms of each traced operation (TensorFlow op or HLO instruction)."""
    space = xplane_pb2.XSpace()
    space.ParseFromString(next(Path(trace_dir).rglob("*.xplane.pb")).read_bytes())
    times = collections.Counter()
    for plane in space.planes:
        metadata = {key: value.name for key, value in plane.event_metadata.items()}
        for line in plane.lines:
            if not ("Eigen" in line.name or (builtin and "tf_Compute" in line.name)):
                continue
            for event in line.events:
                times[metadata.get(event.metadata_id, "")] += event.duration_ps / 1e9
    return times


def layer_of(op_name):
    match = _LAYER.search(op_name)
    return match.group(1) if match else op_name.split("/")[0]


def profile(name, builtin):
    """(ms per step by layer, ms per step by operation with its TensorFlow op name)."""
    make = bench_models.NETWORKS[name]
    x, y = bench_models.random_data(make, np.random.default_rng(0))
    fit = bench_models._fitter(make, keras.layers if builtin else layers, not builtin, x, y, grouped=not builtin)
    with tempfile.TemporaryDirectory(prefix="profile_models_trace_") as trace_dir:
        tf.profiler.experimental.start(trace_dir)
        fit()
        tf.profiler.experimental.stop()
        times = op_times(trace_dir, builtin)
    steps = bench_models.IMAGES // bench_models.BATCH
    names = {} if builtin else hlo_op_names(_DUMP.name)
    by_op, by_layer = {}, collections.Counter()
    for op, ms in times.items():
        source = op.split(":")[0].removeprefix("StatefulPartitionedCall/") if builtin else names.get(op)
        if not source or "/" not in source:
            continue  # the runtime's own events, not an operation of the step
        by_op[op] = (ms / steps, source)
        by_layer[layer_of(source)] += ms / steps
    return by_layer, by_op


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", default="small_vgg", choices=sorted(bench_models.NETWORKS))
    parser.add_argument("--builtin", action="store_true", help="Keras' layers, without XLA")
    parser.add_argument("--top", type=int, default=20, help="operations to list")
    args = parser.parse_args(argv)
    by_layer, by_op = profile(args.network, args.builtin)
    which = "keras.layers, TensorFlow graph" if args.builtin else "ours, XLA"
    print(f"{args.network} ({which}): thread ms per step, by layer")
    for layer, ms in by_layer.most_common():
        print(f"{ms:9.3f}  {layer}")
    print(f"total {sum(by_layer.values()):.3f}; the {args.top} costliest operations:")
    for op, (ms, source) in sorted(by_op.items(), key=lambda item: -item[1][0])[:args.top]:
        print(f"{ms:9.3f}  {source}" if args.builtin else f"{ms:9.3f}  {op:40s} {source}")


if __name__ == "__main__":
    main()
