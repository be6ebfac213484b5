"""The convolution explainer's engine against the course's worked examples and our layers."""

import numpy as np
import pytest

from cnnstudio.inspection import explainer
from cnnstudio.inspection.explainer import ExplainError
from cnnstudio.network.spec import LayerSpec

COURSE_IMAGE = "1,1,1,0,0;0,1,1,1,0;0,0,1,1,1;0,0,1,1,0;0,1,1,0,0"
COURSE_KERNEL = "1,0,1;0,1,0;1,0,1"


def test_course_1d_edge_filter():
    e = explainer.explain_conv([0, 1, 0, 1, 1], [-1, 1])
    assert e.output.tolist() == [1, -1, 1, 0]
    assert e.windows[0].equation == "out[0] = 0*(-1) + 1*1 = 1"
    assert e.formulas == ("floor((5 - 2) / 1) + 1 = 4",)
    assert e.warnings == ()
    assert not e.unused.any()


def test_course_1d_second_input():
    assert explainer.explain_conv([0, 1, -1, 1, 1], [-1, 1]).output.tolist() == [1, -2, 2, 0]


def test_course_2d_image_and_kernel():
    e = explainer.explain_conv(explainer.parse_values(COURSE_IMAGE, 2), explainer.parse_values(COURSE_KERNEL, 2))
    assert e.output.tolist() == [[4, 3, 4], [2, 4, 3], [2, 3, 4]]
    window = e.window_at((1, 2))
    assert [t.input_index for t in window.taps][:3] == [(1, 2), (1, 3), (1, 4)]
    assert window.value == 3


def test_7x7_kernel_3_stride_3_warns_and_marks_the_unused_column():
    x = np.arange(49, dtype=float).reshape(7, 7)
    e = explainer.explain_conv(x, np.ones((3, 3)), strides=3)
    assert e.output.shape == (2, 2)
    assert e.formulas[1] == "floor((7 - 3) / 3) + 1 = 2"
    assert "Kernel 3 with stride 3 on width 7 leaves 1 column unused" in e.warnings
    assert "Kernel 3 with stride 3 on height 7 leaves 1 row unused" in e.warnings
    assert e.unused[:, 6].all() and e.unused[6, :].all()
    assert not e.unused[:6, :6].any()


def test_breakdown_matches_layer_with_padding_stride_and_dilation():
    rng = np.random.default_rng(0)
    x, k = rng.normal(size=(6, 7)), rng.normal(size=(2, 3))
    e = explainer.explain_conv(x, k, strides=(2, 1), padding="same", dilation_rate=(1, 2))
    for window in e.windows:
        assert window.value == pytest.approx(sum(t.value * t.weight for t in window.taps), abs=1e-4)
    assert e.padding == ((0, 0), (2, 2))
    assert any(t.is_padding for w in e.windows for t in w.taps)


def test_dilation_spreads_the_taps():
    e = explainer.explain_conv([1, 2, 3, 4, 5, 6], [1, 1, 1], dilation_rate=2)
    assert [t.input_index for t in e.windows[1].taps] == [(1,), (3,), (5,)]
    assert e.output.tolist() == [9, 12]
    assert e.formulas == ("floor((6 - 5) / 1) + 1 = 2",)


def test_explicit_padding_reads_zeros_on_padded_cells():
    e = explainer.explain_conv([1, 2, 3], [1, 1, 1], padding=1)
    first = e.windows[0]
    assert first.taps[0].is_padding and first.taps[0].value == 0
    assert e.output.tolist() == [3, 6, 5]
    assert e.padded_shape == (5,)


def test_to_dict_holds_output_and_shape():
    data = explainer.explain_conv([0, 0.1, 0.2], [1, 1]).to_dict()
    assert data["output"] == [0.1, pytest.approx(0.3)]
    assert data["output_shape"] == [2]
    assert data["windows"][0]["equation"] == "out[0] = 0*1 + 0.1*1 = 0.1"


@pytest.mark.parametrize(
    ("text", "rank", "message"),
    [
        ("1,2;3", 2, "rows are ragged: row 2 has 1 values but row 1 has 2"),
        ("0,x,1", 1, "'x' in row 1 of the input is not a number"),
        ("", 1, "The input is empty"),
        ("1,2;3,4", 1, "one row of numbers, but it has 2 rows"),
        ("1,nan", 1, "not a finite number"),
    ],
)
def test_parse_values_refuses_bad_text(text, rank, message):
    with pytest.raises(ExplainError, match=message):
        explainer.parse_values(text, rank)


def test_parse_and_format_round_trip():
    grid = explainer.parse_values("1, 0.5\n-2 3", 2)
    assert grid.tolist() == [[1, 0.5], [-2, 3]]
    assert explainer.format_values(grid) == "1, 0.5; -2, 3"


def test_kernel_that_does_not_fit_is_refused():
    with pytest.raises(ExplainError, match="The kernel does not fit: kernel 3 .* length 2 plus padding 0"):
        explainer.explain_conv([1, 2], [1, 1, 1])
    with pytest.raises(ExplainError, match=r"spanning 5 with dilation 2"):
        explainer.explain_conv([1, 2, 3, 4], [1, 1, 1], dilation_rate=2)


def test_bad_settings_are_refused_with_the_fix():
    with pytest.raises(ExplainError, match="strides must be at least 1"):
        explainer.explain_conv([1, 2, 3], [1], strides=0)
    with pytest.raises(ExplainError, match='padding must be "valid", "same"'):
        explainer.explain_conv([1, 2, 3], [1], padding="full")
    with pytest.raises(ExplainError, match="Expected a 2D kernel for a 2D input"):
        explainer.explain_conv([[1, 2], [3, 4]], [1])
    with pytest.raises(ExplainError, match="conv2d needs a 2D input"):
        explainer.explain("conv2d", [1, 2, 3], [1])


def test_conv1d_matrix_is_sparse_and_weight_shared():
    kernel = np.array([-1.0, 2.0, 3.0])
    x = np.array([0.0, 1, -1, 1, 1, 2, 5])
    for strides, padding, dilation in [(1, "valid", 1), (2, "same", 1), (1, 2, 2), (3, "valid", 1)]:
        matrix = explainer.conv1d_matrix(kernel, x.size, strides, padding, dilation)
        e = explainer.explain_conv(x, kernel, strides, padding, dilation)
        np.testing.assert_allclose(matrix @ x, e.output, atol=1e-5)
    indices = explainer.conv1d_weight_indices(3, 7)
    assert indices.shape == (5, 7)
    assert indices[0].tolist() == [0, 1, 2, -1, -1, -1, -1]
    assert indices[2].tolist() == [-1, -1, 0, 1, 2, -1, -1]
    assert (indices >= 0).sum(axis=1).tolist() == [3] * 5


def test_conv1d_matrix_drops_taps_on_padding():
    indices = explainer.conv1d_weight_indices(3, 4, padding="same")
    assert indices[0].tolist() == [1, 2, -1, -1]
    assert indices[3].tolist() == [-1, -1, 0, 1]


def test_three_3x3_convolutions_see_7x7():
    stack = [LayerSpec(f"conv{i}", "Conv2D", {"kernel_size": 3}) for i in range(3)]
    rows = explainer.receptive_field_growth(stack)
    assert [r.receptive_field for r in rows] == [(3, 3), (5, 5), (7, 7)]
    assert rows[-1].jump == (1, 1)


def test_pooling_and_dilation_grow_the_field_faster():
    stack = [
        {"name": "c1", "type": "Conv2D", "params": {"kernel_size": 3}},
        {"name": "p1", "type": "MaxPool2D", "params": {}},
        {"name": "bn", "type": "BatchNormalization", "params": {}},
        {"name": "c2", "type": "Conv2D", "params": {"kernel_size": 3, "dilation_rate": 2}},
    ]
    rows = explainer.receptive_field_growth(stack)
    assert [r.receptive_field[0] for r in rows] == [3, 4, 4, 12]
    assert [r.jump[0] for r in rows] == [1, 2, 2, 2]
    assert rows[3].window == (5, 5)


def test_receptive_field_refuses_layers_that_see_everything():
    with pytest.raises(ExplainError, match="sees the whole input"):
        explainer.receptive_field_growth([{"name": "f", "type": "Flatten"}])
    with pytest.raises(ExplainError, match='unknown layer type "Conv3D"'):
        explainer.receptive_field_growth([{"name": "c", "type": "Conv3D"}])


def test_operation_for_layer():
    assert explainer.operation_for_layer("MaxPool2D") == "maxpool2d"
    assert explainer.operation_for_layer("Conv1D") == "conv1d"
    with pytest.raises(ExplainError, match="convolution and pooling layers only"):
        explainer.operation_for_layer("Dense")


def test_max_pooling_2d():
    e = explainer.explain_pool(explainer.parse_values("1,3,2,4;5,6,1,2;7,2,3,0;1,2,9,4", 2), 2)
    assert e.output.tolist() == [[6, 4], [7, 9]]
    assert e.windows[0].equation == "out[0,0] = max(1, 3, 5, 6) = 6"
    assert e.kernel is None and e.strides == (2, 2)


def test_max_pooling_never_picks_padding():
    e = explainer.explain_pool([-1, -2, -3], 2, padding=1)
    assert e.output.tolist() == [-1, -2]
    assert e.windows[0].equation == "out[0] = max(-1) = -1"


def test_average_pooling_same_skips_padding_but_explicit_padding_counts_zeros():
    same = explainer.explain_pool([1, 2, 3, 4, 5], 2, padding="same", mode="avg")
    assert same.output.tolist() == [1.5, 3.5, 5]
    assert same.windows[2].equation == "out[2] = (5) / 1 = 5"
    explicit = explainer.explain_pool([1, 2, 3, 4, 5], 2, padding=1, mode="avg")
    assert explicit.output.tolist() == [0.5, 2.5, 4.5]
    assert explicit.warnings == ()


def test_pool_stride_leaves_the_last_position_unused():
    e = explainer.explain("maxpool1d", [1, 3, 2, 4, 5], pool_size=2)
    assert e.warnings == ("Pool 2 with stride 2 on length 5 leaves 1 step unused",)
    assert e.unused.tolist() == [False, False, False, False, True]


def test_pool_padding_as_wide_as_the_window_is_refused():
    with pytest.raises(ExplainError, match=r"Expected padding < pool_size \(2\)"):
        explainer.explain_pool([1, 2, 3], 2, padding=2)


def test_receptive_field_growth_agrees_with_shape_inference():
    from cnnstudio.analysis.analyze import infer
    from cnnstudio.network.spec import NetworkSpec

    layers = [
        LayerSpec("c1", "Conv2D", {"kernel_size": 3, "padding": "same"}),
        LayerSpec("p1", "MaxPool2D", {"pool_size": 2}),
        LayerSpec("c2", "Conv2D", {"kernel_size": 5, "strides": 2, "padding": "same"}),
        LayerSpec("c3", "Conv2D", {"kernel_size": 3, "dilation_rate": 2, "padding": "same"}),
    ]
    summary = infer(NetworkSpec(input_shape=(32, 32, 1), layers=layers))
    rows = explainer.receptive_field_growth(layers)
    for row in rows:
        info = summary.layer(row.name)
        assert row.receptive_field == tuple(info.receptive_field)
        assert row.jump == tuple(info.jump)


def test_unused_warning_matches_shape_inference():
    from cnnstudio.analysis.analyze import infer
    from cnnstudio.network.spec import NetworkSpec

    spec = NetworkSpec(input_shape=(7, 7, 1), layers=[LayerSpec("c", "Conv2D", {"kernel_size": 3, "strides": 3})])
    inferred = [issue.message for issue in infer(spec).warnings()]
    e = explainer.explain_conv(np.zeros((7, 7)), np.ones((3, 3)), strides=3)
    for warning in e.warnings:
        assert any(warning in message for message in inferred)
