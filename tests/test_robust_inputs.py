"""Hostile and broken inputs: project files, JSON, layer expressions, names printed on a terminal.

Each is refused with a message naming what is wrong; none gives a traceback (issue 13).
"""

import json
import math

import pytest

from cnnstudio import safe_json
from cnnstudio.cli import main
from cnnstudio.network import catalog, presets
from cnnstudio.network.expressions import ExpressionError, parse_layer
from cnnstudio.network.spec import NetworkSpec, SpecError, printable
from cnnstudio.workspace.project import Project, ProjectError, load_project, save_project


def project_dict(**changes):
    data = Project(network=presets.get("digits-cnn")).to_dict()
    data.update(changes)
    return data


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("nested", [
    "[" * 100_000 + "]" * 100_000,
    '{"a":' * 100_000 + "1" + "}" * 100_000,
])
def test_deeply_nested_json_is_refused_as_nested_too_deeply(tmp_path, nested):
    path = write(tmp_path / "deep.cnnproj", nested)
    with pytest.raises(ProjectError, match="nested too deeply"):
        load_project(path)


def test_nesting_inside_a_valid_project_is_refused_on_reading_and_from_a_dict(tmp_path):
    deep = 1
    for _ in range(900):
        deep = [deep]
    data = project_dict(training={"notes": deep})
    with pytest.raises(ProjectError, match="nested too deeply"):
        Project.from_dict(data)
    path = write(tmp_path / "deep.cnnproj", json.dumps(data))
    with pytest.raises(ProjectError, match="nested too deeply"):
        load_project(path)


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_in_a_project_file_are_refused(tmp_path, constant):
    text = json.dumps(project_dict(training={"learning_rate": "PLACE"})).replace('"PLACE"', constant)
    with pytest.raises(ProjectError, match=f"{constant} is not a number JSON allows"):
        load_project(write(tmp_path / "nan.cnnproj", text))


@pytest.mark.parametrize("param,value", [("rate", math.nan), ("rate", math.inf)])
def test_non_finite_hyperparameters_are_refused_when_typed(param, value):
    with pytest.raises(catalog.ParamError, match="expected a finite number"):
        catalog.get("Dropout").check_params({param: value})


def test_a_float_hyperparameter_too_large_for_a_float_is_refused():
    with pytest.raises(catalog.ParamError, match=r"kernel_l2: expected at most 2147483647"):
        catalog.get("Dense").check_params({"units": 2, "kernel_l2": 10 ** 400})


def test_a_project_with_a_byte_order_mark_opens(tmp_path):
    path = tmp_path / "bom.cnnproj"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(project_dict()).encode())
    assert load_project(path).network.to_dict() == presets.get("digits-cnn").to_dict()


@pytest.mark.parametrize("runs,field,expected", [
    ([1], "runs[0]", "expected a run object with id and status, received 1"),
    ([{"status": "completed"}], "runs[0]", "missing id"),
    ([{"id": 7}], "runs[0].id", "expected a run id"),
    ([{"id": "run-001"}, {"id": "run-001"}], "runs[1].id", "'run-001' is used by an earlier run"),
    ([{"id": "r", "status": "exploded"}], "runs[0].status", "expected one of completed, stopped, failed"),
    ([{"id": "r", "history": {"loss": ["x"]}}], "runs[0].history.loss", "expected a list of numbers"),
    ([{"id": "r", "history": []}], "runs[0].history", "expected an object of metric name"),
    ([{"id": "r", "epochs_completed": True}], "runs[0].epochs_completed", "expected a whole number"),
    ([{"id": "r", "seconds": -1}], "runs[0].seconds", "expected a number >= 0"),
    ([{"id": "r", "weights_file": "/etc/passwd"}], "runs[0].weights_file", "expected a path inside"),
    ([{"id": "r", "weights_file": "../../x.h5"}], "runs[0].weights_file", "expected a path inside"),
])
def test_every_run_entry_is_checked(tmp_path, runs, field, expected):
    path = write(tmp_path / "runs.cnnproj", json.dumps(project_dict(runs=runs)))
    with pytest.raises(ProjectError) as caught:
        load_project(path)
    assert caught.value.field == field
    assert expected in caught.value.reason


def test_a_folder_or_a_huge_file_is_refused_with_its_name(tmp_path):
    (tmp_path / "folder.cnnproj").mkdir()
    with pytest.raises(ProjectError, match="is not a file"):
        load_project(tmp_path / "folder.cnnproj")
    with pytest.raises(safe_json.JSONReadError, match="Expected at most 10 bytes"):
        safe_json.read(write(tmp_path / "big.json", "[1, 2, 3, 4, 5]"), max_bytes=10)
    with pytest.raises(safe_json.JSONReadError, match="not UTF-8"):
        safe_json.loads(b'{"a": "\xff"}')
    with pytest.raises(safe_json.JSONReadError, match="cannot be read"):
        safe_json.loads("[" + "9" * 5000 + "]")


def test_a_saved_project_keeps_run_records_the_reader_accepts(tmp_path):
    runs = [{"id": "run-001", "status": "completed", "history": {"loss": [0.5, None]}, "seconds": 1.5,
             "weights_file": "p.runs/run-001.weights.h5", "custom": {"kept": True}}]
    path = save_project(Project(network=presets.get("digits-cnn"), runs=runs), tmp_path / "p.cnnproj")
    assert load_project(path).runs == runs


@pytest.mark.parametrize("expression,expected", [
    ("Conv2D(filters=" + "9" * 4000 + ")", "characters long. Expected a layer call of at most 1000"),
    ("Dense(units=" + "9" * 900 + ")", "units: expected at most 2147483647 (2**31 - 1), received an integer of 900"),
    ("Conv2D(filters=1e308)", "filters: expected at most 2147483647"),
    ("Conv2D(filters=4, kernel_size=(3, 2147483648))", "kernel_size: expected at most 2147483647"),
    ("Dense(units=" + "-" * 100_000 + "1)", "characters long"),
    ("Dense(units=" + "not " * 30_000 + "1)", "characters long"),
    ("Dense(units=" + "1+" * 60_000 + "1)", "characters long"),
    ("Dense(units=" + "-" * 900 + "1)", "nests too deeply"),
    ("Dense(units=" + "1+" * 400 + "1)", "nests too deeply"),
    ("Dense(units=" + "(" * 400 + "1" + ")" * 400 + ")", "too many nested parentheses"),
    ("Dropout(rate=1e999)", "rate: expected a finite number, received inf"),
    ("Dense(units=3j)", "units: expected an integer, received 3j"),
])
def test_hostile_layer_expressions_are_refused_with_a_message(expression, expected):
    with pytest.raises(ExpressionError) as caught:
        parse_layer(expression)
    assert expected in str(caught.value)
    assert len(str(caught.value)) < 400


def test_names_with_terminal_escapes_are_printed_escaped(tmp_path, capsys):
    spec = presets.get("digits-cnn")
    spec.name = "evil\x1b[2J\x07net"
    path = save_project(Project(network=spec), tmp_path / "evil.cnnproj")
    assert main(["summary", str(path)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    assert "evil\\x1b[2J\\x07net" in out
    assert printable("a\u202eb") == "a\\u202eb"
    assert main(["summary", "--input", "8,8,1", 'Dense(units=2, name="x\x1b]0;owned\x07")']) in (0, 1)
    assert "\x1b" not in capsys.readouterr().out


def test_spec_values_from_code_are_checked_like_a_file():
    data = presets.get("digits-cnn").to_dict()
    data["layers"][0]["params"]["filters"] = 2 ** 40
    with pytest.raises(SpecError, match=r"layers\[0\]\.params\.filters: expected at most 2147483647"):
        NetworkSpec.from_dict(data)


def test_ctrl_c_in_a_command_stops_cleanly(monkeypatch, capsys):
    from cnnstudio.commands import presets as presets_command

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(presets_command, "run", interrupted)
    assert main(["presets"]) == 130
    assert "interrupted (Ctrl-C)" in capsys.readouterr().err
