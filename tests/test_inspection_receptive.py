"""Receptive boxes checked against brute force: perturb one input pixel at a time and see
which units change. Linear layers (no ReLU, no max) make every dependence visible."""

import keras
import numpy as np
import pytest

from cnnstudio.analysis.analyze import infer
from cnnstudio.inspection import probes
from cnnstudio.models import builder
from cnnstudio.network.spec import LayerSpec, NetworkSpec


def _spec(input_shape, layers):
    return NetworkSpec(input_shape, [LayerSpec(name, type_, params, inputs or [])
                                     for name, type_, params, *inputs in layers])


def _dependence(spec, layer_name):
    """For each unit (spatial position) of ``layer_name``, a mask of the input pixels it depends on."""
    model = builder.build_model(spec, seed=7)
    probe = keras.Model(model.inputs[0], model.get_layer(layer_name).output)
    spatial = spec.input_shape[:-1]
    base = np.random.default_rng(0).random(spec.input_shape).astype(np.float32)
    count = int(np.prod(spatial))
    batch = np.repeat(base[None], count + 1, axis=0)
    for i, position in enumerate(np.ndindex(*spatial)):
        batch[(i + 1, *position)] += 10.0
    out = keras.ops.convert_to_numpy(probe(batch))
    changed = np.abs(out[1:] - out[0]).max(axis=-1) > 1e-5  # (pixels, *unit position)
    return changed.reshape(*spatial, *out.shape[1:-1])


def _bounding_box(mask):
    coords = np.argwhere(mask)
    return tuple(coords.min(axis=0)), tuple(coords.max(axis=0) + 1)


LINEAR = {"activation": "linear"}
STACK_WITHOUT_PADDING = _spec((23, 21, 2), [
    ("c1", "Conv2D", {"filters": 3, "kernel_size": 3, **LINEAR}),
    ("avg", "AvgPool2D", {"pool_size": 2}),
    ("c2", "Conv2D", {"filters": 3, "kernel_size": [2, 3], "strides": 2, **LINEAR}),
    ("c3", "Conv2D", {"filters": 2, "kernel_size": 2, "dilation_rate": 2, **LINEAR}),
])
STACK_WITH_PADDING = _spec((13, 11, 1), [
    ("c1", "Conv2D", {"filters": 2, "kernel_size": 3, "strides": 2, "padding": "same", **LINEAR}),
    ("zp", "ZeroPadding2D", {"padding": [1, 2]}),
    ("c2", "Conv2D", {"filters": 2, "kernel_size": 3, "padding": 1, **LINEAR}),
    ("avg", "AvgPool2D", {"pool_size": 3, "strides": 2, "padding": "same"}),
    ("c3", "Conv2D", {"filters": 2, "kernel_size": 2, "strides": 1, "padding": "same", **LINEAR}),
])


@pytest.mark.parametrize("layer", ["c1", "avg", "c2", "c3"])
def test_without_padding_the_box_is_exactly_the_pixels_a_unit_sees(layer):
    spec = STACK_WITHOUT_PADDING
    masks = _dependence(spec, layer)
    info = infer(spec).layer(layer)
    height, width = info.output_shape[:2]
    for row in range(height):
        for col in range(width):
            box = probes.receptive_box(spec, layer, row, col)
            assert (box.start, box.stop) == _bounding_box(masks[..., row, col])
            assert box.size == info.receptive_field
            assert box.clipped() == box
    first, right, below = (probes.receptive_box(spec, layer, *p) for p in [(0, 0), (0, 1), (1, 0)])
    assert (right.start[1] - first.start[1], below.start[0] - first.start[0]) == (info.jump[1], info.jump[0])


@pytest.mark.parametrize("layer", ["c1", "c2", "avg", "c3"])
def test_with_padding_the_clipped_box_is_exactly_the_pixels_a_unit_sees(layer):
    spec = STACK_WITH_PADDING
    summary = infer(spec)
    masks = _dependence(spec, layer)
    info = summary.layer(layer)
    for row in range(info.output_shape[0]):
        for col in range(info.output_shape[1]):
            box = probes.receptive_box(summary, layer, row, col)
            seen = masks[..., row, col]
            if not seen.any():  # a unit that sees only padding
                assert any(a >= b for a, b in zip(box.clipped().start, box.clipped().stop, strict=True))
                continue
            assert (box.clipped().start, box.clipped().stop) == _bounding_box(seen)
            assert box.size == info.receptive_field
    corner = probes.receptive_box(summary, layer, 0, 0)
    assert min(corner.start) < 0  # the first window starts in the zero padding


def test_max_pooling_and_relu_stay_inside_the_box():
    spec = _spec((12, 12, 1), [
        ("c1", "Conv2D", {"filters": 4, "kernel_size": 3, "padding": "same"}),
        ("mp", "MaxPool2D", {"pool_size": 2}),
        ("c2", "Conv2D", {"filters": 4, "kernel_size": 3, "padding": "same"}),
    ])
    masks = _dependence(spec, "c2")
    for row in range(6):
        for col in range(6):
            clipped = probes.receptive_box(spec, "c2", row, col).clipped()
            seen = np.argwhere(masks[..., row, col])
            assert ((seen >= clipped.start) & (seen < clipped.stop)).all()


def test_a_residual_branch_widens_the_box_to_the_union():
    spec = _spec((16, 16, 1), [
        ("a", "Conv2D", {"filters": 2, "kernel_size": 3, "padding": "same", **LINEAR}),
        ("b", "Conv2D", {"filters": 2, "kernel_size": 5, "padding": "same", **LINEAR}, "a"),
        ("join", "Add", {}, "a", "b"),
    ])
    masks = _dependence(spec, "join")
    for row, col in [(0, 0), (7, 9), (15, 3)]:
        box = probes.receptive_box(spec, "join", row, col).clipped()
        assert (box.start, box.stop) == _bounding_box(masks[..., row, col])


def test_one_dimensional_positions():
    spec = _spec((30, 2), [
        ("c1", "Conv1D", {"filters": 3, "kernel_size": 5, "strides": 2, "padding": "same", **LINEAR}),
        ("p", "AvgPool1D", {"pool_size": 2}),
        ("c2", "Conv1D", {"filters": 2, "kernel_size": 3, "dilation_rate": 2, **LINEAR}),
    ])
    masks = _dependence(spec, "c2")
    info = infer(spec).layer("c2")
    for position in range(info.output_shape[0]):
        box = probes.receptive_box(spec, "c2", position)
        assert (box.clipped().start, box.clipped().stop) == _bounding_box(masks[:, position])
        assert box.size == info.receptive_field
    assert len(probes.receptive_box(spec, "c2", 1).rect()) == 2


def test_layers_that_see_everything_get_the_whole_input():
    spec = _spec((9, 7, 1), [
        ("c", "Conv2D", {"filters": 2, "kernel_size": 3}),
        ("gap", "GlobalAvgPool2D", {}),
        ("d", "Dense", {"units": 3}),
    ])
    assert probes.receptive_box(spec, "d", 0, 0).rect() == (0, 0, 9, 7)
    assert probes.receptive_box(spec, "gap", 0, 0).rect(clipped=False) == (0, 0, 9, 7)


def test_bad_positions_and_names_are_refused():
    spec = STACK_WITHOUT_PADDING
    with pytest.raises(ValueError, match=r"Layer 'c1' has 21 positions along its height. Expected 0 <= row < 21. "
                                         r"Received: row=21"):
        probes.receptive_box(spec, "c1", 21, 0)
    with pytest.raises(ValueError, match=r"Expected 0 <= col < 19. Received: col=-1"):
        probes.receptive_box(spec, "c1", 0, -1)
    with pytest.raises(ValueError, match=r"needs a row and a column.*Received: col=None"):
        probes.receptive_box(spec, "c1", 0)
    with pytest.raises(ValueError, match=r"no layer named 'c9'.*c1, avg, c2, c3"):
        probes.receptive_box(spec, "c9", 0, 0)
