"""The transposed-convolution explainer: its numbers against numpy, its matrix against the
convolution's transpose, and the explain command."""

import json

import numpy as np
import pytest

from cnnstudio.cli import main
from cnnstudio.inspection import transposed_explainer as te
from cnnstudio.inspection.explainer import ExplainError


def _numpy_transpose(x, k, stride, dilation, crop, length):
    """Scatter written independently: out[i*S + j*D - crop] += x[i] * k[j], per axis."""
    x, k = np.atleast_2d(x), np.atleast_2d(k)
    stride, dilation, crop, length = (np.broadcast_to(v, 2) if np.ndim(v) == 0 else v
                                      for v in (stride, dilation, crop, length))
    out = np.zeros(length)
    for (a, b), value in np.ndenumerate(x):
        for (p, q), weight in np.ndenumerate(k):
            r, c = a * stride[0] + p * dilation[0] - crop[0], b * stride[1] + q * dilation[1] - crop[1]
            if 0 <= r < length[0] and 0 <= c < length[1]:
                out[r, c] += value * weight
    return out


@pytest.mark.parametrize(("strides", "padding", "output_padding", "dilation"), [
    (1, "valid", None, 1), (2, "valid", None, 1), (2, "same", None, 1), (3, "same", 1, 1),
    ((2, 3), 1, (1, 0), 1), (1, "valid", None, 2), (2, 1, None, 2),
])
def test_two_dimensional_numbers_match_numpy(strides, padding, output_padding, dilation):
    rng = np.random.default_rng(0)
    x, k = rng.integers(-3, 4, size=(3, 4)).astype(float), rng.integers(-2, 3, size=(3, 2)).astype(float)
    e = te.explain_conv_transpose(x, k, strides, padding, output_padding, dilation)
    expected = _numpy_transpose(x, k, np.broadcast_to(strides, 2), np.broadcast_to(dilation, 2), e.crop,
                                e.output.shape)
    np.testing.assert_allclose(e.output, expected, atol=1e-5)
    assert len(e.scatters) == x.size and len(e.sums) == e.output.size
    for scatter in e.scatters:
        np.testing.assert_allclose([p.product for p in scatter.placements], (x[scatter.input_index] * k).ravel())


def test_one_dimensional_copies_and_sums_read_as_on_paper():
    e = te.explain_conv_transpose([1, 2], [1, -1, 3], strides=2)
    assert [s.equation for s in e.scatters] == [
        "x[0] = 1 scatters 1*kernel = [1, -1, 3] into out[0..2]",
        "x[1] = 2 scatters 2*kernel = [2, -2, 6] into out[2..4]",
    ]
    assert e.sums[2] == "out[2] = 1*3 + 2*1 = 5"
    np.testing.assert_array_equal(e.output, [1, -1, 5, -2, 6])
    assert e.formulas == ("(2 - 1)*2 + 1*(3 - 1) + 0 + 1 = 5",)


@pytest.mark.parametrize("padding", ["valid", "same", 1])
@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("output_padding", [None, 0])
def test_the_matrix_is_the_transpose_of_the_convolution_matrix(padding, stride, output_padding):
    kernel = [1.0, -2.0, 3.0]
    matrix = te.conv1d_transpose_matrix(kernel, 5, stride, padding, output_padding)
    np.testing.assert_array_equal(matrix, te.matching_convolution_matrix(kernel, 5, stride, padding,
                                                                         output_padding).T)
    x = np.arange(1.0, 6.0)
    np.testing.assert_allclose(matrix @ x, te.explain_conv_transpose(x, kernel, stride, padding,
                                                                     output_padding).output, atol=1e-5)


def test_bad_settings_are_refused_with_the_fix():
    with pytest.raises(ExplainError, match=r"output_padding must be smaller than the stride on axis length"):
        te.explain_conv_transpose([1, 2], [1, 1], strides=2, output_padding=2)
    with pytest.raises(ExplainError, match=r"Cropping 3 cells from each side leaves no output"):
        te.explain_conv_transpose([1, 2], [1, 1], padding=3)
    with pytest.raises(ExplainError, match=r"Expected a 2D kernel for a 2D input"):
        te.explain_conv_transpose([[1, 2]], [1, 1])


def test_explain_command_prints_the_copies_and_json(capsys):
    assert main(["explain", "conv1dtranspose", "--input", "1,2", "--kernel", "1,-1,3", "--stride", "2"]) == 0
    out = capsys.readouterr().out
    assert "x[1] = 2 scatters 2*kernel = [2, -2, 6] into out[2..4]" in out
    assert "output: 1, -1, 5, -2, 6" in out
    assert main(["explain", "conv2dtranspose", "--input", "1,2;3,4", "--kernel", "1,0;0,1", "--stride", "2",
                 "--padding", "same", "--output-padding", "1", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["output"] == [[1, 0, 2], [0, 1, 0], [3, 0, 4]] and data["output_shape"] == [3, 3]
    assert main(["explain", "conv2d", "--input", "1,2;3,4", "--kernel", "1", "--output-padding", "1"]) == 2
    assert "--output-padding is for transposed convolutions" in capsys.readouterr().err
