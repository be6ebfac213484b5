"""Transposed, depthwise and grouped convolutions against ``keras.layers``.

Outputs and gradients (input and weights) match to 1e-5 over hypothesis sweeps of sizes
from 1 up, channels, kernels (also as large as the input), strides (also larger than the
kernel), dilations, every padding form and output_padding. Where Keras has no such layer
(explicit padding P, a stride together with a dilation) the reference is built from Keras'
own layers by hand: zeros inserted between the input's cells, a stride-1 Keras layer, and
the crop the padding asks for.

Which form a transposed convolution takes (``layers.transposed.transpose_form``): the Conv2D
sweep reaches "per-phase" (one matmul per phase, where phases lack taps at some shifts) in
about 83% of its cases and "all-phases" in 17%, the Conv1D sweep 59% and 41% (3,000 draws);
test_transpose_form_names_the_rule asserts the form of each named case.
"""

from unittest import mock

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_layers_equivalence import _assert_close, _fits, _forward_and_gradients, _same_pads

import layers
from layers import depthwise
from layers.arithmetic import transpose_axis_geometry
from layers.transposed import transpose_form

SWEEP = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _compare(ours, reference_forward, reference_variables, x, seed, ours_variables=None):
    expected, expected_grads = _forward_and_gradients(
        reference_forward, x, reference_variables, seed
    )
    if ours_variables is None:  # ours is the layer itself
        ours_variables = ours.trainable_variables
        assert tuple(ours.compute_output_shape(x.shape)) == expected.shape
    got, got_grads = _forward_and_gradients(ours, x, ours_variables, seed)
    assert got.shape == expected.shape
    _assert_close(got, expected)
    for g, e in zip(got_grads, expected_grads, strict=True):
        _assert_close(g, e)


@st.composite
def transpose_cases(draw, rank):
    strides = tuple(draw(st.integers(1, 4)) for _ in range(rank))
    with_extra = draw(st.booleans())
    return {
        "batch": draw(st.integers(1, 2)),
        "lengths": tuple(draw(st.integers(1, 6)) for _ in range(rank)),
        "channels": draw(st.integers(1, 3)),
        "filters": draw(st.integers(1, 3)),
        "kernel": tuple(draw(st.integers(1, 4)) for _ in range(rank)),
        "strides": strides,
        "dilation": tuple(draw(st.integers(1, 3)) for _ in range(rank)),
        "padding": draw(st.one_of(st.sampled_from(["valid", "same"]), st.integers(0, 2))),
        "output_padding": tuple(draw(st.integers(0, s - 1)) for s in strides) if with_extra else None,
        "use_bias": draw(st.booleans()),
        "seed": draw(st.integers(0, 2**16)),
    }


def _transpose_window(n, k, s, d, padding, extra):
    """(crop, length) of one axis, from Keras' formulas (TensorFlow's for "same")."""
    extent = d * (k - 1) + 1
    if padding == "valid":
        extra = max(extent, s) - extent if extra is None else extra
        return 0, (n - 1) * s + extent + extra
    if padding == "same":
        length = n * s if extra is None else (n - 1) * s + extent % 2 + extra
        return max((n - 1) * s + extent - length, 0) // 2, length
    return padding, (n - 1) * s + extent - 2 * padding + (extra or 0)


def _insert_zeros(t, strides):
    """s - 1 zeros between neighbouring cells on each spatial axis (differentiable)."""
    for axis, s in enumerate(strides, start=1):
        if s == 1:
            continue
        shape = tf.shape(t)
        stacked = tf.stack([t] + [tf.zeros_like(t)] * (s - 1), axis=axis + 1)
        new_shape = tf.concat([shape[:axis], [shape[axis] * s], shape[axis + 1:]], axis=0)
        t = tf.reshape(stacked, new_shape)
        t = tf.gather(t, tf.range(tf.shape(t)[axis] - (s - 1)), axis=axis)
    return t


def _check_transpose(case, rank):
    ours_class = layers.Conv1DTranspose if rank == 1 else layers.Conv2DTranspose
    keras_class = keras.layers.Conv1DTranspose if rank == 1 else keras.layers.Conv2DTranspose
    shape = (case["batch"], *case["lengths"], case["channels"])
    x = np.random.default_rng(case["seed"]).normal(size=shape).astype("float32")
    extras = case["output_padding"] or (None,) * rank
    windows = [
        _transpose_window(n, k, s, d, case["padding"], e)
        for n, k, s, d, e in zip(
            case["lengths"], case["kernel"], case["strides"], case["dilation"], extras, strict=True
        )
    ]
    ours = ours_class(
        case["filters"], case["kernel"], strides=case["strides"], padding=case["padding"],
        output_padding=case["output_padding"], dilation_rate=case["dilation"],
        use_bias=case["use_bias"], bias_initializer="random_normal",
    )
    if any(length < 1 for _, length in windows):
        with pytest.raises(ValueError, match="leaves no output"):
            ours.build(shape)
        return
    ours.build(shape)
    # TensorFlow's oneDNN gradient of a 1x1 transposed convolution at a stride corrupts memory
    # (on a 1x4x5x1 input: AbortedError "could not create a primitive descriptor", a segfault
    # or glibc's "double free", from one call to the next): the zero-insertion reference below
    # takes those cases.
    pointwise_strided = max(case["kernel"]) == 1 and max(case["strides"]) > 1
    keras_takes_it = isinstance(case["padding"], str) and not pointwise_strided and (
        max(case["strides"]) == 1 or max(case["dilation"]) == 1
    ) and all(  # TensorFlow's "same" gradient needs ceil(L/S) == n (oneDNN aborts otherwise)
        case["padding"] != "same" or -(-length // s) == n
        for (_, length), s, n in zip(windows, case["strides"], case["lengths"], strict=True)
    )
    if keras_takes_it:
        reference = keras_class(
            case["filters"], case["kernel"], strides=case["strides"], padding=case["padding"],
            output_padding=case["output_padding"], dilation_rate=case["dilation"],
            use_bias=case["use_bias"],
        )
        reference.build(shape)
        reference.set_weights(ours.get_weights())
        _compare(ours, reference, reference.trainable_variables, x, case["seed"])
        return
    reference = keras_class(
        case["filters"], case["kernel"], strides=1, padding="valid",
        dilation_rate=case["dilation"], use_bias=False,
    )
    reference.build(shape)
    reference.set_weights(ours.get_weights()[:1])
    bias = tf.Variable(ours.get_weights()[1]) if case["use_bias"] else None

    def reference_forward(t):
        full = reference(_insert_zeros(t, case["strides"]))
        grow = [(0, max(0, crop + length - n)) for (crop, length), n in zip(
            windows, full.shape[1:-1], strict=True)]
        full = tf.pad(full, [(0, 0), *grow, (0, 0)])
        index = tuple(slice(crop, crop + length) for crop, length in windows)
        out = full[(slice(None), *index, slice(None))]
        return out if bias is None else out + bias

    variables = reference.trainable_variables + ([bias] if case["use_bias"] else [])
    _compare(ours, reference_forward, variables, x, case["seed"])


@SWEEP
@given(transpose_cases(rank=2))
def test_conv2d_transpose_matches_keras_forward_and_gradients(case):
    _check_transpose(case, rank=2)


@SWEEP
@given(transpose_cases(rank=1))
def test_conv1d_transpose_matches_keras_forward_and_gradients(case):
    _check_transpose(case, rank=1)


@pytest.mark.parametrize(
    ("lengths", "kernel", "strides", "dilation", "padding", "output_padding"),
    [
        ((5, 5), (5, 5), (1, 1), (1, 1), "valid", None),  # kernel == input
        ((4, 5), (3, 3), (2, 2), (1, 1), "same", None),  # even and odd sizes, doubled
        ((3, 3), (2, 2), (4, 3), (1, 1), "valid", None),  # stride larger than the kernel
        ((3, 4), (3, 3), (2, 3), (1, 1), "same", (1, 2)),  # output_padding
        ((4, 4), (3, 3), (2, 2), (2, 2), 1, (1, 0)),  # stride with dilation, explicit P
        ((6, 6), (4, 4), (2, 2), (1, 1), 1, None),  # the DCGAN upsampler: 6 -> 12
        ((1, 1), (1, 1), (1, 1), (1, 1), "valid", None),  # single pixel
    ],
)
def test_conv2d_transpose_fixed_edge_cases_match(
    lengths, kernel, strides, dilation, padding, output_padding
):
    case = {
        "batch": 2, "lengths": lengths, "channels": 3, "filters": 2, "kernel": kernel,
        "strides": strides, "dilation": dilation, "padding": padding,
        "output_padding": output_padding, "use_bias": True, "seed": 3,
    }
    _check_transpose(case, rank=2)


@pytest.mark.parametrize(
    ("kernel", "strides", "padding", "form"),
    [
        ((3, 3), (2, 2), "same", "per-phase"),  # phases read 4, 2, 2 and 1 of 4 shifts
        ((3, 3), (2, 2), "valid", "per-phase"),
        ((1, 3), (1, 2), "same", "per-phase"),  # a Conv1DTranspose with kernel 3
        ((2, 2), (3, 3), "valid", "per-phase"),  # stride above the kernel: phases of zeros
        ((4, 4), (2, 2), "valid", "all-phases"),  # every phase reads every shift
        ((2, 2), (2, 2), "valid", "all-phases"),  # one shift
        ((3, 3), (1, 1), "same", "all-phases"),  # one phase
        ((5, 5), (2, 2), "same", "all-phases"),  # the first phase reads 9 > MAX_PHASE_SHIFTS
    ],
)
def test_transpose_form_names_the_rule(kernel, strides, padding, form):
    geometry = [transpose_axis_geometry(k, s, 1, padding, None) for k, s in zip(kernel, strides, strict=True)]
    assert transpose_form(kernel, strides, (1, 1), geometry) == form


def test_per_phase_transpose_matches_keras_with_many_channels():
    """The per-phase form on the benchmark's shape class (3x3 at stride 2, 32 channels)."""
    assert transpose_form((3, 3), (2, 2), (1, 1), [transpose_axis_geometry(3, 2, 1, "same", None)] * 2) == "per-phase"
    case = {
        "batch": 2, "lengths": (5, 6), "channels": 32, "filters": 16, "kernel": (3, 3),
        "strides": (2, 2), "dilation": (1, 1), "padding": "same", "output_padding": None,
        "use_bias": True, "seed": 5,
    }
    _check_transpose(case, rank=2)


def test_transposed_weights_have_keras_names_and_shapes():
    ours, reference = layers.Conv2DTranspose(4, (3, 2)), keras.layers.Conv2DTranspose(4, (3, 2))
    ours.build((None, 6, 6, 3))
    reference.build((None, 6, 6, 3))
    assert [(w.name, w.shape) for w in ours.weights] == [(w.name, w.shape) for w in reference.weights]
    assert ours.kernel.shape == (3, 2, 4, 3)


def test_transpose_of_a_strided_convolution_is_its_input_gradient():
    """The defining property: <conv(x), y> == <x, conv_transpose(y)> with the same kernel."""
    rng = np.random.default_rng(4)
    x = rng.normal(size=(1, 7, 7, 2)).astype("float32")
    conv = layers.Conv2D(3, 3, strides=2, padding="same", use_bias=False)
    y = rng.normal(size=conv.compute_output_shape(x.shape)).astype("float32")
    transposed = layers.Conv2DTranspose(
        2, 3, strides=2, padding="same", output_padding=0, use_bias=False
    )
    transposed.build(y.shape)
    conv.build(x.shape)
    transposed.set_weights(conv.get_weights())
    back = np.asarray(transposed(y))
    assert back.shape == x.shape
    np.testing.assert_allclose(
        np.sum(np.asarray(conv(x)) * y), np.sum(x * back), rtol=1e-5
    )


@st.composite
def depthwise_cases(draw, rank):
    return {
        "batch": draw(st.integers(1, 2)),
        "lengths": tuple(draw(st.integers(1, 8)) for _ in range(rank)),
        "channels": draw(st.integers(1, 4)),
        "multiplier": draw(st.integers(1, 3)),
        "kernel": tuple(draw(st.integers(1, 4)) for _ in range(rank)),
        "strides": tuple(draw(st.integers(1, 4)) for _ in range(rank)),
        "dilation": tuple(draw(st.integers(1, 3)) for _ in range(rank)),
        "padding": draw(st.one_of(st.sampled_from(["valid", "same"]), st.integers(0, 2))),
        "use_bias": draw(st.booleans()),
        "seed": draw(st.integers(0, 2**16)),
    }


def _windowed_reference(case, make_reference, x):
    """A stride-1 Keras layer on the input padded by hand, subsampled by the strides."""
    padding = case["padding"]
    strided = any(s > 1 for s in case["strides"])
    if isinstance(padding, str) and not strided:
        reference = make_reference(case["strides"], padding)
        reference.build(x.shape)
        return reference, reference
    pads = [
        _same_pads(n, k, s, d) if padding == "same" else (0, 0) if padding == "valid" else (padding, padding)
        for n, k, s, d in zip(case["lengths"], case["kernel"], case["strides"], case["dilation"], strict=True)
    ]
    reference = make_reference((1,) * len(pads), "valid")
    padded = [n + b + a for n, (b, a) in zip(case["lengths"], pads, strict=True)]
    reference.build((x.shape[0], *padded, x.shape[-1]))

    def forward(t):
        out = reference(tf.pad(t, [(0, 0), *pads, (0, 0)]))
        index = tuple(slice(None, None, s) for s in case["strides"])
        return out[(slice(None), *index, slice(None))]

    return reference, forward


def _check_windowed(case, ours, make_reference):
    """``ours`` (not built yet) against the Keras layer ``make_reference(strides, padding)``, on the
    case's input; a kernel that does not fit must be refused."""
    shape = (case["batch"], *case["lengths"], case["channels"])
    x = np.random.default_rng(case["seed"]).normal(size=shape).astype("float32")
    if not _fits(case):
        with pytest.raises(ValueError, match="dilated kernel of extent .* exceeds the padded input"):
            ours.build(shape)
        return
    ours.build(shape)
    reference, forward = _windowed_reference(case, make_reference, x)
    reference.set_weights(ours.get_weights())
    _compare(ours, forward, reference.trainable_variables, x, case["seed"])


def _check_depthwise(case, rank):
    ours_class = layers.DepthwiseConv1D if rank == 1 else layers.DepthwiseConv2D
    keras_class = keras.layers.DepthwiseConv1D if rank == 1 else keras.layers.DepthwiseConv2D
    ours = ours_class(
        case["kernel"], strides=case["strides"], padding=case["padding"],
        depth_multiplier=case["multiplier"], dilation_rate=case["dilation"],
        use_bias=case["use_bias"], bias_initializer="random_normal",
    )
    _check_windowed(case, ours, lambda strides, padding: keras_class(
        case["kernel"], strides=strides, padding=padding, depth_multiplier=case["multiplier"],
        dilation_rate=case["dilation"], use_bias=case["use_bias"],
    ))


@SWEEP
@given(depthwise_cases(rank=2))
def test_depthwise_conv2d_matches_keras_forward_and_gradients(case):
    _check_depthwise(case, rank=2)


@SWEEP
@given(depthwise_cases(rank=1))
def test_depthwise_conv1d_matches_keras_forward_and_gradients(case):
    _check_depthwise(case, rank=1)


@pytest.mark.parametrize(
    ("rank", "lengths", "kernel", "strides", "dilation", "padding", "multiplier"),
    [
        # stride 1: depthwise._stride_one_cut, regions of taps inside the input, hand-written
        # input and kernel gradients
        (2, (9, 7), (3, 3), (1, 1), (1, 1), "same", 1),
        (2, (8, 9), (3, 2), (1, 1), (2, 3), "valid", 2),  # dilated, multiplier
        (2, (5, 6), (2, 3), (1, 1), (1, 1), 1, 3),  # explicit P
        (1, (11,), (5,), (1,), (2,), "same", 2),
        # strides: window taps, autodiff for the input, scale_channels for the kernel
        (2, (9, 8), (3, 3), (2, 2), (1, 1), "same", 2),
        (2, (7, 9), (3, 2), (3, 1), (1, 2), "valid", 1),  # stride on one axis only
    ],
)
def test_depthwise_fixed_cases_match_on_each_code_path(
    rank, lengths, kernel, strides, dilation, padding, multiplier
):
    """Batch 4 gives >= 16 rows, so the slab sums of ``layers.reductions`` run (and pad)."""
    case = {
        "batch": 4, "lengths": lengths, "channels": 3, "multiplier": multiplier,
        "kernel": kernel, "strides": strides, "dilation": dilation, "padding": padding,
        "use_bias": True, "seed": 5,
    }
    _check_depthwise(case, rank)


@pytest.mark.parametrize(("padding", "dilation", "multiplier"), [("same", 1, 1), ("valid", 2, 2)])
def test_depthwise_stride_one_on_sizes_known_only_when_the_graph_runs(padding, dilation, multiplier):
    """Traced for any batch, height and width, stride 1 takes the padded form
    (depthwise._stride_one), whose regions cannot be cut without the lengths."""
    ours = layers.DepthwiseConv2D(3, padding=padding, dilation_rate=dilation,
                                  depth_multiplier=multiplier, bias_initializer="random_normal")
    reference = keras.layers.DepthwiseConv2D(3, padding=padding, dilation_rate=dilation,
                                             depth_multiplier=multiplier)
    ours.build((None, None, None, 3))
    reference.build((None, None, None, 3))
    reference.set_weights(ours.get_weights())
    any_size = tf.function(ours, input_signature=[tf.TensorSpec((None, None, None, 3))])
    with mock.patch.object(depthwise, "_stride_one", wraps=depthwise._stride_one) as padded:
        for shape in [(2, 9, 7, 3), (3, 6, 10, 3)]:
            x = np.random.default_rng(sum(shape)).normal(size=shape).astype("float32")
            _compare(any_size, reference, reference.trainable_variables, x, 3,
                     ours_variables=ours.trainable_variables)
    assert padded.called


@st.composite
def grouped_cases(draw, rank):
    groups = draw(st.integers(1, 3))
    return {
        "batch": draw(st.integers(1, 2)),
        "lengths": tuple(draw(st.integers(1, 7)) for _ in range(rank)),
        "groups": groups,
        "channels": groups * draw(st.integers(1, 2)),
        "filters": groups * draw(st.integers(1, 2)),
        "kernel": tuple(draw(st.integers(1, 3)) for _ in range(rank)),
        "strides": tuple(draw(st.integers(1, 3)) for _ in range(rank)),
        "dilation": tuple(draw(st.integers(1, 2)) for _ in range(rank)),
        "padding": draw(st.one_of(st.sampled_from(["valid", "same"]), st.integers(0, 2))),
        "use_bias": draw(st.booleans()),
        "seed": draw(st.integers(0, 2**16)),
    }


def _check_grouped(case, rank):
    ours_class = layers.Conv1D if rank == 1 else layers.Conv2D
    keras_class = keras.layers.Conv1D if rank == 1 else keras.layers.Conv2D
    ours = ours_class(
        case["filters"], case["kernel"], strides=case["strides"], padding=case["padding"],
        dilation_rate=case["dilation"], groups=case["groups"], use_bias=case["use_bias"],
        bias_initializer="random_normal",
    )
    _check_windowed(case, ours, lambda strides, padding: keras_class(
        case["filters"], case["kernel"], strides=strides, padding=padding,
        dilation_rate=case["dilation"], groups=case["groups"], use_bias=case["use_bias"],
    ))


@SWEEP
@given(grouped_cases(rank=2))
def test_grouped_conv2d_matches_keras_forward_and_gradients(case):
    _check_grouped(case, rank=2)


@SWEEP
@given(grouped_cases(rank=1))
def test_grouped_conv1d_matches_keras_forward_and_gradients(case):
    _check_grouped(case, rank=1)


def test_grouped_and_depthwise_weights_have_keras_shapes():
    pairs = [
        (layers.Conv2D(6, 3, groups=3), keras.layers.Conv2D(6, 3, groups=3)),
        (layers.DepthwiseConv2D(3, depth_multiplier=2), keras.layers.DepthwiseConv2D(3, depth_multiplier=2)),
    ]
    for ours, reference in pairs:
        ours.build((None, 8, 8, 6))
        reference.build((None, 8, 8, 6))
        assert [(w.name, w.shape) for w in ours.weights] == [(w.name, w.shape) for w in reference.weights]
        assert ours.count_params() == reference.count_params()
