"""The teaching linter: each warning and the one-click fix that clears it."""

import pytest

from cnnstudio.analysis.analyze import infer
from cnnstudio.network.edits import apply_edit
from cnnstudio.network.spec import LayerSpec, NetworkSpec


def chain(input_shape, *layers):
    return NetworkSpec(input_shape=input_shape, layers=[LayerSpec(n, t, p) for n, t, p in layers])


def warnings_of(spec, **kw):
    return [w for w in infer(spec, **kw).warnings()]


def only(spec, fragment, **kw):
    [warning] = [w for w in warnings_of(spec, **kw) if fragment in w.message]
    return warning


def cleared(spec, warning, fix_index=0, **kw):
    fixed = apply_edit(spec, warning.fixes[fix_index])
    summary = infer(fixed, **kw)
    assert summary.ok
    return not [w for w in summary.warnings() if w.message.split(":")[0] == warning.message.split(":")[0]]


def test_dense_on_a_spatial_input_offers_flatten_or_global_pooling():
    spec = chain((8, 8, 1), ("c", "Conv2D", {"filters": 4}), ("d", "Dense", {"units": 3}))
    warning = only(spec, "Dense reads")
    assert warning.layer == "d"
    assert [f.label for f in warning.fixes] == ['Insert Flatten before "d"', 'Insert GlobalAvgPool2D before "d"']
    for k in range(2):
        fixed = infer(apply_edit(spec, warning.fixes[k]))
        assert fixed.output.output_shape == (3,)
        assert not [w for w in fixed.warnings() if "Dense reads" in w.message]


def test_stride_larger_than_kernel_skips_pixels():
    spec = chain((16, 16, 1), ("c", "Conv2D", {"kernel_size": 1, "strides": 2}))
    warning = only(spec, "Stride 2")
    assert warning.message == ("Stride 2 is larger than the kernel 1 on height and width: 1 of every 2 "
                               "rows and columns are never read.")
    for k in range(2):
        assert cleared(spec, warning, k)


def test_receptive_field_under_a_tenth_of_the_input():
    spec = chain((64, 64, 3), ("c", "Conv2D", {"kernel_size": 3}))
    warning = only(spec, "under a tenth")
    assert "is 3 on height, under a tenth of the input's 64" in warning.message
    assert infer(apply_edit(spec, warning.fixes[0])).layers[1].type == "MaxPool2D"


def test_receptive_field_far_beyond_the_input():
    layers = [(f"c{i}", "Conv2D", {"kernel_size": 3, "padding": "same"}) for i in range(6)]
    warning = only(chain((6, 6, 1), *layers), "more than twice")
    assert warning.layer == "c5" and "is 13 on height" in warning.message


@pytest.mark.parametrize("last", [
    ("out", "Dense", {"units": 10, "activation": "softmax"}),
    ("act", "Activation", {"activation": "softmax"}),
])
def test_softmax_before_a_loss_that_expects_logits(last):
    spec = chain((4, 5, 1), ("f", "Flatten", {}), ("d", "Dense", {"units": 10}), last)
    warning = only(spec, "expects logits", loss_from_logits=True)
    assert warning.fixes[0].edit["params"] == {"activation": "linear"}
    assert cleared(spec, warning, loss_from_logits=True)
    assert not [w for w in warnings_of(spec, loss_from_logits=False) if "logits" in w.message]


def test_linear_output_before_a_loss_that_expects_probabilities():
    spec = chain((4, 5, 1), ("f", "Flatten", {}), ("out", "Dense", {"units": 10}))
    warning = only(spec, "expects probabilities", loss_from_logits=False)
    assert cleared(spec, warning, loss_from_logits=False)


def test_dropout_as_the_output():
    spec = chain((4, 5, 1), ("f", "Flatten", {}), ("out", "Dense", {"units": 10, "activation": "softmax"}), ("drop", "Dropout", {}))
    warning = only(spec, "Dropout is the output layer")
    assert infer(apply_edit(spec, warning.fixes[0])).output.name == "out"


def test_output_units_differ_from_the_classes():
    spec = chain((4, 5, 1), ("f", "Flatten", {}), ("out", "Dense", {"units": 10, "activation": "softmax"}))
    warning = only(spec, "data set has 3 classes", num_classes=3)
    assert infer(apply_edit(spec, warning.fixes[0])).output.output_shape == (3,)
    assert not warnings_of(spec, num_classes=10)


def test_output_that_is_not_a_vector_of_classes():
    spec = chain((8, 8, 1), ("c", "Conv2D", {"filters": 4}))
    warning = only(spec, "a classifier of 5 classes", num_classes=5)
    assert warning.fixes[0].edit["type"] == "GlobalAvgPool2D"
    vector = chain((4, 5, 1), ("f", "Flatten", {}))
    fixed = infer(apply_edit(vector, only(vector, "classifier", num_classes=5).fixes[0]), num_classes=5)
    assert fixed.output.output_shape == (5,)


def test_a_fix_that_would_break_the_network_is_not_offered():
    from cnnstudio.network import presets

    spec = NetworkSpec(input_shape=(8, 8, 4), layers=[
        LayerSpec("main", "Conv2D", {"filters": 4, "strides": 2, "padding": "same"}),
        LayerSpec("skip", "MaxPool2D", {"pool_size": 1, "strides": 2}, inputs=["input"]),
        LayerSpec("add", "Add", {}, inputs=["main", "skip"]),
    ])
    [warning] = infer(spec).layer("skip").warnings
    assert "Stride 2 is larger than the pool 1" in warning.message
    # strides 1 on the skip would no longer match the main path at the Add
    assert [fix.label for fix in warning.fixes] == ["Set pool_size to 2"]
    for name in presets.names():
        spec = presets.get(name)
        for info in infer(spec, num_classes=10).layers:
            for fix in (fix for issue in info.warnings for fix in issue.fixes):
                assert infer(apply_edit(spec, fix)).ok, (name, fix.label)


def test_a_resnet_projection_shortcut_is_a_note_not_a_warning():
    from cnnstudio.network import presets

    summary = infer(presets.get("resnet18"))
    assert not summary.warnings()
    shortcut = summary.layer("layer2_0_down")
    [note] = shortcut.notes
    assert note.severity == "note" and "projection shortcut" in note.message and "nothing is lost" in note.message
    # the same 1x1 stride-2 convolution outside a residual block still warns
    plain = chain((8, 8, 1), ("c", "Conv2D", {"filters": 4, "kernel_size": 1, "strides": 2}))
    assert "Stride 2 is larger than the kernel 1" in only(plain, "Stride 2").message
