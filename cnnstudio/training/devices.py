"""Where training runs: the only TensorFlow-specific part of the training path.

A device string is "auto" (every GPU TensorFlow sees, else the CPU), "cpu", "gpu:K", a
comma-separated list such as "gpu:0,gpu:1" or "cpu:0,cpu:1" (``tf.distribute.MirroredStrategy``
over those devices), or "workers" (``MultiWorkerMirroredStrategy`` from ``TF_CONFIG``, for the
command line across machines). Under a strategy, ``cnnstudio.training.distributed`` trains
with its own loop (Keras' ``fit`` cannot). On another Keras backend only "auto" and "cpu" apply, and
training runs wherever that backend puts it.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from typing import Any

_ONE = re.compile(r"^(cpu|gpu):(\d+)$")


def check_device(device: Any) -> str:
    """The device string normalised (lower case, no spaces), or ValueError naming the forms."""
    text = device.strip().lower().replace(" ", "") if isinstance(device, str) else device
    if isinstance(text, str) and (
        text in ("auto", "cpu", "workers") or all(_ONE.match(part) for part in text.split(","))
    ):
        return text
    raise ValueError(
        "Unknown device. Expected \"auto\", \"cpu\", \"gpu:K\", a list such as \"gpu:0,gpu:1\", or "
        f"\"workers\". Received: device={device!r}"
    )


@dataclass
class Placement:
    """A resolved device: a label for people, the scope to build and train in, and replicas."""

    label: str
    replicas: int
    strategy: Any = None
    _device: str | None = None

    def scope(self):
        """Enter to build, compile and fit on this device."""
        if self.strategy is not None:
            return self.strategy.scope()
        if self._device is not None:
            import tensorflow as tf

            return tf.device(self._device)
        return contextlib.nullcontext()

    def fit_scope(self):
        """Enter to call ``fit``: the device, or nothing under a strategy (it was captured)."""
        if self.strategy is not None:
            return contextlib.nullcontext()
        return self.scope()


def resolve(device: str) -> Placement:
    """The placement for a checked device string; ValueError if that device is not there."""
    import keras

    device = check_device(device)
    if keras.backend.backend() != "tensorflow":
        if device not in ("auto", "cpu"):
            raise ValueError(
                f"Choosing a device needs the TensorFlow backend. Expected device \"auto\" on the "
                f"{keras.backend.backend()} backend. Received: device={device!r}"
            )
        return Placement(label=f"{keras.backend.backend()} default device", replicas=1)

    import tensorflow as tf

    if device == "workers":
        # Collective ops must be set up before anything else initialises TensorFlow.
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        return Placement(
            label=f"{strategy.num_replicas_in_sync} replica(s) across workers (TF_CONFIG)",
            replicas=strategy.num_replicas_in_sync,
            strategy=strategy,
        )
    gpus = [d.name.replace("/physical_device:", "") for d in tf.config.list_logical_devices("GPU")]
    cpus = [d.name.split("device:")[-1] for d in tf.config.list_logical_devices("CPU")]
    if device == "auto":
        if len(gpus) > 1:
            return _mirrored([f"gpu:{k}" for k in range(len(gpus))])
        return Placement(label="GPU:0" if gpus else "CPU", replicas=1, _device=None)
    if device == "cpu":
        return Placement(label="CPU", replicas=1, _device="/CPU:0")
    parts = device.split(",")
    for part in parts:
        kind, index = _ONE.match(part).groups()
        available = gpus if kind == "gpu" else cpus
        if int(index) >= len(available):
            raise ValueError(
                f"There is no {kind.upper()} {index}: TensorFlow sees {len(available)} "
                f"{kind.upper()} device(s). Expected {kind}:0..{kind}:{max(len(available) - 1, 0)} "
                f"or \"auto\" (run `cnnstudio doctor` to see why a GPU is missing). Received: device={device!r}"
            )
    if len(parts) == 1:
        return Placement(label=parts[0].upper(), replicas=1, _device="/" + parts[0].upper())
    return _mirrored(parts)


def _mirrored(parts: list[str]) -> Placement:
    import tensorflow as tf

    names = [f"/{p.upper()}" for p in parts]
    strategy = tf.distribute.MirroredStrategy(devices=names)
    return Placement(
        label=f"{len(names)} mirrored replicas ({', '.join(p.upper() for p in parts)})",
        replicas=strategy.num_replicas_in_sync,
        strategy=strategy,
    )


def is_out_of_memory(exc: BaseException) -> bool:
    """True for TensorFlow's ResourceExhaustedError and other backends' out-of-memory errors."""
    return type(exc).__name__ == "ResourceExhaustedError" or "out of memory" in str(exc).lower()
