"""`cnnstudio summary` and `cnnstudio presets`, driven through cnnstudio.cli.main."""

import json

from cnnstudio.analysis.analyze import infer
from cnnstudio.cli import main
from cnnstudio.network import presets
from cnnstudio.workspace.project import Project, save_project

CHAIN = ["--input", "32,32,3", "Conv2D(filters=10, kernel_size=5, padding=2)",
         "MaxPool2D(pool_size=2)", "Flatten()", "Dense(units=10)"]


def test_summary_of_layer_expressions_prints_a_table(capsys):
    assert main(["summary", *CHAIN]) == 0
    out = capsys.readouterr().out
    assert "conv2d_1 (Conv2D)" in out and "(None, 32, 32, 10)" in out
    assert "Total params: 26,370" in out
    assert "MACs per example: 793,600" in out
    rows = {line.split()[0]: line for line in out.splitlines() if line.startswith(("conv2d_1", "dense_1"))}
    assert rows["conv2d_1"].split()[-2:] == ["5x5", "768,000"]


def test_summary_json_has_layers_and_totals(capsys):
    assert main(["summary", "--json", *CHAIN]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [layer["name"] for layer in data["layers"]] == ["conv2d_1", "maxpool2d_1", "flatten_1", "dense_1"]
    first = data["layers"][0]
    assert {"name", "type", "output_shape", "params", "trainable_params", "receptive_field", "macs",
            "errors", "warnings"} <= set(first)
    assert first["output_shape"] == [32, 32, 10] and first["receptive_field"] == [5, 5]
    assert data["total_params"] == sum(layer["params"] for layer in data["layers"])
    assert data["macs"] == sum(layer["macs"] for layer in data["layers"])
    assert data["budget"]["batch_size"] == 32


def test_summary_of_a_preset_matches_inference(capsys):
    assert main(["summary", "--json", "resnet18"]) == 0
    data = json.loads(capsys.readouterr().out)
    summary = infer(presets.get("resnet18"))
    assert data["trainable_params"] == summary.trainable_params == 11_689_512
    assert len(data["layers"]) == len(summary.layers)


def test_summary_of_a_project_file(tmp_path, capsys):
    path = save_project(Project(network=presets.get("lenet5")), tmp_path / "lenet.cnnproj")
    assert main(["summary", str(path)]) == 0
    assert "Total params: 61,706" in capsys.readouterr().out


def test_errors_exit_1_and_print_the_fixes(capsys):
    assert main(["summary", "--input", "8,8,1", "Conv2D(kernel_size=9)", "Flatten()", "Dense()"]) == 1
    out = capsys.readouterr().out
    assert "conv2d_1: The kernel of size 9 exceeds the padded input of 8 on axes height and width." in out
    assert 'fix: Set padding to "same"' in out
    assert 'flatten_1: Its input "conv2d_1" has an unknown shape' in out


def test_misspelt_layer_argument_and_preset_suggest_the_nearest(capsys):
    assert main(["summary", "--input", "8,8,1", "Conv2d(filters=3)"]) == 2
    assert 'unknown layer type "Conv2d". Did you mean "Conv2D"?' in capsys.readouterr().err
    assert main(["summary", "--input", "8,8,1", "Conv2D(filtres=3)"]) == 2
    assert 'no hyperparameter "filtres". Did you mean "filters"?' in capsys.readouterr().err
    assert main(["summary", "vgg61"]) == 2
    assert 'Unknown preset "vgg61". Did you mean "vgg16"?' in capsys.readouterr().err
    assert main(["summary", "missing.cnnproj"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["summary", "--input", "8,8", "Flatten()", "Dense()"]) == 0
    capsys.readouterr()
    assert main(["summary", "--input", "8,x", "Flatten()"]) == 2
    assert "expected height,width,channels" in capsys.readouterr().err


def test_num_classes_checks_the_output(capsys):
    assert main(["summary", "--json", "--num-classes", "3", "digits-cnn"]) == 0
    data = json.loads(capsys.readouterr().out)
    [warning] = data["layers"][-1]["warnings"]
    assert warning["message"] == "The output has 10 units but the data set has 3 classes."


def test_presets_lists_every_preset_with_its_line(capsys):
    assert main(["presets"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == presets.names()
    for line, (description, _) in zip(lines, presets.PRESETS.values(), strict=True):
        assert line.endswith(description)
    assert main(["presets", "--json"]) == 0
    assert set(json.loads(capsys.readouterr().out)) == set(presets.names())
