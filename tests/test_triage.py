"""Error triage: one bad layer is one error, and only fixes that repair the network are offered."""

from cnnstudio.analysis.analyze import infer
from cnnstudio.analysis.triage import root_errors, waiting_on
from cnnstudio.network import presets
from cnnstudio.network.edits import apply_edit


def digits_with_kernel_9_valid():
    spec = presets.get("digits-cnn")
    spec.layer("conv1").params.update(kernel_size=9, padding="valid")
    return spec


def test_a_fix_that_moves_the_error_downstream_is_not_offered():
    spec = digits_with_kernel_9_valid()
    [error] = infer(spec).layer("conv1").errors
    labels = [fix.label for fix in error.fixes]
    assert labels == ['Set padding to "same"', 'Remove layer "conv1"']
    for fix in error.fixes:
        assert infer(apply_edit(spec, fix)).ok, fix.label
    # the dropped fix really moves the error: conv1 becomes 1x1 and conv2 breaks
    moved = spec.copy()
    moved.layer("conv1").params["kernel_size"] = 8
    assert [e.layer for e in root_errors(infer(moved))] == ["conv2"]


def test_fixes_are_ranked_by_the_errors_they_leave():
    spec = digits_with_kernel_9_valid()
    spec.layer("hidden").params["units"] = 0  # a second, independent error
    summary = infer(spec)
    assert len(root_errors(summary)) == 2
    for issue in root_errors(summary):
        left = [len(root_errors(infer(apply_edit(spec, fix)))) for fix in issue.fixes]
        assert left == sorted(left) and all(n < 2 for n in left), (issue.layer, left)


def test_one_bad_layer_is_one_root_error_and_the_layers_below_wait_on_it():
    summary = infer(digits_with_kernel_9_valid())
    assert [e.layer for e in root_errors(summary)] == ["conv1"]
    assert len(summary.errors()) == 6
    assert [waiting_on(summary, name) for name in ("conv1", "conv2", "pool", "output")] == \
        [None, "conv1", "conv1", "conv1"]


def test_every_layer_of_a_fixed_rank_checks_its_input():
    from cnnstudio.network.spec import LayerSpec

    spec = presets.get("digits-cnn")
    spec.layers.append(LayerSpec("drop", "SpatialDropout2D", {}))  # after the output vector
    [error] = infer(spec).errors()
    assert error.layer == "drop" and "SpatialDropout2D expects an image" in error.message
    assert [fix.label for fix in error.fixes] == ['Remove layer "drop"']
