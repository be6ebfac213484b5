"""What the studio's monitoring costs: train() against a plain Keras fit of the same model.

Both sides fit digits-cnn (built from the preset with the same seed) on the same data with the
same batch size, optimizer, loss, metrics, jit_compile and batches per call of the step
(``cnnstudio.training.groups.batches_per_call``), with validation each epoch; rounds
alternate between the two and the medians of images per second (and of each back-to-back pair's ratio, steadier on a
busy machine) are compared. Target: the
studio at least 0.95 of plain Keras (monitoring under 5%).

    .venv/bin/python benchmarks/bench_training.py [--rounds 5] [--epochs 3] [--repeat 4]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=4, help="copies of the digits training set")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    import keras
    import numpy as np

    from cnnstudio.models.builder import build_model
    from cnnstudio.network import presets
    from cnnstudio.training import groups
    from cnnstudio.training.data import Dataset, load_dataset
    from cnnstudio.training.loop import TrainingSettings, TrainingState, make_optimizer, train

    base = load_dataset("digits")
    data = Dataset(f"digits-x{args.repeat}", np.concatenate([base.x_train] * args.repeat),
                   np.concatenate([base.y_train] * args.repeat), base.x_val, base.y_val, base.class_names)
    spec = presets.get("digits-cnn")
    settings = TrainingSettings(epochs=args.epochs, batch_size=args.batch_size, seed=0, device=args.device)
    images = len(data.x_train) * args.epochs

    def fresh_model():
        keras.utils.set_random_seed(settings.seed)
        return build_model(spec, seed=settings.seed)

    def plain() -> float:
        model = fresh_model()
        start = time.perf_counter()
        model.compile(optimizer=make_optimizer(settings),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=False),
                      metrics=["accuracy"], jit_compile=settings.jit_compile,
                      steps_per_execution=groups.batches_per_call(model, settings.batch_size))
        model.fit(data.x_train, data.y_train, batch_size=settings.batch_size, epochs=settings.epochs,
                  validation_data=(data.x_val, data.y_val), verbose=0, shuffle=True)
        return images / (time.perf_counter() - start)

    def studio() -> float:
        model = fresh_model()
        start = time.perf_counter()
        result = train(model, data, settings, TrainingState(listener=lambda update: None))
        assert result.status == "completed", result.error
        return images / (time.perf_counter() - start)

    plain(), studio()  # warm-up: TensorFlow's first graph building is not what we measure
    rates = {"plain": [], "studio": []}
    for _ in range(args.rounds):
        rates["plain"].append(plain())
        rates["studio"].append(studio())
    medians = {k: statistics.median(v) for k, v in rates.items()}
    ratio = medians["studio"] / medians["plain"]
    print(f"{len(data.x_train)} images x {args.epochs} epochs, batch {args.batch_size}, {args.rounds} rounds, "
          f"backend {keras.backend.backend()}")
    for name, values in rates.items():
        print(f"  {name:7s} median {medians[name]:8.0f} img/s  (rounds: {', '.join(f'{v:.0f}' for v in values)})")
    paired = statistics.median(s / p for s, p in zip(rates["studio"], rates["plain"], strict=True))
    print(f"studio / plain Keras: {ratio:.3f} of medians, {paired:.3f} median of back-to-back pairs  "
          f"(monitoring cost {100 * (1 - paired):+.1f}%; target under 5%)")


if __name__ == "__main__":
    main()
