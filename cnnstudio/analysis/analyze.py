"""The full analysis the editor shows: shapes and errors (their fixes checked on the whole
network), then the teaching warnings."""

from __future__ import annotations

from cnnstudio.analysis.lint import lint
from cnnstudio.analysis.shapes import Summary, infer_shapes
from cnnstudio.analysis.triage import rank_error_fixes
from cnnstudio.network.spec import NetworkSpec


def infer(spec: NetworkSpec, num_classes: int | None = None,
          loss_from_logits: bool | None = None) -> Summary:
    """Shapes, parameters, receptive fields, costs and issues of every layer of ``spec``.

    ``num_classes`` (the data set's) and ``loss_from_logits`` (the loss the training will
    use) let the teaching linter check the output layer; None skips those checks.
    """
    summary = infer_shapes(spec)
    rank_error_fixes(spec, summary)
    lint(spec, summary, num_classes=num_classes, loss_from_logits=loss_from_logits)
    return summary
