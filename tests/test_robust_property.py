"""Generated hostile inputs (issue 13): project files, layer expressions, CSV and npz data and
.keras archives. Whatever comes in, only the project's own error types come out, each with a
message; never a traceback of another kind. Few examples each and no training, to stay fast."""

import io
import json
import os
import tempfile
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from cnnstudio.models.importer import ImportRefused, load_keras_file
from cnnstudio.network import catalog, presets
from cnnstudio.network.expressions import ExpressionError, parse_layer
from cnnstudio.training.data import DataError, load_dataset
from cnnstudio.workspace.project import Project, ProjectError, load_project

EXAMPLES = int(os.environ.get("CNNSTUDIO_FUZZ_EXAMPLES", "40"))
"""Examples per property; set CNNSTUDIO_FUZZ_EXAMPLES=1000 to hunt harder than the suite does."""
FAST = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(st.none(), st.booleans(), st.integers(-2 ** 70, 2 ** 70),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12))
json_values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                            st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                           max_leaves=20)


def expect_message(error: Exception) -> None:
    assert str(error).strip(), f"{type(error).__name__} without a message"


def replace_somewhere(data, path: list, value):
    """``data`` with the value at ``path`` (keys/indexes, followed while they exist) replaced."""
    if not path or not isinstance(data, (dict, list)) or not data:
        return value
    key = path[0]
    if isinstance(data, dict):
        keys = sorted(data)
        chosen = keys[key % len(keys)] if isinstance(key, int) else key
        return {**data, chosen: replace_somewhere(data.get(chosen), path[1:], value)}
    index = key % len(data) if isinstance(key, int) else 0
    return [*data[:index], replace_somewhere(data[index], path[1:], value), *data[index + 1:]]


VALID_PROJECT = Project(network=presets.get("digits-cnn"), runs=[
    {"id": "run-001", "status": "completed", "history": {"loss": [0.5]}, "weights_file": None}]).to_dict()


@FAST
@given(path=st.lists(st.one_of(st.integers(0, 20), st.sampled_from(["network", "runs", "training", "layers",
                                                                      "params", "id", "status"])), max_size=6),
       value=json_values, allow_nan=st.booleans(), bom=st.booleans())
def test_generated_project_files_are_read_or_refused_with_a_project_error(path, value, allow_nan, bom):
    data = replace_somewhere(VALID_PROJECT, path, value)
    text = json.dumps(data, allow_nan=allow_nan) if allow_nan else _dumps_or_marker(data)
    with tempfile.TemporaryDirectory() as folder:
        file = Path(folder) / "p.cnnproj"
        file.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8", "surrogatepass"))
        try:
            project = load_project(file)
        except ProjectError as exc:
            expect_message(exc)
            return
        project.to_dict()  # what was accepted can be saved again


def _dumps_or_marker(data) -> str:
    try:
        return json.dumps(data, allow_nan=False)
    except ValueError:
        return "NaN"


@FAST
@given(raw=st.binary(max_size=200))
def test_random_bytes_as_a_project_are_refused_with_a_project_error(raw):
    with tempfile.TemporaryDirectory() as folder:
        file = Path(folder) / "p.cnnproj"
        file.write_bytes(raw)
        with pytest.raises(ProjectError) as caught:
            load_project(file)
        expect_message(caught.value)


literals = st.one_of(scalars.map(repr), st.sampled_from(["(3, 3)", "[2]", "'same'", "1e308", "-" * 300 + "1",
                                                          "9" * 600, "not 1", "1j", "x", "**{}", "()"]))


@FAST
@given(type_name=st.sampled_from([*catalog.CATALOG, "MaxPooling2D", "Conv2d", "os.system", ""]),
       arguments=st.lists(st.tuples(st.sampled_from(["", "filters=", "units=", "rate=", "name=", "padding=",
                                                     "kernel_size=", "bogus="]), literals), max_size=4))
def test_generated_layer_expressions_parse_or_raise_an_expression_error(type_name, arguments):
    text = f"{type_name}({', '.join(key + value for key, value in arguments)})"
    try:
        parse_layer(text)
    except ExpressionError as exc:
        expect_message(exc)


@FAST
@given(text=st.text(max_size=300))
def test_arbitrary_text_as_a_layer_expression(text):
    try:
        parse_layer(text)
    except ExpressionError as exc:
        expect_message(exc)


cells = st.one_of(st.integers(-5, 300).map(str), st.floats(allow_nan=True).map(str),
                  st.sampled_from(["", "x", "1+2j", "inf", "1e999", " 3 "]))


@FAST
@given(header=st.lists(st.sampled_from(["label", "p0", "p1", "p2", "p3", "", "label"]), min_size=0, max_size=5),
       rows=st.lists(st.lists(cells, max_size=6), max_size=6), bom=st.booleans())
def test_generated_csv_files_load_or_raise_a_data_error(header, rows, bom):
    text = "\n".join([",".join(header), *(",".join(row) for row in rows)])
    with tempfile.TemporaryDirectory() as folder:
        file = Path(folder) / "data.csv"
        file.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode())
        try:
            load_dataset(file)
        except DataError as exc:
            expect_message(exc)


arrays = hnp.arrays(dtype=st.one_of(hnp.integer_dtypes(), hnp.floating_dtypes(), hnp.complex_number_dtypes(),
                                    hnp.boolean_dtypes(), st.just(np.dtype("U3"))),
                    shape=hnp.array_shapes(min_dims=0, max_dims=4, max_side=4))


@FAST
@given(x=arrays, y=arrays, names=st.sampled_from([("x", "y"), ("x",), ("images", "y")]))
def test_generated_npz_files_load_or_raise_a_data_error(x, y, names):
    with tempfile.TemporaryDirectory() as folder:
        file = Path(folder) / "data.npz"
        np.savez(file, **dict(zip(names, (x, y), strict=False)))
        try:
            load_dataset(file)
        except DataError as exc:
            expect_message(exc)


@pytest.fixture(scope="module")
def archive_bytes():
    inputs = keras.Input((4, 4, 1))
    outputs = keras.layers.Dense(2)(keras.layers.Flatten()(inputs))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "m.keras"
        keras.Model(inputs, outputs).save(path)
        with zipfile.ZipFile(path) as archive:
            return {name: archive.read(name) for name in archive.namelist()}


@settings(max_examples=max(5, EXAMPLES // 3), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(drop=st.sets(st.sampled_from(["config.json", "metadata.json", "model.weights.h5"])),
       config_path=st.lists(st.one_of(st.integers(0, 10), st.sampled_from(["config", "layers", "units",
                                                                            "class_name", "module"])), max_size=5),
       config_value=json_values, cut=st.one_of(st.none(), st.integers(0, 4000)))
def test_mutated_keras_archives_load_or_raise_import_refused(archive_bytes, drop, config_path, config_value, cut):
    members = {name: data for name, data in archive_bytes.items() if name not in drop}
    if "config.json" in members and config_path:
        config = replace_somewhere(json.loads(members["config.json"]), config_path, config_value)
        members["config.json"] = _dumps_or_marker(config).encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    raw = buffer.getvalue() if cut is None else buffer.getvalue()[:cut]
    with tempfile.TemporaryDirectory() as folder:
        file = Path(folder) / "m.keras"
        file.write_bytes(raw)
        try:
            load_keras_file(file)
        except ImportRefused as exc:
            assert str(exc).startswith(f"Cannot read {str(file)!r}") or str(exc).startswith("No model file")
            expect_message(exc)
