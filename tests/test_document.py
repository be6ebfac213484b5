"""NetworkDocument: every edit the window offers, its undo/redo and its events, without Qt."""

import pytest

from cnnstudio.analysis.shapes import Fix
from cnnstudio.network.spec import INPUT, LayerSpec, NetworkSpec
from cnnstudio.workspace.document import DocumentError, NetworkDocument


def chain(*types):
    spec = NetworkSpec(input_shape=(28, 28, 1), name="t")
    for t in types:
        spec.layers.append(LayerSpec(name=spec.unique_name(t), type=t))
    return spec


def wiring(doc):
    spec = doc.spec
    return [(layer.name, spec.inputs_of(i)) for i, layer in enumerate(spec.layers)]


@pytest.fixture
def doc():
    return NetworkDocument(chain("Conv2D", "MaxPool2D", "Flatten", "Dense"))


def test_append_reads_last_layer_selects_it_and_emits(doc):
    labels = []
    doc.events.changed.connect(labels.append)
    name = doc.append_layer("Dropout", {"rate": 0.25})
    assert name == "dropout_1"
    assert wiring(doc)[-1] == ("dropout_1", ["dense_1"])
    assert doc.spec.layer(name).params == {"rate": 0.25}
    assert doc.selected == name
    assert labels == ["Add Dropout"]
    assert doc.dirty


def test_insert_on_connection_rewires_both_ends(doc):
    name = doc.insert_layer("BatchNormalization", "conv2d_1", "maxpool2d_1")
    assert wiring(doc)[:3] == [
        ("conv2d_1", [INPUT]),
        (name, ["conv2d_1"]),
        ("maxpool2d_1", [name]),
    ]
    assert all(not layer.inputs for layer in doc.spec.layers), "a plain chain stays implicit"


def test_insert_on_missing_connection_is_refused(doc):
    with pytest.raises(DocumentError, match='no connection "conv2d_1" -> "dense_1"'):
        doc.insert_layer("Dropout", "conv2d_1", "dense_1")
    assert not doc.can_undo


def test_remove_reconnects_neighbours(doc):
    doc.select("maxpool2d_1")
    doc.remove_layer("maxpool2d_1")
    assert wiring(doc) == [("conv2d_1", [INPUT]), ("flatten_1", ["conv2d_1"]), ("dense_1", ["flatten_1"])]
    assert doc.selected is None


def test_remove_first_layer_feeds_input_to_next(doc):
    doc.remove_layer("conv2d_1")
    assert wiring(doc)[0] == ("maxpool2d_1", [INPUT])


def test_move_reorders_chain(doc):
    doc.move_layer("maxpool2d_1", 0)
    assert [n for n, _ in wiring(doc)] == ["maxpool2d_1", "conv2d_1", "flatten_1", "dense_1"]
    assert wiring(doc)[1] == ("conv2d_1", ["maxpool2d_1"])
    doc.move_layer("maxpool2d_1", 2)
    assert [n for n, _ in wiring(doc)] == ["conv2d_1", "flatten_1", "maxpool2d_1", "dense_1"]
    assert wiring(doc)[3] == ("dense_1", ["maxpool2d_1"])


def test_move_out_of_range_is_refused(doc):
    with pytest.raises(DocumentError, match=r"Expected 0 to 3. Received: index=9"):
        doc.move_layer("conv2d_1", 9)


def test_set_param_validates_then_assigns(doc):
    doc.set_param("conv2d_1", "strides", 2)
    assert doc.spec.layer("conv2d_1").params["strides"] == 2
    with pytest.raises(DocumentError, match="Invalid kernel_size for conv2d_1"):
        doc.set_param("conv2d_1", "kernel_size", 0)
    assert "kernel_size" not in doc.spec.layer("conv2d_1").params
    doc.set_param("conv2d_1", "strides", 1)
    assert "strides" not in doc.spec.layer("conv2d_1").params, "a default is stored as no override"


def test_setting_same_value_records_nothing(doc):
    doc.set_param("conv2d_1", "filters", 32)
    assert not doc.can_undo


def test_undo_redo_restore_specs_and_dirty_state(doc):
    original = doc.spec.to_dict()
    doc.set_param("dense_1", "units", 5)
    doc.remove_layer("flatten_1")
    after = doc.spec.to_dict()
    doc.undo()
    doc.undo()
    assert doc.spec.to_dict() == original
    assert not doc.dirty
    assert doc.redo_label == "Change units of dense_1"
    doc.redo()
    doc.redo()
    assert doc.spec.to_dict() == after
    assert not doc.can_redo
    doc.undo()
    doc.append_layer("Dropout")
    assert not doc.can_redo, "a new edit clears the redo stack"


def test_dirty_events_follow_saves(doc, tmp_path):
    states = []
    doc.events.dirty.connect(states.append)
    doc.set_param("dense_1", "units", 5)
    doc.mark_saved(tmp_path / "a.json")
    doc.undo()
    assert states == [True, False, True]
    assert doc.path == str(tmp_path / "a.json")


def test_skip_connection_into_add():
    doc = NetworkDocument(chain("Conv2D", "Conv2D", "Add"))
    doc.connect("conv2d_1", "add_1")
    assert wiring(doc)[2] == ("add_1", ["conv2d_2", "conv2d_1"])
    with pytest.raises(DocumentError, match="already feeds"):
        doc.connect("conv2d_1", "add_1")
    doc.disconnect("conv2d_1", "add_1")
    assert wiring(doc)[2] == ("add_1", ["conv2d_2"])


def test_connect_refuses_single_input_targets_and_cycles():
    doc = NetworkDocument(chain("Conv2D", "Add", "Conv2D"))
    with pytest.raises(DocumentError, match="Expected a merge layer"):
        doc.connect("conv2d_1", "conv2d_2")
    with pytest.raises(DocumentError, match="would make a cycle"):
        doc.connect("conv2d_2", "add_1")


def test_remove_branch_source_keeps_the_merge_valid():
    doc = NetworkDocument(chain("Conv2D", "Conv2D", "Add"))
    doc.connect("conv2d_1", "add_1")
    doc.remove_layer("conv2d_2")
    assert wiring(doc) == [("conv2d_1", [INPUT]), ("add_1", ["conv2d_1", "conv2d_1"])]
    assert doc.summary.ok, "an Add of one input would be an error; it keeps its two inputs"


def test_delete_and_the_remove_layer_fix_give_the_same_wiring():
    spec = NetworkSpec(input_shape=(8, 8, 1), name="t", layers=[
        LayerSpec("a", "Conv2D", {"padding": "same"}),
        LayerSpec("b", "Conv2D", {"padding": "same"}),
        LayerSpec("add", "Add", inputs=["a", "b"]),
    ])
    deleted = NetworkDocument(spec)
    deleted.remove_layer("b")
    fixed = NetworkDocument(spec)
    fixed.apply_fix(Fix('Remove layer "b"', {"op": "remove_layer", "layer": "b"}))
    assert wiring(deleted) == wiring(fixed) == [("a", [INPUT]), ("add", ["a", "a"])]
    assert deleted.spec.to_dict() == fixed.spec.to_dict()
    fixed.undo()
    assert fixed.spec.to_dict() == spec.to_dict(), "a fix is undone like any other edit"
    assert fixed.redo_label == 'Remove layer "b"'


def test_every_command_is_one_undoable_edit():
    doc = NetworkDocument(chain("Conv2D", "Conv2D", "Add", "Dropout", "Flatten", "Dense"))
    original = doc.spec.to_dict()
    doc.connect("conv2d_1", "add_1")
    doc.insert_layer("BatchNormalization", "conv2d_2", "add_1")
    doc.rename_layer("conv2d_1", "stem")
    doc.move_layer("dropout_1", 5)
    assert wiring(doc)[5] == ("dropout_1", ["flatten_1"])
    doc.set_params("dense_1", {"units": 3})
    doc.set_input_shape((16, 16, 1))
    doc.disconnect("stem", "add_1")
    labels = []
    while doc.can_undo:
        labels.append(doc.undo_label)
        doc.undo()
    assert doc.spec.to_dict() == original
    assert labels == ["Disconnect stem from add_1", "Change input shape", "Change units of dense_1",
                      "Move dropout_1", "Rename conv2d_1", "Insert BatchNormalization",
                      "Connect conv2d_1 to add_1"]


def test_rename_updates_readers():
    doc = NetworkDocument(chain("Conv2D", "Conv2D", "Add"))
    doc.connect("conv2d_1", "add_1")
    doc.rename_layer("conv2d_1", "stem")
    assert wiring(doc)[2] == ("add_1", ["conv2d_2", "stem"])
    with pytest.raises(DocumentError, match="Expected a new, unique"):
        doc.rename_layer("stem", "conv2d_2")


def test_input_shape_and_unknown_type_are_checked(doc):
    doc.set_input_shape((32, 32, 3))
    assert doc.spec.input_shape == (32, 32, 3)
    with pytest.raises(DocumentError, match=r"Received: shape=\(0, 3\)"):
        doc.set_input_shape((0, 3))
    with pytest.raises(DocumentError, match='Did you mean "Conv2D"'):
        doc.append_layer("Conv2d")


def test_replace_and_reset(doc):
    other = chain("Dense")
    doc.select("conv2d_1")
    doc.replace_spec(other, "Open preset")
    assert doc.spec.to_dict() == other.to_dict()
    assert doc.selected is None
    doc.undo()
    assert len(doc.spec.layers) == 4
    doc.reset(other, path="x.json")
    assert not doc.can_undo and not doc.dirty and doc.path == "x.json"


def test_spec_property_is_a_copy(doc):
    doc.spec.layers.clear()
    assert len(doc.spec.layers) == 4


def test_save_and_open_round_trip(doc, tmp_path):
    doc.set_param("conv2d_1", "strides", 2)
    doc.set_training({"epochs": 3})
    target = tmp_path / "net.cnnproj.json"
    doc.save(target)
    assert not doc.dirty and doc.path == str(target)
    other = NetworkDocument()
    other.open(target)
    assert other.spec.to_dict() == doc.spec.to_dict()
    assert other.project.training == {"epochs": 3}
    assert not other.dirty and not other.can_undo


def test_open_broken_file_keeps_document(doc, tmp_path):
    from cnnstudio.workspace.project import ProjectError

    broken = tmp_path / "broken.json"
    broken.write_text('{"format": "cnnstudio-project", "network": {', encoding="utf-8")
    before = doc.spec.to_dict()
    with pytest.raises(ProjectError, match="not valid JSON"):
        doc.open(broken)
    assert doc.spec.to_dict() == before


def test_save_without_path_is_refused(doc):
    with pytest.raises(DocumentError, match="Save As"):
        doc.save()


def test_summary_follows_edits_and_fix_applies(doc):
    first = doc.summary.layer("conv2d_1").output_shape
    assert first == (26, 26, 32)
    doc.set_param("conv2d_1", "kernel_size", 40)
    issues = doc.summary.layer("conv2d_1").errors
    assert issues and issues[0].fixes
    doc.apply_fix(issues[0].fixes[0])
    assert doc.summary.layer("conv2d_1").output_shape is not None
    assert doc.undo_label == issues[0].fixes[0].label
