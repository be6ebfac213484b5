"""A layer type added to the catalog alone reaches every stage: nothing else lists types."""

import keras
import pytest

from cnnstudio.analysis.analyze import infer
from cnnstudio.models import export, importer
from cnnstudio.models.builder import build_model
from cnnstudio.network import catalog
from cnnstudio.network.spec import LayerSpec, NetworkSpec
from ui.editor.palette import QtPalette
from ui.formatting import key_params


@pytest.fixture
def leaky(monkeypatch):
    """A throwaway type, written only here, that builds keras.layers.LeakyReLU."""
    layer_type = catalog.LayerType(
        name="Leaky",
        group="Core",
        description="Lets a fraction of each negative value through.",
        keras_class="keras.layers.LeakyReLU",
        shape_rule=catalog.ShapeRule.SAME_SHAPE,
        params=(catalog.Param("negative_slope", "float", 0.3, "Slope below zero.", minimum=0.0,
                              keras_default=0.3, node_label="slope {}"),),
    )
    monkeypatch.setitem(catalog.CATALOG, layer_type.name, layer_type)
    return layer_type


def _spec():
    return NetworkSpec(input_shape=(6, 6, 1), name="leaky_net", layers=[
        LayerSpec("conv", "Conv2D", {"filters": 2, "activation": "linear"}),
        LayerSpec("leaky", "Leaky", {"negative_slope": 0.1}),
        LayerSpec("flat", "Flatten"),
        LayerSpec("out", "Dense", {"units": 3, "activation": "softmax"}),
    ])


def test_a_catalog_entry_is_all_a_new_type_needs(leaky, qtbot):
    palette = QtPalette()
    qtbot.addWidget(palette)
    assert "Leaky" in palette.visible_types()
    assert palette.item("Leaky").parent().text(0) == "Core"

    summary = infer(_spec())
    assert summary.ok, summary.errors()
    assert summary.layer("leaky").output_shape == (4, 4, 2)
    assert summary.layer("leaky").receptive_field == (3, 3)
    assert key_params(_spec().layer("leaky")) == ["slope 0.1"]

    model = build_model(_spec(), seed=1)
    layer = model.get_layer("leaky")
    assert isinstance(layer, keras.layers.LeakyReLU)
    assert layer.negative_slope == pytest.approx(0.1)

    source = export.python_source(_spec())
    assert "keras.layers.LeakyReLU(negative_slope=0.1, name='leaky')" in source
    namespace = {"__name__": "exported"}
    exec(compile(source, "leaky_net.py", "exec"), namespace)
    rebuilt = namespace["build_model"]()
    assert isinstance(rebuilt.get_layer("leaky"), keras.layers.LeakyReLU)
    assert rebuilt.count_params() == model.count_params()

    assert importer.spec_from_model(model).layer("leaky").type == "Leaky"


def test_an_incomplete_entry_is_refused_when_written():
    with pytest.raises(ValueError, match=r"keras_class must be a dotted class name.*shape_rule must be one of"):
        catalog.LayerType(name="Half", group="Core", description="No behaviour given.")


def test_every_rule_the_catalog_names_has_its_implementation():
    from cnnstudio.analysis import shapes

    assert set(shapes.RULES) == set(catalog.ShapeRule.ALL)
    for layer_type in catalog.CATALOG.values():
        assert layer_type.shape_rule in shapes.RULES


DATA_FILES = {"cnnstudio/network/catalog.py", "cnnstudio/network/presets.py", "cnnstudio/teaching/exercises.py"}
"""The catalog itself, and network data: the presets and the generated shape exercises."""


def _string_literals(path):
    """Every string constant of a module except its docstrings, with its line."""
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {id(node.value) for node in ast.walk(tree)
                  if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)}
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings]


def test_no_module_outside_the_catalog_names_a_layer_type():
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    names = set(catalog.CATALOG) | {alias for t in catalog.CATALOG.values() for alias in t.keras_names}
    found = []
    for path in sorted([*root.glob("cnnstudio/**/*.py"), *root.glob("ui/**/*.py")]):
        relative = path.relative_to(root).as_posix()
        if relative in DATA_FILES:
            continue
        found += [f"{relative}:{line}: {text!r}" for line, text in _string_literals(path) if text in names]
    assert not found, "ask the catalog instead of naming these types:\n" + "\n".join(found)
