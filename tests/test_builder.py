"""The builder: real Keras models whose shapes and parameter counts equal inference's."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnnstudio.analysis.analyze import infer
from cnnstudio.models.builder import BuildError, build_model
from cnnstudio.network import presets
from cnnstudio.network.spec import LayerSpec, NetworkSpec

keras = pytest.importorskip("keras")


def assert_matches_inference(spec, model):
    summary = infer(spec)
    assert summary.ok, [str(i) for i in summary.errors()]
    for info in summary.layers:
        layer = model.get_layer(info.name)
        assert tuple(layer.output.shape[1:]) == info.output_shape, info.name
        trainable = sum(int(np.prod(w.shape)) for w in layer.trainable_weights)
        frozen = sum(int(np.prod(w.shape)) for w in layer.non_trainable_weights)
        assert (trainable, frozen) == (info.trainable_params, info.non_trainable_params), info.name
    assert model.count_params() == summary.total_params


def _add(spec, layer):
    """Append ``layer`` if the spec stays valid, so the strategy rarely needs filtering."""
    trial = NetworkSpec(spec.input_shape, spec.layers + [layer], spec.name)
    if infer(trial).ok:
        spec.layers.append(layer)


def _padding(draw, window):
    return draw(st.one_of(st.sampled_from(["valid", "same"]), st.integers(0, window - 1)))


@st.composite
def random_specs(draw):
    rank = draw(st.sampled_from([1, 2]))
    spatial = tuple(draw(st.integers(4, 9)) for _ in range(rank))
    spec = NetworkSpec(input_shape=spatial + (draw(st.integers(1, 3)),), layers=[], name="random")
    conv, pool = f"Conv{rank}D", draw(st.sampled_from(["MaxPool", "AvgPool"])) + f"{rank}D"
    for _ in range(draw(st.integers(1, 5))):
        last = spec.layers[-1].name if spec.layers else "input"
        channels = infer(spec).layers[-1].output_shape[-1] if spec.layers else spec.input_shape[-1]
        kind = draw(st.sampled_from(["conv", "pool", "bn", "activation", "dropout", "residual",
                                     "concat", "zeropad"]))
        if kind == "conv":
            kernel = draw(st.integers(1, 3))
            _add(spec, LayerSpec(spec.unique_name(conv), conv, {
                "filters": draw(st.integers(1, 4)), "kernel_size": kernel,
                "strides": draw(st.integers(1, 2)), "padding": _padding(draw, kernel + 1),
                "dilation_rate": draw(st.integers(1, 2)), "use_bias": draw(st.booleans()),
                "kernel_l2": draw(st.sampled_from([0.0, 1e-4]))}))
        elif kind == "pool":
            size = draw(st.integers(1, 3))
            _add(spec, LayerSpec(spec.unique_name(pool), pool, {
                "pool_size": size, "strides": draw(st.one_of(st.none(), st.integers(1, 2))),
                "padding": _padding(draw, size)}))
        elif kind == "bn":
            _add(spec, LayerSpec(spec.unique_name("BatchNormalization"), "BatchNormalization",
                                 {"center": draw(st.booleans()), "scale": draw(st.booleans())}))
        elif kind == "activation":
            _add(spec, LayerSpec(spec.unique_name("Activation"), "Activation",
                                 {"activation": draw(st.sampled_from(["relu", "tanh", "gelu"]))}))
        elif kind == "dropout":
            kind = draw(st.sampled_from(["Dropout", f"SpatialDropout{rank}D"]))
            _add(spec, LayerSpec(spec.unique_name(kind), kind, {"rate": 0.25}))
        elif kind == "zeropad" and rank == 2:
            _add(spec, LayerSpec(spec.unique_name("ZeroPadding2D"), "ZeroPadding2D", {"padding": [1, 0]}))
        elif kind in ("residual", "concat"):
            filters = channels if kind == "residual" else draw(st.integers(1, 3))
            branch = LayerSpec(spec.unique_name(conv), conv, {"filters": filters, "padding": "same"})
            merge = "Add" if kind == "residual" else "Concatenate"
            trial = NetworkSpec(spec.input_shape, spec.layers + [branch], spec.name)
            joined = LayerSpec(trial.unique_name(merge), merge, {}, inputs=[last, branch.name])
            if infer(NetworkSpec(spec.input_shape, trial.layers + [joined])).ok:
                spec.layers += [branch, joined]
    head = draw(st.sampled_from(["Flatten", f"GlobalAvgPool{rank}D", f"GlobalMaxPool{rank}D"]))
    spec.layers.append(LayerSpec(spec.unique_name(head), head, {}))
    spec.layers.append(LayerSpec("output", "Dense", {"units": draw(st.integers(2, 5)),
                                                     "activation": "softmax"}))
    return spec


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_specs())
def test_built_models_match_inference_on_random_specs(spec):
    model = build_model(spec)
    assert_matches_inference(spec, model)
    batch = np.zeros((2, *spec.input_shape), dtype="float32")
    assert model(batch).shape == (2, spec.layers[-1].params["units"])


@pytest.mark.parametrize("name", ["lenet5", "digits-cnn", "mnist1d-cnn"])
def test_presets_build_as_inferred(name):
    spec = presets.get(name)
    model = build_model(spec, seed=3)
    assert model.name == spec.name
    assert_matches_inference(spec, model)


def test_resnet18_on_small_images_builds_as_inferred():
    spec = presets.get("resnet18", input_shape=(32, 32, 3), num_classes=10)
    assert_matches_inference(spec, build_model(spec))


def test_layer_names_types_and_regularizer():
    spec = NetworkSpec(input_shape=(8, 8, 1), layers=[
        LayerSpec("conv", "Conv2D", {"filters": 4, "kernel_l2": 0.01}),
        LayerSpec("pool", "MaxPool2D", {}),
        LayerSpec("flat", "Flatten"),
        LayerSpec("out", "Dense", {"units": 3}),
    ])
    model = build_model(spec, name="mine")
    assert model.name == "mine"
    import layers

    assert isinstance(model.get_layer("conv"), layers.Conv2D)
    assert isinstance(model.get_layer("pool"), layers.MaxPool2D)
    assert isinstance(model.get_layer("conv").kernel_regularizer, keras.regularizers.L2)
    assert model.get_layer("out").kernel_regularizer is None
    model(np.ones((1, 8, 8, 1), "float32"))
    assert len(model.losses) == 1


def test_seed_makes_initial_weights_reproducible():
    spec = presets.get("digits-cnn")
    first, second, other = build_model(spec, seed=7), build_model(spec, seed=7), build_model(spec, seed=8)
    for a, b in zip(first.weights, second.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert not np.array_equal(first.weights[0].numpy(), other.weights[0].numpy())


def test_invalid_spec_is_refused_with_its_errors():
    spec = NetworkSpec(input_shape=(4, 4, 1), layers=[
        LayerSpec("big", "Conv2D", {"kernel_size": 7}), LayerSpec("flat", "Flatten"),
    ])
    with pytest.raises(BuildError) as info:
        build_model(spec)
    assert 'The network "network" cannot be built' in str(info.value)
    assert "big: The kernel of size 7 exceeds the padded input of 4" in str(info.value)
    assert len(info.value.problems) == 1  # the unknown input downstream is a consequence


def test_digits_cnn_reaches_90_percent_in_3_epochs():
    from cnnstudio.training.data import load_dataset

    digits = load_dataset("digits", validation_split=0.2, seed=0)
    model = build_model(presets.get("digits-cnn"), seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(digits.x_train, digits.y_train, validation_data=(digits.x_val, digits.y_val), epochs=3,
                        batch_size=32, verbose=0)
    assert history.history["val_accuracy"][-1] >= 0.90
