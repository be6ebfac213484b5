"""The pure shape arithmetic shared by the layers and the GUI's preview (no Keras needed)."""

import subprocess
import sys

import pytest

from layers.arithmetic import (
    AXIS_NAMES,
    axis_formula,
    axis_output_length,
    axis_padding,
    conv_output_shape,
    effective_kernel_size,
    normalize_padding,
    normalize_tuple,
    pool_output_shape,
)


def test_course_example_32x32x3_ten_5x5_filters_padding_2_keeps_32x32():
    shape = conv_output_shape((None, 32, 32, 3), 10, 5, 1, 1, 2, "Conv2D")
    assert shape == (None, 32, 32, 10)
    assert axis_formula(32, 5, 1, 1, 2) == "floor((32 - 5 + 2*2) / 1) + 1 = 32"


@pytest.mark.parametrize(
    ("stride", "padding", "expected"), [(1, "valid", 5), (2, "valid", 3), (1, 1, 7)]
)
def test_course_example_7x7_input_3x3_filter(stride, padding, expected):
    shape = conv_output_shape((1, 7, 7, 1), 1, 3, stride, 1, padding, "Conv2D")
    assert shape == (1, expected, expected, 1)


def test_same_output_is_ceil_of_length_over_stride_with_formula():
    assert axis_output_length(32, 3, 2, 1, "same") == 16
    assert axis_output_length(7, 3, 2, 1, "same") == 4
    assert axis_formula(32, 3, 2, 1, "same") == "ceil(32 / 2) = 16"


def test_valid_formula_shows_the_dilated_extent():
    assert effective_kernel_size(3, 2) == 5
    assert axis_formula(10, 3, 1, 2, "valid") == "floor((10 - 5) / 1) + 1 = 6"


def test_same_padding_splits_like_tensorflow_with_the_extra_zero_after():
    assert axis_padding(5, 4, 1, 1, "same") == (1, 2)
    assert axis_padding(7, 3, 2, 1, "same") == (1, 1)
    assert axis_padding(8, 3, 2, 1, "same") == (0, 1)
    assert axis_padding(8, 3, 1, 2, "same") == (2, 2)
    assert axis_padding(8, 3, 1, 1, "valid") == (0, 0)
    assert axis_padding(8, 3, 1, 1, 2) == (2, 2)


def test_unknown_lengths_stay_unknown():
    assert axis_padding(None, 3, 1, 1, "same") is None
    assert axis_padding(None, 3, 1, 1, 1) == (1, 1)
    assert axis_output_length(None, 3, 1, 1, "valid") is None
    assert conv_output_shape((None, None, 9, 3), 4, 3, 2, 1, "valid", "Conv2D") == (
        None, None, 4, 4,
    )
    assert pool_output_shape((None, None, 3), 2, None, "same", "MaxPool1D") == (None, None, 3)


def test_output_length_may_be_zero_or_negative_when_the_window_does_not_fit():
    assert axis_output_length(3, 5, 1, 1, "valid") == -1
    assert axis_output_length(4, 5, 1, 1, "valid") == 0


def test_pool_strides_default_to_pool_size():
    assert pool_output_shape((2, 32, 32, 64), 2, None, "valid", "MaxPool2D") == (2, 16, 16, 64)
    assert pool_output_shape((2, 7, 5, 1), (3, 2), 1, 1, "MaxPool2D") == (2, 7, 6, 1)


def test_normalize_tuple_and_padding_accept_ints_lists_and_words():
    assert normalize_tuple(3, 2, "kernel_size", "Conv2D") == (3, 3)
    assert normalize_tuple([3, 1], 2, "kernel_size", "Conv2D") == (3, 1)
    assert normalize_tuple(0, 1, "padding", "Conv1D", minimum=0) == (0,)
    assert normalize_padding("SAME", 2, "Conv2D") == "same"
    assert normalize_padding(1, 2, "Conv2D") == (1, 1)
    assert normalize_padding([0, 2], 2, "Conv2D") == (0, 2)
    assert AXIS_NAMES[2] == ("height", "width")


def test_stride_below_one_is_refused_with_the_fix():
    with pytest.raises(ValueError) as info:
        normalize_tuple(0, 2, "strides", "Conv2D 'c1'")
    assert str(info.value) == (
        "Conv2D 'c1': strides must be at least 1 on every axis. Expected an integer >= 1 or a "
        "tuple of 2 integers >= 1. Received: strides=0"
    )


def test_wrong_number_of_values_names_the_axes():
    with pytest.raises(ValueError, match=r"one value per spatial axis \(height, width\)"):
        normalize_tuple((1, 2, 3), 2, "dilation_rate", "Conv2D")
    with pytest.raises(ValueError, match=r"must hold integers.*Received: kernel_size=\(2.5, 1\)"):
        normalize_tuple((2.5, 1), 2, "kernel_size", "Conv2D")
    with pytest.raises(ValueError, match="must be an integer or a tuple of integers"):
        normalize_tuple(None, 1, "strides", "Conv1D")


def test_negative_or_unknown_padding_is_refused():
    with pytest.raises(ValueError) as info:
        normalize_padding(-1, 2, "MaxPool2D 'p'")
    assert str(info.value) == (
        "MaxPool2D 'p': padding must be a mode or a number of zeros per side that is not "
        'negative. Expected "valid", "same", an integer >= 0 or a tuple of 2 integers >= 0. '
        "Received: padding=-1"
    )
    with pytest.raises(ValueError, match="padding 'full' is not a padding mode"):
        normalize_padding("full", 1, "Conv1D")


def test_dilated_kernel_larger_than_the_padded_input_names_the_axis():
    with pytest.raises(ValueError) as info:
        conv_output_shape((1, 9, 7, 3), 4, 3, 1, 4, "valid", "Conv2D 'c'")
    message = str(info.value)
    assert message.startswith(
        "Conv2D 'c': the dilated kernel of extent 9 exceeds the padded input of 7 on axis width."
    )
    assert "Received: input_shape=(1, 9, 7, 3), kernel_size=(3, 3), dilation_rate=(4, 4)" in message
    with pytest.raises(ValueError, match="extent 5 exceeds the padded input of 4 on axis length"):
        conv_output_shape((1, 2, 3), 4, 5, 1, 1, 1, "Conv1D")
    assert conv_output_shape((1, 2, 3), 4, 5, 1, 1, "same", "Conv1D") == (1, 2, 4)


def test_pool_window_larger_than_the_input_names_the_axis():
    with pytest.raises(ValueError) as info:
        pool_output_shape((1, 2, 5, 3), 3, None, "valid", "MaxPool2D 'p'")
    assert str(info.value).startswith(
        "MaxPool2D 'p': the pool window of 3 exceeds the padded input of 2 on axis height."
    )


def test_pool_padding_must_leave_a_real_cell_in_every_window():
    with pytest.raises(ValueError) as info:
        pool_output_shape((1, 8, 8, 3), 2, None, 2, "MaxPool2D 'p'")
    assert str(info.value) == (
        "MaxPool2D 'p': padding of 2 would make windows of padding only on axis height. "
        "Expected padding < pool_size (2) on every axis. Received: padding=(2, 2), "
        "pool_size=(2, 2)"
    )


def test_filters_and_input_rank_are_checked():
    with pytest.raises(ValueError, match="filters must be a positive integer.*Received: filters=0"):
        conv_output_shape((1, 8, 8, 3), 0, 3, 1, 1, "valid", "Conv2D")
    rank_message = r"takes inputs of rank 4 \(batch, height, width, channels\)"
    with pytest.raises(ValueError, match=rank_message):
        conv_output_shape((8, 8, 3), 2, (3, 3), 1, 1, "valid", "Conv2D")


def test_importing_the_arithmetic_loads_neither_keras_nor_tensorflow():
    code = (
        "import sys, layers.arithmetic; "
        "assert not {'keras', 'tensorflow'} & set(sys.modules), sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
