"""Shape inference: shapes, parameters, receptive fields, costs, and problems as messages."""

import json
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnstudio.analysis.analyze import infer
from cnnstudio.analysis.shapes import Fix
from cnnstudio.network import catalog
from cnnstudio.network.edits import FixError, apply_edit
from cnnstudio.network.spec import LayerSpec, NetworkSpec


def chain(input_shape, *layers):
    return NetworkSpec(input_shape=input_shape, layers=[
        LayerSpec(name=name, type=type_name, params=params) for name, type_name, params in layers
    ])


def test_chain_shapes_params_receptive_field_and_costs():
    spec = chain((32, 32, 3),
                 ("conv", "Conv2D", {"filters": 10, "kernel_size": 5, "padding": 2}),
                 ("pool", "MaxPool2D", {"pool_size": 2}),
                 ("flat", "Flatten", {}),
                 ("out", "Dense", {"units": 10, "activation": "softmax"}))
    s = infer(spec)
    assert s.ok
    conv, pool, flat, out = s.layers
    assert conv.output_shape == (32, 32, 10)
    assert conv.params == conv.trainable_params == 5 * 5 * 3 * 10 + 10
    assert conv.macs == 32 * 32 * 10 * (5 * 5 * 3)
    assert conv.receptive_field == (5, 5) and conv.jump == (1, 1)
    assert conv.formulas == ["height: floor((32 - 5 + 2*2) / 1) + 1 = 32",
                             "width: floor((32 - 5 + 2*2) / 1) + 1 = 32"]
    assert pool.output_shape == (16, 16, 10) and pool.params == 0
    assert pool.receptive_field == (5 + 1, 5 + 1) and pool.jump == (2, 2)
    assert flat.output_shape == (16 * 16 * 10,)
    assert out.output_shape == (10,) and out.params == 2560 * 10 + 10
    assert s.total_params == conv.params + out.params
    assert s.macs == conv.macs + out.macs
    assert conv.activation_bytes == 4 * 32 * 32 * 10
    assert s.activation_bytes == sum(info.activation_bytes for info in s.layers)


def test_budget_counts_weights_optimizer_activations_and_training_macs():
    s = infer(chain((8, 8, 1), ("c", "Conv2D", {"filters": 4}), ("f", "Flatten", {}),
                    ("d", "Dense", {"units": 3, "activation": "softmax"})))
    b = s.budget(16)
    assert b["params_bytes"] == 4 * s.total_params
    assert b["activation_bytes"] == 2 * 16 * s.activation_bytes
    assert b["training_step_macs"] == 3 * 16 * s.macs
    assert b["total_bytes"] == b["params_bytes"] + b["optimizer_bytes"] + b["activation_bytes"]
    with pytest.raises(ValueError, match="Received: batch_size=0"):
        s.budget(0)


def test_batch_norm_counts_moving_statistics_as_non_trainable():
    s = infer(chain((8, 8, 3), ("c", "Conv2D", {"filters": 6}), ("bn", "BatchNormalization", {})))
    bn = s.layer("bn")
    assert (bn.trainable_params, bn.non_trainable_params) == (12, 12)
    assert s.non_trainable_params == 12


def test_dilated_kernel_too_big_is_an_error_with_fixes_that_work():
    spec = chain((7, 7, 3), ("c1", "Conv2D", {"kernel_size": 3, "dilation_rate": 4}),
                 ("f", "Flatten", {}), ("d", "Dense", {}))
    s = infer(spec)
    [error, *downstream] = s.errors()
    assert error.layer == "c1"
    assert "dilated kernel of extent 9 exceeds the padded input of 7 on axes height and width" in error.message
    assert [f.label for f in error.fixes] == ['Set padding to "same"', "Set kernel_size to 2",
                                              'Remove layer "c1"']
    assert [(i.layer, i.caused_by) for i in downstream] == [("f", "c1"), ("d", "c1")]
    assert "unknown shape" in downstream[0].message
    assert s.layer("d").output_shape is None
    conv = s.layer("c1")
    assert conv.output_shape is None and conv.params == 3 * 3 * 3 * conv.config["filters"] + conv.config["filters"]
    for fix in error.fixes:
        fixed = infer(apply_edit(spec, fix))
        assert fixed.ok, [str(i) for i in fixed.errors()]
    assert spec.layers[0].params == {"kernel_size": 3, "dilation_rate": 4}


def test_unused_columns_are_a_warning_but_trailing_zeros_are_not():
    s = infer(chain((7, 7, 1), ("c", "Conv2D", {"kernel_size": 3, "strides": 3})))
    assert [w.message for w in s.layer("c").warnings] == [
        "Kernel 3 with stride 3 on height 7 leaves 1 row unused.",
        "Kernel 3 with stride 3 on width 7 leaves 1 column unused.",
    ]
    padded = infer(chain((224, 224, 3), ("c", "Conv2D", {"kernel_size": 11, "strides": 4, "padding": 2})))
    assert not [w for w in padded.layer("c").warnings if "unused" in w.message]


def test_pool_padding_as_large_as_the_window_is_an_error():
    spec = chain((8, 8, 1), ("p", "MaxPool2D", {"pool_size": 2, "padding": 2}))
    [error] = infer(spec).errors()
    assert "Padding 2 is not smaller than the pool window 2" in error.message
    assert infer(apply_edit(spec, error.fixes[0])).ok


def test_conv2d_on_a_sequence_offers_conv1d():
    spec = chain((40, 1), ("c", "Conv2D", {"kernel_size": 5, "filters": 8}))
    [error] = infer(spec).errors()
    assert error.message.startswith("Conv2D expects an image (height, width, channels); its input "
                                    '"input" is (40, 1), a sequence')
    assert error.fixes[0].label == "Use Conv1D instead"
    fixed = infer(apply_edit(spec, error.fixes[0]))
    assert fixed.ok and fixed.layer("c").output_shape == (36, 8)


def test_convolution_after_flatten_says_to_move_it():
    s = infer(chain((8, 8, 1), ("f", "Flatten", {}), ("c", "Conv1D", {})))
    [error] = s.errors()
    assert "is (64,), a vector" in error.message and "Move it before the Flatten" in error.message


def residual(conv_filters):
    return NetworkSpec(input_shape=(16, 16, 8), layers=[
        LayerSpec("a", "Conv2D", {"filters": 8, "padding": "same"}),
        LayerSpec("b", "Conv2D", {"filters": conv_filters, "padding": "same"}),
        LayerSpec("join", "Add", {}, inputs=["a", "b"]),
    ])


def test_add_of_a_residual_block():
    s = infer(residual(8))
    assert s.ok and s.layer("join").output_shape == (16, 16, 8)
    assert s.layer("join").receptive_field == (5, 5)


def test_add_with_different_channels_names_both_and_offers_fixes():
    spec = residual(4)
    [error] = infer(spec).errors()
    assert error.message.startswith('Add needs inputs of equal shape; "a" is (16, 16, 8) but "b" is (16, 16, 4).')
    assert [f.label for f in error.fixes] == ['Set filters of "b" to 8', "Use Concatenate instead",
                                              'Remove layer "join"']
    assert infer(apply_edit(spec, error.fixes[0])).ok
    concatenated = infer(apply_edit(spec, error.fixes[1]))
    assert concatenated.ok and concatenated.layer("join").output_shape == (16, 16, 12)


def test_concatenate_says_which_axis_differs():
    spec = NetworkSpec(input_shape=(16, 16, 3), layers=[
        LayerSpec("a", "Conv2D", {"filters": 4}),
        LayerSpec("b", "Conv2D", {"filters": 4, "kernel_size": [1, 3]}, inputs=["input"]),
        LayerSpec("cat", "Concatenate", {}, inputs=["a", "b"]),
    ])
    [error] = infer(spec).errors()
    assert 'Concatenate needs equal height on every input; "a" has height 14 but "b" has 16' in error.message


def test_bad_specs_are_issues_never_exceptions():
    spec = NetworkSpec(input_shape=(8, 8, 1), layers=[
        LayerSpec("a", "Conv2d", {}),
        LayerSpec("b", "Conv2D", {"filtres": 3}),
        LayerSpec("c", "Dense", {}, inputs=["nowhere"]),
        LayerSpec("c", "Dense", {}),
        LayerSpec("m", "Add", {}, inputs=["input"]),
    ])
    s = infer(spec)
    messages = [str(i) for i in s.errors()]
    assert any('a: Unknown layer type "Conv2d". Did you mean "Conv2D"?' in m for m in messages)
    assert any('b: filtres: Conv2D has no hyperparameter "filtres". Did you mean "filters"?' in m for m in messages)
    assert any('c: Reads "nowhere", which is not the input or an earlier layer.' in m for m in messages)
    assert any('c: The name "c" is already taken' in m for m in messages)
    assert any("m: Add joins 2 to 8 branches; it reads 1" in m for m in messages)
    unknown = infer(apply_edit(spec, s.layer("a").errors[0].fixes[0]))
    assert unknown.layer("a").type == "Conv2D" and not unknown.layer("a").errors
    reset = infer(apply_edit(spec, s.layer("b").errors[0].fixes[0])).layer("b")
    assert reset.errors and not any("filtres" in e.message for e in reset.errors)


def test_dead_end_branch_is_an_error():
    spec = NetworkSpec(input_shape=(8, 8, 1), layers=[
        LayerSpec("side", "Conv2D", {}), LayerSpec("main", "Flatten", {}, inputs=["input"]),
    ])
    [error] = infer(spec).errors()
    assert error.layer == "side" and "goes nowhere" in error.message
    assert infer(apply_edit(spec, error.fixes[0])).ok


def test_bad_input_shape_and_empty_network():
    assert "Received: input_shape=(0, 3)" in str(infer(NetworkSpec((0, 3), [LayerSpec("f", "Flatten")])).errors()[0])
    assert not infer(NetworkSpec((8, 8, 1), [])).ok


def test_apply_fix_rewires_chains_and_refuses_stale_edits():
    spec = chain((8, 8, 1), ("a", "Conv2D", {}), ("b", "Conv2D", {}), ("c", "Flatten", {}))
    removed = apply_edit(spec, {"op": "remove_layer", "layer": "b"})
    assert [(x.name, x.inputs) for x in removed.layers] == [("a", []), ("c", [])]
    inserted = apply_edit(spec, Fix("", {"op": "insert_after", "layer": "a", "type": "MaxPool2D",
                                        "params": {"pool_size": 2}}))
    assert [x.name for x in inserted.layers] == ["a", "maxpool2d_1", "b", "c"]
    assert infer(inserted).layer("b").output_shape == (1, 1, 32)
    branch = residual(8)
    without_a = apply_edit(branch, {"op": "remove_layer", "layer": "a"})
    assert without_a.layer("join").inputs == ["input", "b"]
    assert without_a.layer("b").inputs == []  # first layer: reads the input implicitly
    with pytest.raises(FixError, match="not in the network any more"):
        apply_edit(spec, {"op": "remove_layer", "layer": "zzz"})
    with pytest.raises(FixError, match="Received: op='explode'"):
        apply_edit(spec, {"op": "explode", "layer": "a"})


def test_summary_json_is_serialisable():
    s = infer(chain((7, 7, 1), ("c", "Conv2D", {"kernel_size": 9})))
    data = json.loads(json.dumps(s.to_json()))
    assert data["ok"] is False
    assert data["layers"][0]["errors"][0]["fixes"][0]["edit"] == {
        "op": "set_params", "layer": "c", "params": {"padding": "same"}}


def test_inference_imports_neither_tensorflow_nor_keras_nor_qt():
    code = ("import sys, cnnstudio.analysis.shapes, cnnstudio.analysis.lint, cnnstudio.network.presets, cnnstudio.network.expressions;"
            "print(sorted(m for m in ('tensorflow', 'keras', 'PySide6') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


VALUES = st.one_of(st.integers(-2, 12), st.sampled_from(["same", "valid", "relu", "softmax", None, True]),
                   st.lists(st.integers(0, 4), max_size=3), st.floats(-1, 2))


@st.composite
def garbage_specs(draw):
    shape = tuple(draw(st.lists(st.integers(-1, 9), min_size=1, max_size=4)))
    names = ["input"]
    layers = []
    for k in range(draw(st.integers(0, 6))):
        type_name = draw(st.sampled_from([*catalog.CATALOG, "Conv3D"]))
        params = draw(st.dictionaries(st.sampled_from(["filters", "kernel_size", "strides", "padding",
                                                       "pool_size", "units", "rate", "bogus"]),
                                      VALUES, max_size=3))
        inputs = draw(st.lists(st.sampled_from(names + ["ghost"]), max_size=3))
        name = draw(st.sampled_from([f"l{k}", "dup", "a/b"]))
        layers.append(LayerSpec(name, type_name, params, inputs))
        names.append(name)
    return NetworkSpec(input_shape=shape, layers=layers)


@settings(max_examples=200, deadline=None)
@given(garbage_specs())
def test_infer_never_raises_and_every_problem_is_a_message(spec):
    summary = infer(spec, num_classes=3, loss_from_logits=True)
    json.dumps(summary.to_json())
    for issue in summary.errors() + summary.warnings():
        assert issue.message
        for fix in issue.fixes:
            apply_edit(spec, fix)
