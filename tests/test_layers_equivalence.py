"""Our layers against ``keras.layers``: outputs and gradients (input and weights) match.

Hypothesis sweeps batch, sizes from 1 up, channels, kernels, strides (also larger than the
kernel), dilations and every padding form. Explicit padding P is checked against padding
the input by hand and using "valid"; Keras refuses a stride together with a dilation, so
those cases are checked against the stride-1 dilated convolution, subsampled.

Which test reaches which algorithm (see ``layers.conv.conv_algorithm``): the Conv2D sweep
(channels 1-4) reaches the banded matmul over whole rows in about 58% of its cases, over runs
of a row ("segments") in 20%, the taps of all kernel rows in one matmul ("patches",
"patches-strided") in 10%, width taps with one matmul per kernel row ("rows": one kernel row)
in 5% and strided width taps ("rows-strided") in 2% (3,000 draws); the patches sweep (9-12
channels, 2-8 kernel rows at a row stride) takes only "patches" and "patches-strided" and
asserts it (its undilated quarter through the hand-written gradient of ``layers.conv._patches``,
the dilated cases through autodiff), and EDGE_CASES hold patches at stride 1 and more kernel rows than fuse ("rows");
the banded-runs sweeps (1-6 channels, width stride
1, Conv2D and Conv1D) take only "segments" and assert it; the shifted-rows sweep (5-12
channels, kernel rows at stride 1) takes only "shifted" and "shifted-strided" (width taps at a
stride) and asserts it; the
fixed EDGE_CASES assert which algorithm each case takes and hold every one, "matmul"
(1x1) included; the shifted form on sizes known only when the graph runs has its own test
(and the fully convolutional network of test_layers_contract.py takes it twice); the
Winograd sweep (3x3 at stride 1 over 16-36 channels and filters, dilations 1-3, every
padding form, sizes from 1, with the work threshold lowered so that small sizes reach it) takes only "winograd"
and asserts the layer takes it, four EDGE_CASES reach it at its real threshold, and a
half-precision or small layer keeps a direct form. The Conv1D Winograd sweep (kernels 5 and 7,
16-24 channels and filters, lengths from 1, every padding form) takes only "winograd-1d" and
asserts the layer takes it; a Conv2D with a (1, 5) kernel takes it per row. Row taps at a stride and at a dilation (layers.windows.axis_taps'
folded and plain slices) come with every strided or dilated case. The pooling sweeps reach
max pooling's blocks form (windows that do not overlap, and at strides of 2 or more windows
up to twice the stride: the one-pass gradient) and the per-axis overlapping reduction;
test_max_pool_blocks_match_keras takes only overlapping windows in the blocks form and
asserts it (test_max_pool_form_edges names the rule's edges), one test runs that form on
lengths known only when the graph runs, test_max_pool_cut_blocks_match_keras takes the
blocks whose last windows are cut instead of padded (asserting it), and the tie tests check
both forms against Keras' first-maximum rule.
"""

from unittest import mock

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from keras import ops

import layers
from layers import pooling, winograd
from layers.arithmetic import axis_padding
from layers.conv import MAX_FUSED_ROWS, conv_algorithm
from layers.pooling import max_pool_form
from layers.windows import window_geometry
from layers.winograd import OUTPUTS_PER_TILE_1D, _toom_cook, convolve_winograd, convolve_winograd_1d

SWEEP = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
RTOL = 1e-5


def _assert_close(ours, reference):
    reference = np.asarray(reference)
    atol = 1e-5 * max(1.0, float(np.abs(reference).max(initial=0.0)))
    np.testing.assert_allclose(np.asarray(ours), reference, rtol=RTOL, atol=atol)


def _forward_and_gradients(forward, x, variables, seed):
    """The output and d(sum(output * r))/d(x, *variables) for a fixed random r."""
    x = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = forward(x)
        r = np.random.default_rng(seed).normal(size=out.shape).astype("float32")
        loss = tf.reduce_sum(out * r)
    grads = tape.gradient(loss, [x, *variables])
    return out.numpy(), [g.numpy() for g in grads]


def _same_pads(length, kernel, stride, dilation):
    """TensorFlow's "same" zeros (before, after), computed here independently of the layers."""
    out = -(-length // stride)
    total = max((out - 1) * stride + dilation * (kernel - 1) + 1 - length, 0)
    return total // 2, total - total // 2


def _conv_case(draw, *, batches=2, paddings=2, **geometry):
    """A convolution case of the given geometry (lengths, channels, filters, kernel, strides,
    dilation), with its batch, padding, bias or not, and weights' seed drawn as every sweep does."""
    return {
        "batch": draw(st.integers(1, batches)),
        **geometry,
        "padding": draw(st.one_of(st.sampled_from(["valid", "same"]), st.integers(0, paddings))),
        "use_bias": draw(st.booleans()),
        "seed": draw(st.integers(0, 2**16)),
    }


@st.composite
def conv_cases(draw, rank):
    lengths = tuple(draw(st.integers(1, 9)) for _ in range(rank))
    return _conv_case(
        draw,
        lengths=lengths,
        channels=draw(st.integers(1, 4)),
        filters=draw(st.integers(1, 4)),
        kernel=tuple(draw(st.integers(1, 4)) for _ in range(rank)),
        strides=tuple(draw(st.integers(1, 4)) for _ in range(rank)),
        dilation=tuple(draw(st.integers(1, 3)) for _ in range(rank)),
        batches=3,
        paddings=3,
    )


def _fits(case):
    if case["padding"] == "same":
        return True
    pad = 0 if case["padding"] == "valid" else case["padding"]
    return all(
        d * (k - 1) + 1 <= n + 2 * pad
        for n, k, d in zip(case["lengths"], case["kernel"], case["dilation"], strict=True)
    )


def _check_conv(case, rank):
    ours_class = layers.Conv1D if rank == 1 else layers.Conv2D
    keras_class = keras.layers.Conv1D if rank == 1 else keras.layers.Conv2D
    rng = np.random.default_rng(case["seed"])
    shape = (case["batch"], *case["lengths"], case["channels"])
    x = rng.normal(size=shape).astype("float32")
    ours = ours_class(
        case["filters"], case["kernel"], strides=case["strides"], padding=case["padding"],
        dilation_rate=case["dilation"], use_bias=case["use_bias"],
        bias_initializer="random_normal",
    )
    if not _fits(case):
        message = "dilated kernel of extent .* exceeds the padded input"
        with pytest.raises(ValueError, match=message):
            ours.build(shape)
        return
    strided = any(s > 1 for s in case["strides"])
    if isinstance(case["padding"], str) and not strided:
        reference = keras_class(
            case["filters"], case["kernel"], strides=case["strides"], padding=case["padding"],
            dilation_rate=case["dilation"], use_bias=case["use_bias"],
        )
        pads = None
    else:
        reference = keras_class(
            case["filters"], case["kernel"],
            strides=1,
            padding="valid", dilation_rate=case["dilation"], use_bias=case["use_bias"],
        )
        explicit = 0 if case["padding"] == "valid" else case["padding"]
        pads = [
            _same_pads(n, k, s, d) if case["padding"] == "same" else (explicit, explicit)
            for n, k, s, d in zip(
                case["lengths"], case["kernel"], case["strides"], case["dilation"], strict=True
            )
        ]
    ours.build(shape)
    if pads is None:
        reference.build(shape)
    else:
        padded = [n + b + a for n, (b, a) in zip(case["lengths"], pads, strict=True)]
        reference.build((case["batch"], *padded, case["channels"]))
    reference.set_weights(ours.get_weights())

    def reference_forward(t):
        if pads is not None:
            t = tf.pad(t, [(0, 0), *pads, (0, 0)])
        out = reference(t)
        if strided:
            index = (slice(None), *(slice(None, None, s) for s in case["strides"]), slice(None))
            out = out[index]
        return out

    expected, expected_grads = _forward_and_gradients(
        reference_forward, x, reference.trainable_variables, case["seed"]
    )
    got, got_grads = _forward_and_gradients(ours, x, ours.trainable_variables, case["seed"])
    assert got.shape == ours.compute_output_shape(shape)
    _assert_close(got, expected)
    for g, e in zip(got_grads, expected_grads, strict=True):
        _assert_close(g, e)


@SWEEP
@given(conv_cases(rank=2))
def test_conv2d_matches_keras_forward_and_gradients(case):
    _check_conv(case, rank=2)


@SWEEP
@given(conv_cases(rank=1))
def test_conv1d_matches_keras_forward_and_gradients(case):
    _check_conv(case, rank=1)


@st.composite
def shifted_cases(draw):
    """Kernel rows at stride 1 over more channels than the banded form takes (it stops at 8),
    with no more filters than the width taps have channels: the "shifted" forms."""
    kernel = (draw(st.integers(2, 4)), draw(st.integers(1, 3)))
    channels = draw(st.integers(9, 12))
    return _conv_case(
        draw,
        lengths=(draw(st.integers(2, 9)), draw(st.integers(1, 9))),
        channels=channels,
        filters=draw(st.integers(1, min(16, kernel[1] * channels))),
        kernel=kernel,
        strides=(1, draw(st.integers(1, 3))),
        dilation=(draw(st.integers(1, 2)), draw(st.integers(1, 2))),
    )


def _algorithm(case):
    """The form a case's layer takes; a Conv1D case is Conv2D on a height of 1, unpadded."""
    pads = [
        axis_padding(n, k, s, d, case["padding"])
        for n, k, s, d in zip(
            case["lengths"], case["kernel"], case["strides"], case["dilation"], strict=True
        )
    ]
    geometry = [case["lengths"], case["kernel"], case["strides"], case["dilation"], pads]
    if len(case["lengths"]) == 1:
        geometry = [(1, *values) for values in geometry[:-1]] + [[(0, 0), *pads]]
    return conv_algorithm(case["channels"], case["filters"], *geometry)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shifted_cases())
def test_conv2d_shifted_rows_match_keras(case):
    if _fits(case):
        assert _algorithm(case).startswith("shifted")
    _check_conv(case, rank=2)


@st.composite
def patches_cases(draw):
    """Two to ``MAX_FUSED_ROWS`` kernel rows at a row stride over more channels than the banded
    forms take: the "patches" forms (the width taps at a stride too, and dilated)."""
    return _conv_case(
        draw,
        lengths=(draw(st.integers(2, 16)), draw(st.integers(1, 9))),
        channels=draw(st.integers(9, 12)),
        filters=draw(st.integers(1, 16)),
        kernel=(draw(st.integers(2, MAX_FUSED_ROWS)), draw(st.integers(1, 3))),
        strides=(draw(st.integers(2, 4)), draw(st.integers(1, 3))),
        dilation=(draw(st.integers(1, 2)), draw(st.integers(1, 2))),
    )


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(patches_cases())
def test_conv2d_patches_match_keras(case):
    if _fits(case):
        assert _algorithm(case).startswith("patches")
    _check_conv(case, rank=2)


@st.composite
def segment_cases(draw, rank):
    """Few input channels at width stride 1: a banded matrix over runs of each row, full and
    partial runs, runs shorter than the kernel's reach, dilated widths and row strides."""
    width_kernel = draw(st.integers(2, 5))
    height = (draw(st.integers(1, 6)),) if rank == 2 else ()
    height_kernel = (draw(st.integers(1, 3)),) if rank == 2 else ()
    return _conv_case(
        draw,
        lengths=(*height, draw(st.integers(2, 20))),
        channels=draw(st.integers(1, 6)),
        filters=draw(st.integers(1, 8)),
        kernel=(*height_kernel, width_kernel),
        strides=((draw(st.integers(1, 2)),) if rank == 2 else ()) + (1,),
        dilation=((draw(st.integers(1, 2)),) if rank == 2 else ()) + (draw(st.integers(1, 3)),),
    )


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(segment_cases(rank=2))
def test_conv2d_banded_runs_match_keras(case):
    if _fits(case):
        assert _algorithm(case) == "segments"
    _check_conv(case, rank=2)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(segment_cases(rank=1))
def test_conv1d_banded_runs_match_keras(case):
    if _fits(case):
        assert _algorithm(case) == "segments"
    _check_conv(case, rank=1)


@st.composite
def winograd_cases(draw):
    """3x3 kernels at stride 1 over enough channels and filters for F(4x4, 3x3): sizes from one
    pixel (a single, mostly padded tile) to several tiles, and not multiples of the tile;
    dilated too (then each phase of the input is convolved on its own)."""
    return _conv_case(
        draw,
        lengths=(draw(st.integers(1, 13)), draw(st.integers(1, 13))),
        channels=draw(st.integers(16, 36)),
        filters=draw(st.integers(16, 36)),
        kernel=(3, 3),
        strides=(1, 1),
        dilation=(draw(st.integers(1, 3)), draw(st.integers(1, 2))),
    )


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(winograd_cases())
def test_conv2d_winograd_matches_keras(case):
    with mock.patch("layers.winograd.MIN_WORK", 1), \
            mock.patch("layers.winograd.convolve_winograd", wraps=convolve_winograd) as taken:
        if _fits(case):
            assert _algorithm(case) == "winograd"
        _check_conv(case, rank=2)
    assert taken.called == _fits(case)  # the layer itself took the form, not only the rule


@st.composite
def winograd_1d_cases(draw):
    """Conv1D kernels of 5 and 7 at stride 1 over enough channels and filters for F(4, 5) and
    F(2, 7): lengths from one cell (a single, mostly padded tile) to several tiles."""
    return _conv_case(
        draw,
        lengths=(draw(st.integers(1, 30)),),
        channels=draw(st.integers(16, 24)),
        filters=draw(st.integers(16, 24)),
        kernel=(draw(st.sampled_from(sorted(OUTPUTS_PER_TILE_1D))),),
        strides=(1,),
        dilation=(1,),
        paddings=3,
    )


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(winograd_1d_cases())
def test_conv1d_winograd_matches_keras(case):
    with mock.patch("layers.conv.convolve_winograd_1d", wraps=convolve_winograd_1d) as taken:
        if _fits(case):
            assert _algorithm(case) == "winograd-1d"
        _check_conv(case, rank=1)
    assert taken.called == _fits(case)


@pytest.mark.parametrize(("outputs", "taps"), [(m, r) for r, m in OUTPUTS_PER_TILE_1D.items()])
def test_toom_cook_matrices_give_the_correlation(outputs, taps):
    """A^T ((G g) * (B^T d)) is each output's sum over the taps, in float64 to round-off."""
    at, g = _toom_cook(outputs, taps)
    rng = np.random.default_rng(taps)
    d, kernel = rng.normal(size=(100, 8)), rng.normal(size=(100, taps))
    got = ((kernel @ g.T) * (d @ winograd._BT8.T)) @ at.T
    expected = np.stack([np.sum(d[:, i:i + taps] * kernel, axis=1) for i in range(outputs)], axis=1)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10)


def test_winograd_1d_is_for_undilated_float32_kernels_of_5_and_7_only():
    """Kernel 3 and few channels only tied with the direct forms; strides and dilations have
    no tiles of neighbouring outputs; a Conv2D with a (1, k) kernel takes it per row unless its
    height is padded."""
    def algorithm(channels, filters, kernel, stride=1, dilation=1, dtype="float32", height=1,
                  pad=(0, 0)):
        pads = [pad, axis_padding(40, kernel, stride, dilation, "same")]
        return conv_algorithm(channels, filters, (height, 40), (1, kernel), (1, stride),
                              (1, dilation), pads, dtype=dtype)
    assert algorithm(16, 16, 5) == "winograd-1d"
    assert algorithm(32, 64, 7) == "winograd-1d"
    assert algorithm(16, 16, 5, height=3) == "winograd-1d"
    assert algorithm(16, 16, 5, height=3, pad=(1, 1)) == "rows"
    assert algorithm(32, 64, 3) == "rows"
    assert algorithm(8, 64, 5) == "rows"
    assert algorithm(32, 64, 5, stride=2) == "rows-strided"
    assert algorithm(32, 64, 5, dilation=2) == "rows"
    assert algorithm(32, 64, 5, dtype="float16") == "rows"


def test_conv2d_with_a_row_kernel_takes_winograd_1d_per_row_and_matches_keras():
    case = {
        "batch": 2, "lengths": (3, 21), "channels": 16, "filters": 20, "kernel": (1, 5),
        "strides": (1, 1), "dilation": (1, 1), "padding": "same", "use_bias": True, "seed": 4,
    }
    with mock.patch("layers.conv.convolve_winograd_1d", wraps=convolve_winograd_1d) as taken:
        _check_conv(case, rank=2)
    assert taken.called


def test_winograd_is_for_float32_and_enough_work_only():
    """Its transforms lose more round-off than the direct sum: half precision keeps a direct
    form (patches here: more filters than channels); so do few channels (the products do not
    dominate), small images (compiling costs more than the steps gain) and large images with
    fewer filters than channels of a harmonic mean of 32 or less (the transforms' copies cost
    more)."""
    shape = ((32, 32), (3, 3), (1, 1), (1, 1), [(1, 1), (1, 1)])
    assert conv_algorithm(32, 64, *shape) == "winograd"
    assert conv_algorithm(32, 64, *shape, dtype="float16") == "patches"
    assert conv_algorithm(32, 64, *shape, dtype="bfloat16") == "patches"
    assert conv_algorithm(32, 32, *shape, dtype="float16") == "shifted"
    assert conv_algorithm(8, 64, *shape) == "patches"
    for channels, filters in ((16, 16), (24, 24), (16, 32), (32, 32)):  # no fewer filters
        assert conv_algorithm(channels, filters, *shape) == "winograd"
    for channels, filters in ((32, 16), (24, 16), (48, 24)):  # fewer, a mean of 32 or less
        assert conv_algorithm(channels, filters, *shape) == "shifted"
    assert conv_algorithm(64, 32, *shape) == "winograd"  # fewer, a harmonic mean of 42.7
    assert conv_algorithm(48, 48, *shape) == "winograd"
    assert conv_algorithm(32, 40, *shape) == "winograd"  # a harmonic mean of 35.6
    assert conv_algorithm(16, 32, (16, 16), (3, 3), (1, 1), (1, 1), [(1, 1), (1, 1)]) == "winograd"
    assert conv_algorithm(32, 32, (16, 16), (3, 3), (1, 1), (1, 1), [(1, 1), (1, 1)]) == "winograd"
    assert conv_algorithm(32, 16, (16, 16), (3, 3), (1, 1), (1, 1), [(1, 1), (1, 1)]) == "winograd"
    assert conv_algorithm(32, 16, (17, 16), (3, 3), (1, 1), (1, 1), [(1, 1), (1, 1)]) == "shifted"  # a row past 16x16
    assert conv_algorithm(64, 64, (64, 64), (3, 3), (1, 1), (1, 1), [(1, 1), (1, 1)]) == "winograd"
    assert conv_algorithm(32, 64, (8, 8), (3, 3), (1, 1), (1, 1), [(0, 0), (0, 0)]) == "patches"  # digits
    assert conv_algorithm(32, 64, (8, 8), (3, 3), (1, 1), (1, 1), [(1, 1), (1, 1)]) == "winograd"
    assert conv_algorithm(32, 32, (10, 10), (3, 3), (1, 1), (1, 1), [(1, 1), (1, 1)]) == "shifted"
    assert conv_algorithm(64, 64, (16, 16), (3, 3), (1, 1), (1, 1), [(1, 1), (1, 1)]) == "winograd"


@pytest.mark.parametrize(
    ("make", "shape", "target", "form"),
    [
        (lambda: layers.Conv2D(48, 3, padding="same"), (1, 32, 31, 32),
         "layers.winograd.convolve_winograd", convolve_winograd),
        (lambda: layers.Conv1D(16, 5, padding="same"), (2, 30, 16),
         "layers.conv.convolve_winograd_1d", convolve_winograd_1d),
    ],
)
def test_direct_sums_keep_a_quantized_export_off_winograd(make, shape, target, form):
    """Inside ``direct_sums`` (quantized exports) the layer takes the direct form, and after it
    Winograd again; both give the same outputs."""
    layer = make()
    x = np.random.default_rng(3).normal(size=shape).astype("float32")
    layer.build(x.shape)
    with mock.patch(target, wraps=form) as taken:
        with winograd.direct_sums():
            direct = np.asarray(layer(x))
        assert not taken.called
        _assert_close(np.asarray(layer(x)), direct)
        assert taken.call_count == 1


def test_grouped_and_channels_first_convolutions_take_winograd_per_group_and_match_keras():
    """Each group of 32 channels is its own Winograd convolution; channels_first is transposed
    to channels_last around it."""
    x = np.random.default_rng(5).normal(size=(2, 16, 15, 64)).astype("float32")
    for data_format in ("channels_last", "channels_first"):
        xin = x if data_format == "channels_last" else np.moveaxis(x, -1, 1)
        ours = layers.Conv2D(64, 3, padding="same", groups=2, data_format=data_format)
        ours.build(xin.shape)
        reference = keras.layers.Conv2D(64, 3, padding="same", groups=2)
        reference.build(x.shape)
        reference.set_weights(ours.get_weights())

        def forward(t, layer=ours, data_format=data_format):
            if data_format == "channels_first":
                return tf.transpose(layer(tf.transpose(t, (0, 3, 1, 2))), (0, 2, 3, 1))
            return layer(t)

        with mock.patch("layers.winograd.convolve_winograd", wraps=convolve_winograd) as taken:
            got, got_grads = _forward_and_gradients(forward, x, ours.trainable_variables, 5)
        assert taken.call_count == 2
        expected, expected_grads = _forward_and_gradients(reference, x, reference.trainable_variables, 5)
        _assert_close(got, expected)
        for g, e in zip(got_grads, expected_grads, strict=True):
            _assert_close(g, e)


EDGE_CASES = [
    # lengths, channels, filters, kernel, strides, dilation, padding, the algorithm conv.py picks
    ((7, 7), 3, 2, (7, 7), (1, 1), (1, 1), "valid", "segments"),  # kernel == input: one run
    ((6, 5), 3, 2, (3, 3), (2, 2), (1, 1), "same", "banded"),  # even and odd sizes
    ((8, 8), 3, 2, (3, 3), (2, 2), (2, 2), "same", "banded"),  # dilation with stride
    ((9, 9), 3, 2, (2, 2), (5, 5), (1, 1), 1, "patches-strided"),  # stride larger than the kernel
    ((1, 1), 3, 2, (1, 1), (1, 1), (1, 1), "valid", "matmul"),  # single pixel
    ((5, 5), 3, 2, (1, 1), (1, 1), (1, 1), "valid", "matmul"),  # 1x1 convolution as a matmul
    ((7, 7), 3, 2, (3, 3), (1, 1), (1, 1), 2, "segments"),  # padding larger than half the kernel
    ((12, 12), 1, 2, (5, 5), (2, 3), (1, 2), 1, "banded"),  # one channel: the banded matmul
    ((4, 70), 1, 2, (3, 3), (1, 2), (1, 1), "same", "shifted-strided"),  # one channel, wide rows
    ((4, 70), 1, 4, (3, 3), (1, 2), (1, 1), "same", "patches-strided"),  # more filters than taps
    ((10, 14), 6, 2, (5, 5), (1, 1), (1, 1), "valid", "segments"),  # LeNet-5's second layer
    ((6, 6), 8, 4, (3, 3), (1, 1), (1, 1), "same", "banded"),  # 8 channels, short rows: one band
    ((5, 13), 3, 4, (3, 3), (1, 1), (1, 1), "same", "segments"),  # a last, partial run
    ((4, 6), 2, 3, (2, 5), (1, 1), (1, 1), "valid", "segments"),  # runs shorter than the reach
    ((6, 11), 2, 3, (3, 3), (1, 1), (1, 2), "same", "segments"),  # dilated width
    ((5, 40), 3, 2, (3, 3), (2, 1), (1, 2), 1, "segments"),  # long rows, row stride, dilated
    ((9, 12), 16, 2, (3, 3), (2, 2), (1, 1), "same", "patches-strided"),  # VGG/ResNet's stride 2
    ((9, 12), 16, 4, (3, 3), (2, 1), (1, 1), "same", "patches"),  # a row stride only
    ((11, 11), 16, 4, (3, 3), (2, 2), (2, 2), "valid", "patches"),  # strided and dilated
    ((20, 20), 3, 4, (9, 3), (2, 2), (1, 1), "valid", "rows-strided"),  # more rows than fuse
    ((8, 8), 16, 2, (3, 3), (1, 1), (2, 2), "same", "shifted"),  # dilated, many channels
    ((8, 8), 16, 64, (3, 3), (1, 1), (2, 2), "same", "patches"),  # more filters than taps
    ((10, 10), 16, 16, (3, 3), (1, 1), (1, 1), "same", "shifted"),  # VGG/ResNet's 3x3
    ((16, 16), 32, 32, (3, 3), (1, 1), (1, 1), "same", "winograd"),  # the same, 32 channels
    ((32, 32), 32, 32, (3, 3), (1, 1), (1, 1), "same", "winograd"),  # a large image, as many filters
    ((32, 32), 32, 16, (3, 3), (1, 1), (1, 1), "same", "shifted"),  # fewer filters: needs more
    ((32, 27), 32, 40, (3, 3), (1, 1), (1, 1), 1, "winograd"),  # explicit padding, partial tiles
    ((10, 10), 32, 32, (3, 3), (1, 1), (1, 1), "same", "shifted"),  # too small for Winograd
    ((8, 8), 32, 48, (5, 5), (1, 1), (1, 1), "same", "patches"),  # more filters than channels
    ((8, 8), 16, 48, (5, 5), (1, 1), (1, 1), "same", "shifted"),  # the same, fewer channels
    ((33, 30), 32, 48, (3, 3), (1, 1), (2, 3), "same", "winograd"),  # dilated: phases apart
    ((9, 10), 12, 8, (3, 3), (1, 2), (1, 1), "valid", "shifted-strided"),  # width stride only
    ((6, 30), 3, 32, (3, 3), (1, 1), (1, 1), "same", "segments"),  # a VGG's first layer (RGB)
    ((5, 30), 7, 32, (3, 3), (1, 1), (1, 1), "same", "patches"),  # more filters than taps
    ((9, 9), 16, 64, (9, 1), (1, 1), (1, 1), "same", "rows"),  # more kernel rows than fuse
]


@pytest.mark.parametrize(
    ("lengths", "channels", "filters", "kernel", "strides", "dilation", "padding", "algorithm"),
    EDGE_CASES,
)
def test_conv2d_fixed_edge_cases_match(
    lengths, channels, filters, kernel, strides, dilation, padding, algorithm
):
    case = {
        "batch": 2, "lengths": lengths, "channels": channels, "filters": filters,
        "kernel": kernel, "strides": strides, "dilation": dilation, "padding": padding,
        "use_bias": True, "seed": 7,
    }
    assert _algorithm(case) == algorithm
    _check_conv(case, rank=2)


def test_shifted_rows_on_sizes_known_only_when_the_graph_runs_match_keras():
    ours = layers.Conv2D(16, 3, padding="same", dilation_rate=(2, 1))
    reference = keras.layers.Conv2D(16, 3, padding="same", dilation_rate=(2, 1))
    ours.build((None, None, None, 8))
    reference.build((None, None, None, 8))
    reference.set_weights(ours.get_weights())
    any_size = tf.function(ours, input_signature=[tf.TensorSpec((None, None, None, 8))])
    unknown = (tf.constant(7), tf.constant(9))  # lengths as the traced graph has them
    assert conv_algorithm(8, 16, unknown, (3, 3), (1, 1), (2, 1), [(2, 2), (1, 1)]) == "shifted"
    for seed, shape in enumerate([(2, 7, 9, 8), (1, 12, 5, 8)]):
        x = np.random.default_rng(seed).normal(size=shape).astype("float32")
        expected, expected_grads = _forward_and_gradients(
            reference, x, reference.trainable_variables, seed
        )
        got, got_grads = _forward_and_gradients(any_size, x, ours.trainable_variables, seed)
        _assert_close(got, expected)
        for g, e in zip(got_grads, expected_grads, strict=True):
            _assert_close(g, e)


@pytest.mark.parametrize(("kernel", "channels", "algorithm"), [((1, 1), 8, "matmul"), ((1, 5), 16, "winograd-1d")])
def test_same_kernels_without_padding_on_sizes_known_only_when_the_graph_runs(kernel, channels, algorithm):
    """At stride 1 "same" pads kernel - 1 whatever the length, so a 1x1 or 1xk kernel needs no
    height padding even when the height is a tensor: the forms that need none apply (comparing
    tensor pads with zeros used to fail the trace)."""
    ours = layers.Conv2D(16, kernel, padding="same")
    reference = keras.layers.Conv2D(16, kernel, padding="same")
    ours.build((None, None, None, channels))
    reference.build((None, None, None, channels))
    reference.set_weights(ours.get_weights())
    signature = [tf.TensorSpec((None, None, 21, channels))]
    any_height = tf.function(ours, input_signature=signature)
    traced = {}

    @tf.function(input_signature=signature)
    def geometry(x):
        traced["pads"], _ = window_geometry(x, kernel, (1, 1), (1, 1), "same")
        traced["height"] = ops.shape(x)[1]
        return x

    geometry.get_concrete_function()
    assert not isinstance(traced["height"], int)  # the height is a tensor there, the pads not
    assert all(isinstance(p, int) for pair in traced["pads"] for p in pair)
    spatial = (traced["height"], 21)
    assert conv_algorithm(channels, 16, spatial, kernel, (1, 1), (1, 1), traced["pads"]) == algorithm
    for seed, shape in enumerate([(2, 7, 21, channels), (1, 3, 21, channels)]):
        x = np.random.default_rng(seed).normal(size=shape).astype("float32")
        expected, expected_grads = _forward_and_gradients(reference, x, reference.trainable_variables, seed)
        got, got_grads = _forward_and_gradients(any_height, x, ours.trainable_variables, seed)
        _assert_close(got, expected)
        for g, e in zip(got_grads, expected_grads, strict=True):
            _assert_close(g, e)


def test_strided_conv_matches_keras_strided_conv_directly():
    x = np.random.default_rng(2).normal(size=(2, 9, 8, 3)).astype("float32")
    ours = layers.Conv2D(4, 3, strides=2, padding="same")
    reference = keras.layers.Conv2D(4, 3, strides=2, padding="same")
    ours.build(x.shape)
    reference.build(x.shape)
    reference.set_weights(ours.get_weights())
    expected, expected_grads = _forward_and_gradients(
        reference, x, reference.trainable_variables, 2
    )
    got, got_grads = _forward_and_gradients(ours, x, ours.trainable_variables, 2)
    _assert_close(got, expected)
    for g, e in zip(got_grads, expected_grads, strict=True):
        _assert_close(g, e)


def test_stride_wider_than_the_input_matches_numpy():
    """Found by the sweep: oneDNN's Conv2D gives zeros for the second row here; we do not."""
    x = np.random.default_rng(0).normal(size=(2, 2, 2, 1)).astype("float32")
    conv = layers.Conv2D(1, (1, 2), strides=(1, 3), use_bias=False)
    out = np.asarray(conv(x))
    kernel = conv.get_weights()[0][0, :, 0, 0]
    expected = x[:, :, 0, 0] * kernel[0] + x[:, :, 1, 0] * kernel[1]
    np.testing.assert_allclose(out[:, :, 0, 0], expected, rtol=1e-5, atol=1e-6)


@st.composite
def pool_cases(draw, rank):
    pool = tuple(draw(st.integers(1, 4)) for _ in range(rank))
    return {
        "batch": draw(st.integers(1, 3)),
        "lengths": tuple(draw(st.integers(1, 9)) for _ in range(rank)),
        "channels": draw(st.integers(1, 3)),
        "pool": pool,
        "strides": draw(st.one_of(st.none(), st.tuples(*[st.integers(1, 5)] * rank))),
        "padding": draw(
            st.one_of(st.sampled_from(["valid", "same"]), st.integers(0, min(pool) - 1))
        ),
        "seed": draw(st.integers(0, 2**16)),
    }


POOLS = {
    ("max", 1): (layers.MaxPool1D, keras.layers.MaxPooling1D),
    ("max", 2): (layers.MaxPool2D, keras.layers.MaxPooling2D),
    ("avg", 1): (layers.AvgPool1D, keras.layers.AveragePooling1D),
    ("avg", 2): (layers.AvgPool2D, keras.layers.AveragePooling2D),
}


def _check_pool(case, kind, rank):
    ours_class, keras_class = POOLS[(kind, rank)]
    shape = (case["batch"], *case["lengths"], case["channels"])
    x = np.random.default_rng(case["seed"]).normal(size=shape).astype("float32")
    ours = ours_class(case["pool"], strides=case["strides"], padding=case["padding"])
    pad = case["padding"]
    if pad != "same" and any(
        p > n + 2 * (0 if pad == "valid" else pad)
        for p, n in zip(case["pool"], case["lengths"], strict=True)
    ):
        with pytest.raises(ValueError, match="pool window of .* exceeds the padded input"):
            ours.compute_output_shape(shape)  # pools hold no weights: built at construction
        with pytest.raises(ValueError, match="pool window of .* exceeds the padded input"):
            ours(x)
        return
    explicit = not isinstance(pad, str)
    reference = keras_class(
        case["pool"], strides=case["strides"], padding="valid" if explicit else pad
    )
    fill = float("-inf") if kind == "max" else 0.0

    def reference_forward(t):
        if explicit:
            t = tf.pad(t, [(0, 0), *[(pad, pad)] * rank, (0, 0)], constant_values=fill)
        return reference(t)

    expected, (expected_grad,) = _forward_and_gradients(reference_forward, x, [], case["seed"])
    got, (got_grad,) = _forward_and_gradients(ours, x, [], case["seed"])
    assert got.shape == ours.compute_output_shape(shape)
    assert np.isfinite(got).all()
    _assert_close(got, expected)
    _assert_close(got_grad, expected_grad)


@SWEEP
@given(pool_cases(rank=2), st.sampled_from(["max", "avg"]))
def test_pool2d_matches_keras_forward_and_gradients(case, kind):
    _check_pool(case, kind, rank=2)


@SWEEP
@given(pool_cases(rank=1), st.sampled_from(["max", "avg"]))
def test_pool1d_matches_keras_forward_and_gradients(case, kind):
    _check_pool(case, kind, rank=1)


@st.composite
def blocks_pool_cases(draw):
    """Overlapping max pooling at strides of 2 or more, windows up to twice the stride."""
    strides = tuple(draw(st.integers(2, 4)) for _ in range(2))
    pool = tuple(draw(st.integers(s + 1, 2 * s)) if draw(st.booleans()) else draw(st.integers(1, s))
                 for s in strides)
    return {
        "batch": draw(st.integers(1, 3)),
        "lengths": tuple(draw(st.integers(max(pool), 13)) for _ in range(2)),
        "channels": draw(st.integers(1, 3)),
        "pool": pool,
        "strides": strides,
        "padding": draw(st.one_of(st.sampled_from(["valid", "same"]), st.integers(0, min(pool) - 1))),
        "seed": draw(st.integers(0, 2**16)),
    }


@SWEEP
@given(blocks_pool_cases())
def test_max_pool_blocks_match_keras(case):
    """The blocks form on windows that overlap (some axis longer than its stride): forward
    and input gradient equal Keras' with every padding form, rows and columns of blocks."""
    assert max_pool_form(case["pool"], case["strides"]) == "blocks"
    _check_pool(case, "max", rank=2)


@pytest.mark.parametrize(
    ("pool_size", "strides", "form"),
    [
        ((2, 2), (2, 2), "blocks"),
        ((2, 2), (3, 3), "blocks"),
        ((3, 3), (2, 2), "blocks"),
        ((5, 5), (3, 3), "blocks"),
        ((3, 2), (2, 3), "blocks"),
        ((1, 3), (1, 2), "per-axis"),  # Conv1D-style: a stride-1 axis
        ((2, 2), (1, 1), "per-axis"),
        ((3, 1), (2, 1), "per-axis"),
        ((5, 5), (2, 2), "per-axis"),
    ],
)
def test_max_pool_form_edges(pool_size, strides, form):
    assert max_pool_form(pool_size, strides) == form


def test_max_pool_blocks_on_sizes_known_only_when_the_graph_runs():
    """3x3/2 "same" traced for any batch, height and width (the lengths are tensors there),
    then run on two sizes, one of them odd: the dropped row per image must not leak."""
    ours = layers.MaxPool2D(3, strides=2, padding="same")
    reference = keras.layers.MaxPooling2D(3, strides=2, padding="same")
    any_size = tf.function(ours, input_signature=[tf.TensorSpec((None, None, None, 2))])
    for shape in [(3, 8, 10, 2), (2, 7, 9, 2)]:
        x = np.random.default_rng(sum(shape)).normal(size=shape).astype("float32")
        expected, (expected_grad,) = _forward_and_gradients(reference, x, [], 3)
        got, (got_grad,) = _forward_and_gradients(any_size, x, [], 3)
        _assert_close(got, expected)
        _assert_close(got_grad, expected_grad)


@pytest.mark.parametrize(
    ("pool_size", "strides", "padding", "shape"),
    [
        ((3, 3), (2, 2), "same", (3, 8, 10, 2)),  # ResNet's pool: windows, last row, column, corner
        ((3, 3), (2, 2), "same", (2, 2, 2, 3)),  # one output: the corner alone
        ((3, 3), (2, 2), "same", (1, 2, 8, 1)),  # one output row: last row and corner
        ((3, 2), (2, 2), "same", (2, 6, 8, 2)),  # cut rows, whole columns
        ((3, 3), (2, 3), "same", (2, 8, 9, 2)),
        ((5, 5), (4, 4), "same", (2, 8, 12, 1)),
        ((2, 2), (2, 2), "valid", (2, 6, 6, 2)),  # nothing to cut: the input's own blocks
        ((2, 3), (2, 3), 0, (2, 4, 6, 2)),
    ],
)
@pytest.mark.parametrize("ties", [False, True])
def test_max_pool_cut_blocks_match_keras(pool_size, strides, padding, shape, ties):
    """Lengths that are whole blocks, padded only after: the windows of the last block row and
    column take only the taps inside the input, and no image's gradient leaks into the next."""
    rng = np.random.default_rng(sum(shape))
    x = rng.normal(size=shape) if not ties else np.round(rng.uniform(0, 2, size=shape))
    x = x.astype("float32")
    ours = layers.MaxPool2D(pool_size, strides=strides, padding=padding)
    reference = keras.layers.MaxPooling2D(pool_size, strides=strides, padding=padding or "valid")
    with mock.patch.object(pooling, "_max_pool_cut_blocks", wraps=pooling._max_pool_cut_blocks) as cut:
        got, (got_grad,) = _forward_and_gradients(ours, x, [], 7)
    assert cut.called
    expected, (expected_grad,) = _forward_and_gradients(reference, x, [], 7)
    _assert_close(got, expected)
    _assert_close(got_grad, expected_grad)


def test_max_pool_explicit_padding_never_lets_padding_win():
    x = -np.ones((1, 3, 3, 1), dtype="float32")
    out = layers.MaxPool2D(2, strides=1, padding=1)(x)
    np.testing.assert_array_equal(np.asarray(out), -np.ones((1, 4, 4, 1)))


@pytest.mark.parametrize(
    ("pool_size", "strides", "padding"),
    [(2, None, "valid"), (3, 1, "same"), (2, 3, "valid"), (3, 2, "same"), (3, 2, "valid")],
)
def test_max_pool_ties_send_the_gradient_to_the_first_maximum_like_keras(
    pool_size, strides, padding
):
    x = np.round(np.random.default_rng(5).uniform(0, 2, size=(2, 7, 7, 2))).astype("float32")
    ours = layers.MaxPool2D(pool_size, strides=strides, padding=padding)
    reference = keras.layers.MaxPooling2D(pool_size, strides=strides, padding=padding)
    expected, (expected_grad,) = _forward_and_gradients(reference, x, [], 5)
    got, (got_grad,) = _forward_and_gradients(ours, x, [], 5)
    np.testing.assert_array_equal(got, expected)
    _assert_close(got_grad, expected_grad)


def test_avg_pool_explicit_padding_counts_the_zeros():
    x = np.ones((1, 2, 2, 1), dtype="float32")
    out = np.asarray(layers.AvgPool2D(2, strides=1, padding=1)(x))[0, :, :, 0]
    np.testing.assert_allclose(out, [[0.25, 0.5, 0.25], [0.5, 1.0, 0.5], [0.25, 0.5, 0.25]])


@pytest.mark.parametrize(
    ("ours_class", "keras_class", "shape"),
    [
        (layers.GlobalAvgPool1D, keras.layers.GlobalAveragePooling1D, (2, 5, 3)),
        (layers.GlobalMaxPool1D, keras.layers.GlobalMaxPooling1D, (2, 5, 3)),
        (layers.GlobalAvgPool2D, keras.layers.GlobalAveragePooling2D, (2, 4, 3, 3)),
        (layers.GlobalMaxPool2D, keras.layers.GlobalMaxPooling2D, (3, 1, 6, 2)),
    ],
)
@pytest.mark.parametrize("keepdims", [False, True])
def test_global_pools_match_keras(ours_class, keras_class, shape, keepdims):
    x = np.random.default_rng(3).normal(size=shape).astype("float32")
    ours, reference = ours_class(keepdims=keepdims), keras_class(keepdims=keepdims)
    expected, (expected_grad,) = _forward_and_gradients(reference, x, [], 3)
    got, (got_grad,) = _forward_and_gradients(ours, x, [], 3)
    assert got.shape == ours.compute_output_shape(shape)
    _assert_close(got, expected)
    _assert_close(got_grad, expected_grad)
