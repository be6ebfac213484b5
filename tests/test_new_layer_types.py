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
