"""Transposed, depthwise and grouped convolutions in the catalog, shape analysis and builder."""

import numpy as np
import pytest
from test_inspection_receptive import LINEAR, _bounding_box, _dependence, _spec

from cnnstudio.analysis.analyze import infer
from cnnstudio.inspection import probes
from cnnstudio.models import builder

DECODER = _spec((7, 6, 2), [
    ("down", "Conv2D", {"filters": 4, "kernel_size": 3, "strides": 2, "padding": "same", **LINEAR}),
    ("up", "Conv2DTranspose", {"filters": 3, "kernel_size": 3, "strides": 2, "padding": "same",
                               "output_padding": [0, 1], **LINEAR}),
    ("dw", "DepthwiseConv2D", {"kernel_size": 2, "depth_multiplier": 2, "padding": "valid", **LINEAR}),
    ("grouped", "Conv2D", {"filters": 4, "kernel_size": 2, "groups": 2, "padding": 1, **LINEAR}),
    ("wide", "Conv2DTranspose", {"filters": 1, "kernel_size": 2, "strides": 3, "padding": 1,
                                 "dilation_rate": 2, **LINEAR}),
])


def test_shapes_parameters_and_macs_match_the_built_model():
    summary = infer(DECODER)
    assert summary.ok, [str(i) for i in summary.errors()]
    model = builder.build_model(DECODER, seed=0)
    for info in summary.layers:
        layer = model.get_layer(info.name)
        assert tuple(layer.output.shape[1:]) == info.output_shape
        assert layer.count_params() == info.params
    up, dw, grouped = (summary.layer(n) for n in ("up", "dw", "grouped"))
    assert up.output_shape == (7, 6, 3)
    assert up.formulas == ["height: (4 - 1)*2 - 2*1 + 1*(3 - 1) + 0 + 1 = 7",
                           "width: (3 - 1)*2 + 1*(3 - 1) - 1 + 1 = 6"]
    assert up.macs == 4 * 3 * 9 * 4 * 3  # every input cell times the kernel, channels in times out
    assert dw.output_shape == (6, 5, 6) and dw.params == 2 * 2 * 6 + 6
    assert dw.macs == 6 * 5 * 6 * 4
    assert grouped.output_shape == (7, 6, 4)
    assert grouped.params == 2 * 2 * 3 * 4 + 4 and grouped.macs == 7 * 6 * 4 * 2 * 2 * 3
    assert summary.layer("wide").formulas[0] == "height: (7 - 1)*3 - 2*1 + 2*(2 - 1) + 0 + 1 = 19"


@pytest.mark.parametrize("layer", ["up", "dw", "grouped", "wide"])
def test_the_clipped_receptive_box_is_exactly_the_pixels_a_unit_sees(layer):
    summary = infer(DECODER)
    masks = _dependence(DECODER, layer)
    info = summary.layer(layer)
    for row in range(info.output_shape[0]):
        for col in range(info.output_shape[1]):
            seen = masks[..., row, col]
            box = probes.receptive_box(summary, layer, row, col).clipped()
            if not seen.any():
                continue
            assert (box.start, box.stop) == _bounding_box(seen)


def test_groups_that_do_not_divide_the_channels_are_an_error_with_the_fix():
    spec = _spec((8, 8, 6), [("g", "Conv2D", {"filters": 4, "groups": 4})])
    issue = infer(spec).layer("g").errors[0]
    assert issue.message == ("groups 4 must divide both the 6 input channels and the 4 filters. "
                             "Use a common divisor such as 2.")
    assert issue.fixes[0].edit == {"op": "set_params", "layer": "g", "params": {"groups": 2}}


def test_output_padding_at_the_stride_is_an_error_with_the_fix():
    spec = _spec((4, 4, 1), [("up", "Conv2DTranspose", {"filters": 1, "strides": 2, "output_padding": 2})])
    issue = infer(spec).layer("up").errors[0]
    assert issue.message.startswith("output_padding 2 on height is not smaller than the stride 2.")
    assert issue.fixes[0].edit == {"op": "unset_params", "layer": "up", "names": ["output_padding"]}


def test_the_built_transposed_layer_is_ours_with_the_spec_settings():
    model = builder.build_model(DECODER, seed=0)
    up = model.get_layer("up")
    assert type(up).__module__ == "layers.transposed"
    assert up.output_padding == (0, 1) and up.strides == (2, 2)
    x = np.zeros((1, 7, 6, 2), dtype="float32")
    assert model.predict(x, verbose=0).shape == (1, 19, 16, 1)


def _any_size_autoencoder():
    from cnnstudio.network import presets
    from cnnstudio.network.spec import NetworkSpec

    data = presets.get("denoising-autoencoder").to_dict()
    data["input_shape"] = [None, None, 1]
    return NetworkSpec.from_dict(data)


def test_an_any_size_input_gives_formulas_in_h_and_w_and_exact_parameters():
    from cnnstudio.network import presets

    spec = _any_size_autoencoder()
    summary = infer(spec, num_classes=10)
    assert summary.ok and not any(info.warnings for info in summary.layers)
    fixed = infer(presets.get("denoising-autoencoder"))
    assert [i.params for i in summary.layers] == [i.params for i in fixed.layers]
    assert [i.receptive_field for i in summary.layers] == [i.receptive_field for i in fixed.layers]
    encode2, decode2 = summary.layer("encode2"), summary.layer("decode2")
    assert encode2.output_shape == (None, None, 32)
    assert encode2.formulas == ["height: ceil(ceil(H / 2) / 2)", "width: ceil(ceil(W / 2) / 2)"]
    assert decode2.formulas[0] == "height: (ceil(ceil(H / 2) / 2)*2)*2"
    assert summary.macs == 0  # they grow with the image: not counted for any size
    assert spec.to_dict()["input_shape"] == [None, None, 1]


def test_an_any_size_network_builds_and_runs_on_two_sizes():
    model = builder.build_model(_any_size_autoencoder(), seed=0)
    for size in [(8, 8), (20, 12)]:
        assert model.predict(np.zeros((1, *size, 1), "float32"), verbose=0).shape == (1, *size, 1)


def test_flatten_after_an_any_size_input_is_an_error_with_the_global_pooling_fix():
    spec = _spec((None, None, 3), [("c", "Conv2D", {"filters": 4}), ("f", "Flatten", {}),
                                   ("d", "Dense", {"units": 2})])
    issue = infer(spec).layer("f").errors[0]
    assert issue.message.startswith("Flatten needs every length known, but the input is any size ((None, None, 4))")
    assert issue.fixes[0].edit == {"op": "change_type", "layer": "f", "type": "GlobalAvgPool2D", "params": {}}


def test_the_input_field_takes_any_size(studio_window, qtbot):
    from test_ui_main_window import close_quietly


    window = studio_window("denoising-autoencoder")
    window.show()
    qtbot.waitExposed(window)
    try:
        window.document.select("input")
        field = window.property_panel.input_edit
        field.setText("any, any, 1")
        field.textEdited.emit("any, any, 1")
        field.editingFinished.emit()
        assert tuple(window.document.spec.input_shape) == (None, None, 1)
        assert window.property_panel.input_edit.text() == "any,any,1"
        assert window.summary_table.cell_text("decode2", "Output shape") == "?×?×1"
        window.document.select("encode1")
        assert "ceil(H / 2)" in window.property_panel.result.text()
    finally:
        close_quietly(window)


@pytest.mark.skipif(__import__("importlib").util.find_spec("ai_edge_litert") is None,
                    reason="the deploy extra (ai-edge-litert) is not installed")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_an_any_size_autoencoder_exports_to_litert_with_builtin_ops_and_verifies(tmp_path):
    from cnnstudio.models import deploy

    model = builder.build_model(_any_size_autoencoder(), seed=0)
    result = deploy.export_tflite(model, tmp_path / "any.tflite")
    assert result.verification.startswith("verified in LiteRT")
    content = (tmp_path / "any.tflite").read_bytes()
    x = np.random.default_rng(1).random((2, 12, 20, 1)).astype("float32")
    np.testing.assert_allclose(deploy.run_litert(content, x), np.asarray(model(x)), atol=1e-5)
