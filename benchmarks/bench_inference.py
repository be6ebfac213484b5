"""Time infer() on a generated 200-layer spec against the 5 ms target; prints the ratio.

Run: .venv/bin/python benchmarks/bench_inference.py
"""

from __future__ import annotations

import statistics
import time

from cnnstudio.analysis.analyze import infer
from cnnstudio.network.spec import LayerSpec, NetworkSpec

TARGET_MS = 5.0
LAYERS = 200
REPEATS = 50


def residual_spec(n_layers: int) -> NetworkSpec:
    """Residual blocks (conv, BN, activation, conv, BN, add, activation) up to ``n_layers``."""
    spec = NetworkSpec(input_shape=(64, 64, 3), layers=[
        LayerSpec("stem", "Conv2D", {"filters": 32, "kernel_size": 3, "padding": "same"}),
    ], name="bench")
    block = 0
    while len(spec.layers) + 7 <= n_layers - 2:
        start = spec.layers[-1].name
        p = f"b{block}"
        spec.layers += [
            LayerSpec(f"{p}_c1", "Conv2D", {"filters": 32, "padding": "same", "activation": "linear"}),
            LayerSpec(f"{p}_bn1", "BatchNormalization"),
            LayerSpec(f"{p}_a1", "Activation", {"activation": "relu"}),
            LayerSpec(f"{p}_c2", "Conv2D", {"filters": 32, "padding": "same", "activation": "linear"}),
            LayerSpec(f"{p}_bn2", "BatchNormalization"),
            LayerSpec(f"{p}_add", "Add", inputs=[f"{p}_bn2", start]),
            LayerSpec(f"{p}_a2", "Activation", {"activation": "relu"}),
        ]
        block += 1
    while len(spec.layers) < n_layers - 2:
        spec.layers.append(LayerSpec(f"pad{len(spec.layers)}", "Dropout", {"rate": 0.1}))
    spec.layers += [LayerSpec("gap", "GlobalAvgPool2D"),
                    LayerSpec("out", "Dense", {"units": 10, "activation": "softmax"})]
    return spec


def main() -> None:
    spec = residual_spec(LAYERS)
    assert len(spec.layers) == LAYERS
    summary = infer(spec, num_classes=10, loss_from_logits=False)
    assert summary.ok, [str(i) for i in summary.errors()]
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        infer(spec, num_classes=10, loss_from_logits=False)
        times.append((time.perf_counter() - start) * 1000)
    median = statistics.median(times)
    print(f"infer() on a {LAYERS}-layer residual spec: median {median:.2f} ms over {REPEATS} runs "
          f"(min {min(times):.2f}, max {max(times):.2f})")
    print(f"target {TARGET_MS:.1f} ms; median / target = {median / TARGET_MS:.2f} "
          f"({'within' if median <= TARGET_MS else 'OVER'} target)")


if __name__ == "__main__":
    main()
