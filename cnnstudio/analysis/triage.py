"""Triage of the errors: which are root causes, and which one-click fixes to offer for them.

A fix can move an error instead of removing it: on digits-cnn, conv1 with kernel 9 and
"valid" padding has the fix "Set kernel_size to 8", which makes conv1 1x1 and breaks conv2.
Each error's fixes are re-analysed on the whole network; only those that leave fewer root
errors (errors of their own, not "waiting on" a layer above) are kept, the best first.
Pure Python, like the rest of the analysis.
"""

from __future__ import annotations

from cnnstudio.analysis.shapes import Fix, Summary, infer_shapes
from cnnstudio.network.edits import FixError, apply_edit
from cnnstudio.network.spec import NetworkSpec


def root_errors(summary: Summary) -> list:
    """The errors that are a problem of their own: not a layer waiting on an error above it."""
    return [issue for issue in summary.errors() if not issue.caused_by]


def waiting_on(summary: Summary, name: str) -> str | None:
    """The layer in error that layer ``name`` waits on, when all its errors come from above."""
    try:
        errors = summary.layer(name).errors
    except KeyError:
        return None
    causes = {issue.caused_by for issue in errors}
    if errors and None not in causes:
        return sorted(causes)[0]
    return None


FIX_CHECK_BUDGET = 50_000
"""How many layers the fix checks may analyse again in all: each check re-analyses the whole
network, so a network of many errors (or of 100,000 layers) would otherwise take minutes per edit.
A small network gets every fix checked; beyond the budget, fixes keep the engine's order unchecked."""


def rank_error_fixes(spec: NetworkSpec, summary: Summary) -> None:
    """Keep, for every root error in ``summary``, only the fixes that leave fewer root errors, best first.

    Best is fewest root errors after the fix, then fewest errors in all; ties keep the
    engine's order (which lists removing the layer last). Checks stop at FIX_CHECK_BUDGET.
    """
    before = len(root_errors(summary))
    outcomes: dict[int, tuple[int, int] | None] = {}
    checks_left = FIX_CHECK_BUDGET // max(1, len(spec.layers))
    for issue in root_errors(summary):
        if len({id(fix) for fix in issue.fixes} - outcomes.keys()) > checks_left:
            continue
        scored = []
        for order, fix in enumerate(issue.fixes):
            key = id(fix)
            if key not in outcomes:
                checks_left -= 1
                outcomes[key] = _errors_after(spec, fix)
            after = outcomes[key]
            if after is not None and after[0] < before:
                scored.append((after, order, fix))
        issue.fixes = [fix for _after, _order, fix in sorted(scored, key=lambda s: (s[0], s[1]))]


def _errors_after(spec: NetworkSpec, fix: Fix) -> tuple[int, int] | None:
    """(root errors, all errors) of the network with ``fix`` applied; None if it cannot apply."""
    try:
        fixed = infer_shapes(apply_edit(spec, fix))
    except (FixError, ValueError, KeyError):
        return None
    return len(root_errors(fixed)), len(fixed.errors())
