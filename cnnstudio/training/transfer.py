"""Fine-tuning: start a network from another model's weights, layer by layer, and freeze layers.

A layer takes the source's weights when the source has a layer of the same name whose weights
have the same shapes; every other layer keeps its fresh initial weights, and
:class:`Transfer` says which is which (so a network whose head was replaced for another number
of classes starts from the rest). The source is a ``.keras`` file, which carries its own
architecture, or a ``.weights.h5`` file read into the network it was saved from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cnnstudio.network.spec import NetworkSpec, suggest


class TransferError(ValueError):
    """A weights source that cannot be read, or a layer name that is not in the network."""


@dataclass
class Transfer:
    """Which layers took the source's weights and which started fresh, and why."""

    source: str
    copied: list[str] = field(default_factory=list)
    fresh: list[tuple[str, str]] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The log lines: one for the copied layers, one per fresh layer with its reason."""
        out = [f"Started from {self.source}: {len(self.copied)} layer(s) took its weights"
               + (f" ({', '.join(self.copied)})." if self.copied else ".")]
        out.extend(f"  {name} starts fresh: {why}." for name, why in self.fresh)
        return out


def read_weights(source, spec: NetworkSpec | None = None) -> dict[str, list[np.ndarray]]:
    """Weights by layer name from a ``.keras`` file, or from a ``.weights.h5`` file saved by a
    model of ``spec`` (a run's weights: Keras names the layers of such files by class, not by
    the network's names, so the network they came from reads them back)."""
    path = Path(source)
    if not path.is_file():
        raise TransferError(f"No weights at {str(path)!r}. Expected a .keras file or a run's .weights.h5 file.")
    import keras

    import layers
    from cnnstudio.models.builder import build_model

    layers.load_all()
    if path.name.endswith(".weights.h5"):
        if spec is None:
            raise TransferError(f"{path}: a .weights.h5 file holds no architecture. Expected a .keras file, "
                                "or an earlier run of a project (which knows its network).")
        model = build_model(spec)
        try:
            model.load_weights(str(path))
        except (ValueError, OSError, KeyError) as exc:
            raise TransferError(f"{path}: the weights do not fit the network {spec.name!r} ({exc}). Expected "
                                "the weights of a run of this network, or a .keras file.") from None
    elif path.suffix == ".keras":
        try:
            model = keras.saving.load_model(str(path), compile=False)
        except (ValueError, TypeError, OSError) as exc:
            raise TransferError(f"Cannot read {str(path)!r} as a Keras model: {exc}") from None
    else:
        raise TransferError(f"{path}: unknown kind of weights file. Expected a .keras or .weights.h5 file. "
                            f"Received: suffix {path.suffix!r}")
    return {layer.name: [np.asarray(w) for w in layer.get_weights()] for layer in model.layers if layer.weights}


def transfer_weights(model, weights: dict[str, list[np.ndarray]], source: str) -> Transfer:
    """Copy ``weights`` (by layer name) into ``model`` where names and shapes match."""
    report = Transfer(source=source)
    for layer in model.layers:
        if not layer.weights:
            continue
        given = weights.get(layer.name)
        if given is None:
            report.fresh.append((layer.name, "no layer of that name in the source"))
            continue
        wanted = [tuple(w.shape) for w in layer.get_weights()]
        found = [tuple(np.shape(w)) for w in given]
        if wanted != found:
            report.fresh.append((layer.name, f"the source's weights are shaped {_shapes(found)}, "
                                             f"this layer's {_shapes(wanted)}"))
            continue
        layer.set_weights(given)
        report.copied.append(layer.name)
    return report


def _shapes(shapes) -> str:
    return ", ".join("x".join(str(d) for d in s) or "scalar" for s in shapes)


def freeze(spec: NetworkSpec, names) -> NetworkSpec:
    """A copy of ``spec`` with the named layers frozen (trainable False)."""
    out = spec.copy()
    known = [layer.name for layer in out.layers]
    for name in names:
        if name not in known:
            raise TransferError(f'There is no layer "{name}" to freeze.{suggest(name, known)} '
                                f"Expected one of {', '.join(known)}.")
        out.layer(name).trainable = False
    return out
