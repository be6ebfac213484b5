"""Layer expressions: Keras-style calls read with ast against the catalog, never eval."""

import pytest

from cnnstudio.network.expressions import ExpressionError, parse_chain, parse_layer, parse_shape


def test_keywords_positionals_tuples_and_keras_names():
    layer = parse_layer("Conv2D(16, (3, 5), strides=2, padding='same', name='c')")
    assert (layer.name, layer.type) == ("c", "Conv2D")
    assert layer.params == {"filters": 16, "kernel_size": [3, 5], "strides": 2, "padding": "same"}
    assert parse_layer("MaxPooling2D(pool_size=3)").type == "MaxPool2D"
    assert parse_layer("Flatten").type == "Flatten"
    assert parse_layer("keras.layers.Dense(4, activation=None)").params == {"units": 4, "activation": "linear"}


@pytest.mark.parametrize(("text", "message"), [
    ("Conv2d(filters=3)", 'unknown layer type "Conv2d". Did you mean "Conv2D"?'),
    ("Dense(unit=3)", 'Dense has no hyperparameter "unit". Did you mean "units"?'),
    ("Dense(units=-1)", "units: expected a value >= 1, received -1"),
    ("Dense(units=__import__('os').getcwd())", "units must be a plain value"),
    ("Dense(1, 2, 3, 4, 5, 6)", "Dense takes at most 5 positional arguments"),
    ("Dense(units=3, units=4)", "units is given twice"),
    ("Dense(**opts)", "**kwargs cannot be read"),
    ("Dense(", "is not a layer call"),
    ("3 + 4", "is not a layer call"),
])
def test_bad_expressions_are_refused_with_the_fix(text, message):
    with pytest.raises(ExpressionError) as info:
        parse_layer(text)
    assert message in str(info.value)
    assert info.value.field == text


def test_chain_names_layers_and_refuses_duplicates():
    spec = parse_chain((8, 8, 1), ["Conv2D(4)", "Conv2D(4)", "Flatten()"])
    assert [layer.name for layer in spec.layers] == ["conv2d_1", "conv2d_2", "flatten_1"]
    with pytest.raises(ExpressionError, match='the name "a" is already used'):
        parse_chain((8, 8, 1), ["Conv2D(name='a')", "Flatten(name='a')"])


def test_shapes():
    assert parse_shape("32,32,3") == (32, 32, 3)
    assert parse_shape("40x1") == (40, 1)
    with pytest.raises(ExpressionError, match="expected height,width,channels"):
        parse_shape("0,3")
