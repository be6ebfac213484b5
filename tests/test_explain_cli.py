"""``cnnstudio explain``: each window's computation, the output and the size formula."""

import json

import pytest

from cnnstudio.cli import main

COURSE_IMAGE = "1,1,1,0,0;0,1,1,1,0;0,0,1,1,1;0,0,1,1,0;0,1,1,0,0"
COURSE_KERNEL = "1,0,1;0,1,0;1,0,1"


def test_conv1d_prints_each_window(capsys):
    assert main(["explain", "conv1d", "--input", "0,1,0,1,1", "--kernel", "-1,1"]) == 0
    out = capsys.readouterr().out
    assert "out[0] = 0*(-1) + 1*1 = 1" in out
    assert "out[3] = 1*(-1) + 1*1 = 0" in out
    assert "output: 1, -1, 1, 0" in out
    assert "output length: floor((5 - 2) / 1) + 1 = 4" in out


def test_conv1d_json(capsys):
    assert main(["explain", "conv1d", "--input", "0,1,-1,1,1", "--kernel", "-1,1", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["output"] == [1, -2, 2, 0]
    assert data["output_shape"] == [4]


def test_conv2d_course_example_json(capsys):
    assert main(["explain", "conv2d", "--input", COURSE_IMAGE, "--kernel", COURSE_KERNEL, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["output"] == [[4, 3, 4], [2, 4, 3], [2, 3, 4]]
    assert data["output_shape"] == [3, 3]


def test_conv2d_stride_that_leaves_a_column_warns(capsys):
    grid = ";".join(",".join(str(r * 7 + c) for c in range(7)) for r in range(7))
    assert main(["explain", "conv2d", "--input", grid, "--kernel", COURSE_KERNEL, "--stride", "3"]) == 0
    out = capsys.readouterr().out
    assert "output width: floor((7 - 3) / 3) + 1 = 2" in out
    assert "warning: Kernel 3 with stride 3 on width 7 leaves 1 column unused" in out
    assert "[0,6]" in out


def test_padding_and_dilation_options(capsys):
    assert main(["explain", "conv1d", "--input", "1,2,3", "--kernel", "1,1,1", "--padding", "1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["output"] == [3, 6, 5]
    args = ["explain", "conv1d", "--input", "1,2,3,4,5,6", "--kernel", "1,1,1", "--dilation", "2"]
    assert main(args) == 0
    assert "out[1] = 2*1 + 4*1 + 6*1 = 12" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["conv2d", "--input", "1,2;3", "--kernel", "1"], "rows are ragged"),
        (["conv1d", "--input", "0,a", "--kernel", "1"], "'a' in row 1 of the input is not a number"),
        (["conv1d", "--input", "1,2", "--kernel", "1,1,1"], "The kernel does not fit"),
        (["conv1d", "--input", "1,2"], "needs the kernel's weights"),
        (["conv1d", "--input", "1,2", "--kernel", "1", "--stride", "x"], "--stride must be an integer"),
        (["conv1d", "--input", "1,2", "--kernel", "1", "--padding", "full"], '--padding must be "valid"'),
        (["maxpool1d", "--input", "1,2", "--kernel", "1"], "Pooling has no weights"),
        (["conv1d", "--input", "1,2", "--kernel", "1", "--pool-size", "2"], "--pool-size is for pooling"),
        (["conv2d", "--input", "1,2;3,4", "--kernel", "1", "--dilation", "0"],
         "dilation_rate must be at least 1 on every axis. Expected an integer >= 1"),
        (["maxpool1d", "--input", "1,2", "--pool-size", "0"], "pool_size must be at least 1"),
        (["conv1d", "--input", "1,2", "--kernel", "1", "--stride", "0"],
         "strides must be at least 1 on every axis. Expected an integer >= 1 or a tuple of one integer >= 1."),
    ],
)
def test_bad_input_exits_2_with_a_message(capsys, args, message):
    assert main(["explain", *args]) == 2
    captured = capsys.readouterr()
    assert message in captured.err
    assert "Traceback" not in captured.err
    assert captured.out == ""


def test_maxpool2d(capsys):
    grid = "1,3,2,4;5,6,1,2;7,2,3,0;1,2,9,4"
    assert main(["explain", "maxpool2d", "--input", grid, "--pool-size", "2"]) == 0
    out = capsys.readouterr().out
    assert "out[1,1] = max(3, 0, 9, 4) = 9" in out
    assert "output: 6, 4; 7, 9" in out


def test_avgpool1d_with_stride_json(capsys):
    args = ["explain", "avgpool1d", "--input", "1,2,3,4", "--pool-size", "2", "--stride", "1", "--json"]
    assert main(args) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["output"] == [1.5, 2.5, 3.5]
    assert data["windows"][0]["equation"] == "out[0] = (1 + 2) / 2 = 1.5"


def test_maxpool1d_refuses_dilation(capsys):
    assert main(["explain", "maxpool1d", "--input", "1,2", "--dilation", "2"]) == 2
    assert "Pooling windows are not dilated" in capsys.readouterr().err
