"""Our layers' graphs run where models are deployed: at most 5-D tensors, LiteRT builtin ops.

Each case is traced as TensorFlow would export it (batch size unknown); every tensor in the
graph must have at most 5 dimensions (LiteRT's slice and element-wise kernels stop there),
and the layer converts to a .tflite file with builtin ops only (no Flex/select-TF ops) whose
output in the LiteRT interpreter equals Keras' to 1e-5. The cases reach every algorithm:
1x1 matmul, banded (whole rows and runs of a row), width taps (strided and not),
strided/dilated row taps, the patches of all kernel rows at a row stride, the shifted rows
(plain and with strided width taps, dilated too), and the poolings (disjoint, overlapping,
"same" and explicit padding, 1D and 2D), depthwise, transposed and grouped convolutions.
"""

import importlib.util

import keras
import numpy as np
import pytest
import tensorflow as tf

import layers
from layers import conv, pooling

CASES = [
    ("conv_1x1", (6, 6, 3), lambda: layers.Conv2D(4, 1)),
    ("conv_banded_strided", (12, 12, 1), lambda: layers.Conv2D(3, 5, strides=(2, 3), dilation_rate=(1, 2))),
    ("conv_banded_runs", (11, 13, 3),
     lambda: layers.Conv2D(4, 3, strides=(2, 1), dilation_rate=(1, 2), padding="same")),
    ("conv_patches_same_strided", (9, 8, 16), lambda: layers.Conv2D(4, 3, strides=2, padding="same")),
    ("conv_patches_dilated_strided", (11, 11, 16), lambda: layers.Conv2D(4, 3, strides=2, dilation_rate=2)),
    ("conv_patches_stride_past_kernel", (9, 9, 16), lambda: layers.Conv2D(4, 2, strides=3, padding=1)),
    ("conv_shifted_same", (9, 8, 16), lambda: layers.Conv2D(8, 3, padding="same")),
    ("conv_winograd", (32, 31, 32), lambda: layers.Conv2D(48, 3, padding="same")),
    ("conv_winograd_dilated", (34, 30, 32), lambda: layers.Conv2D(48, 3, padding="same", dilation_rate=(2, 3))),
    ("conv_shifted_dilated_strided_width", (9, 11, 12),
     lambda: layers.Conv2D(8, 3, strides=(1, 2), dilation_rate=(2, 1))),
    ("conv1d_strided", (20, 5), lambda: layers.Conv1D(4, 5, strides=2, padding="same")),
    ("conv1d_winograd", (23, 16), lambda: layers.Conv1D(16, 5, padding="same")),
    ("conv1d_winograd_k7", (30, 16), lambda: layers.Conv1D(20, 7)),
    ("maxpool_disjoint", (8, 8, 3), lambda: layers.MaxPool2D(2)),
    ("maxpool_overlapping_padded", (9, 9, 3), lambda: layers.MaxPool2D(3, strides=2, padding=1)),
    ("maxpool_overlapping_cut", (8, 10, 3), lambda: layers.MaxPool2D(3, strides=2, padding="same")),
    ("maxpool_stride_past_window", (9, 9, 3), lambda: layers.MaxPool2D(2, strides=3)),
    ("avgpool_same", (7, 7, 3), lambda: layers.AvgPool2D(3, strides=2, padding="same")),
    ("maxpool1d", (11, 3), lambda: layers.MaxPool1D(3, strides=2)),
    ("avgpool1d", (10, 3), lambda: layers.AvgPool1D(2)),
    ("depthwise_strided", (9, 9, 3), lambda: layers.DepthwiseConv2D(3, strides=2, padding="same")),
    ("depthwise_stride_one", (9, 9, 3),
     lambda: layers.DepthwiseConv2D(3, padding="same", dilation_rate=2, depth_multiplier=2)),
    ("conv_transpose_strided", (5, 5, 3), lambda: layers.Conv2DTranspose(4, 3, strides=2)),
    ("conv_transpose_uncropped", (5, 5, 3),
     lambda: layers.Conv2DTranspose(4, 3, strides=2, padding="same")),
    ("conv_groups", (8, 8, 4), lambda: layers.Conv2D(4, 3, strides=2, groups=2)),
]

FORMS = {
    "conv_1x1": ["matmul"], "conv_banded_strided": ["banded"], "conv_banded_runs": ["segments"],
    "conv_patches_same_strided": ["patches-strided"], "conv_patches_dilated_strided": ["patches"],
    "conv_patches_stride_past_kernel": ["patches-strided"], "conv_shifted_same": ["shifted"],
    "conv_winograd": ["winograd"], "conv_winograd_dilated": ["winograd"],
    "conv_shifted_dilated_strided_width": ["shifted-strided"], "conv1d_strided": ["rows-strided"],
    "conv1d_winograd": ["winograd-1d"], "conv1d_winograd_k7": ["winograd-1d"],
    "maxpool_disjoint": ["blocks"], "maxpool_overlapping_padded": ["blocks"], "maxpool_overlapping_cut": ["blocks"],
    "maxpool_stride_past_window": ["blocks"], "maxpool1d": ["per-axis"], "conv_groups": ["banded", "banded"],
}
"""The form each convolution (``conv_algorithm``) and max pooling (``max_pool_form``) case
takes, so that a changed threshold cannot move a case off the form it is here to export."""


def _traced(layer, input_shape):
    function = tf.function(lambda x: layer(x), input_signature=[tf.TensorSpec((None, *input_shape))])
    return function.get_concrete_function()


@pytest.mark.parametrize(("name", "input_shape", "make"), CASES, ids=[c[0] for c in CASES])
def test_layer_graph_has_at_most_five_dimensions(name, input_shape, make):
    layer = make()
    layer.build((None, *input_shape))
    graph = _traced(layer, input_shape).graph
    ranks = {
        (op.type, op.name): tensor.shape.rank
        for op in graph.get_operations()
        for tensor in op.outputs
        if tensor.shape.rank is not None and tensor.shape.rank > 5
    }
    assert not ranks, f"{name}: tensors of more than 5 dimensions: {ranks}"


@pytest.mark.parametrize(("name", "input_shape", "make"), CASES, ids=[c[0] for c in CASES])
def test_each_case_takes_the_form_it_is_named_for(name, input_shape, make, monkeypatch):
    assert set(FORMS) <= {case[0] for case in CASES}
    forms = []
    for module, function in ((conv, "conv_algorithm"), (pooling, "max_pool_form")):
        original = getattr(module, function)
        monkeypatch.setattr(module, function, lambda *a, _f=original, **k: forms.append(_f(*a, **k)) or forms[-1])
    layer = make()
    layer.build((None, *input_shape))
    _traced(layer, input_shape)
    assert forms == FORMS.get(name, [])


@pytest.mark.skipif(importlib.util.find_spec("ai_edge_litert") is None,
                    reason="the deploy extra (ai-edge-litert) is not installed")
@pytest.mark.parametrize(("name", "input_shape", "make"), CASES, ids=[c[0] for c in CASES])
def test_layer_runs_in_litert_with_builtin_ops_only(name, input_shape, make, tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    model = keras.Sequential([keras.Input(input_shape), make()])
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serving_default", lambda x: model(x),
                         input_signature=[keras.InputSpec(shape=(None, *input_shape), dtype="float32")])
    archive.write_out(str(tmp_path / "layer"), verbose=False)
    converter = tf.lite.TFLiteConverter.from_saved_model(str(tmp_path / "layer"))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    runner = Interpreter(model_content=converter.convert()).get_signature_runner("serving_default")
    x = np.random.default_rng(0).normal(size=(3, *input_shape)).astype("float32")
    (got,) = runner(**{runner.get_input_details().popitem()[0]: x}).values()
    np.testing.assert_allclose(got, keras.ops.convert_to_numpy(model(x)), rtol=1e-5, atol=1e-5)
