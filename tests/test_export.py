"""Exports: SavedModel (run by TensorFlow alone), .keras, Python script; atomic writes and warnings."""

import errno
import os
import re
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from cnnstudio.models import builder, export
from cnnstudio.network import presets
from cnnstudio.network.spec import LayerSpec

BLOCK_PROJECT = textwrap.dedent("""
    import sys

    class Refuse:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("layers", "cnnstudio"):
                raise ImportError("CNN Studio is not available here: " + name)

    sys.meta_path.insert(0, Refuse())
    for name in ("layers", "cnnstudio"):
        try:
            __import__(name)
        except ImportError:
            pass
        else:
            raise SystemExit("the project could be imported")
""")


def _clean_env():
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    return env


@pytest.fixture(scope="module")
def spec():
    return presets.get("digits-cnn")


@pytest.fixture(scope="module")
def trained(spec):
    """digits-cnn after one short epoch on random data: its optimizer has taken steps."""
    model = builder.build_model(spec, seed=0)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    model.fit(rng.random((32, 8, 8, 1)), rng.integers(0, 10, 32), epochs=1, batch_size=16, verbose=0)
    return model


@pytest.fixture(scope="module")
def x():
    return np.random.default_rng(1).random((5, 8, 8, 1)).astype(np.float32)


@pytest.fixture(scope="module")
def savedmodel(trained, tmp_path_factory):
    out = tmp_path_factory.mktemp("sm") / "digits_savedmodel"
    return export.export_savedmodel(trained, out)


def test_savedmodel_runs_with_tensorflow_alone_and_matches_the_model(savedmodel, trained, x, tmp_path):
    assert savedmodel.format == "savedmodel" and savedmodel.warnings == []
    np.save(tmp_path / "x.npy", x)
    script = BLOCK_PROJECT + textwrap.dedent(f"""
        import numpy as np
        import tensorflow as tf

        loaded = tf.saved_model.load({str(savedmodel.path)!r})
        serve = loaded.signatures["serving_default"]
        assert list(serve.structured_input_signature[1]) == ["image"], serve.structured_input_signature
        out = serve(image=tf.constant(np.load("x.npy")))
        assert list(out) == ["probabilities"], list(out)
        np.save("y.npy", out["probabilities"].numpy())
    """)
    done = subprocess.run([sys.executable, "-I", "-c", script], cwd=tmp_path, env=_clean_env(),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), trained.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_savedmodel_of_a_network_ending_in_logits_outputs_probabilities(tmp_path):
    import tensorflow as tf

    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(3)(inputs))
    result = export.export_savedmodel(model, tmp_path / "logits")
    assert any("adds a softmax" in w for w in result.warnings)
    x = np.random.default_rng(0).random((2, 4)).astype(np.float32)
    out = tf.saved_model.load(str(result.path)).signatures["serving_default"](image=tf.constant(x))
    np.testing.assert_allclose(out["probabilities"].numpy(), keras.ops.softmax(model(x)).numpy(), rtol=1e-5)


def test_keras_archive_loads_back_with_identical_outputs(trained, x, tmp_path):
    result = export.export_keras(trained, tmp_path / "digits.keras")
    assert result.warnings == []
    loaded = keras.saving.load_model(result.path)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), trained.predict(x, verbose=0))
    assert type(loaded.get_layer("conv1")).__module__ == "layers.conv"


def test_keras_archive_needs_the_keras_suffix(trained, tmp_path):
    with pytest.raises(export.ExportError, match=r"must end in .keras.*'model.keras'.*Received: out="):
        export.export_keras(trained, tmp_path / "model.h5")


def _run_script(path, cwd):
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=repo, TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run([sys.executable, str(path)], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_python_script_rebuilds_the_same_network_with_its_weights(spec, trained, x, tmp_path):
    result = export.export_python(spec, tmp_path / "digits.py", model=trained)
    weights = tmp_path / "digits.weights.h5"
    assert weights.is_file() and result.warnings == []
    source = result.path.read_text()
    assert "layers.Conv2D(32, 3, padding='same', activation='relu', name='conv1')(inputs)" in source
    assert "keras.layers.Dense(10, activation='softmax', name='output')(hidden)" in source
    stdout = _run_script(result.path, cwd=tmp_path.parent)
    count = int(re.search(r"Total parameters: (\d+)", stdout).group(1))
    assert count == trained.count_params()
    for layer in trained.layers[1:]:
        assert re.search(rf"\b{layer.name} \({type(layer).__name__}\)", stdout), layer.name

    namespace = {"__file__": str(result.path), "__name__": "exported"}
    exec(compile(source, str(result.path), "exec"), namespace)
    rebuilt = namespace["build_model"]()
    rebuilt.load_weights(namespace["WEIGHTS"])
    np.testing.assert_allclose(rebuilt.predict(x, verbose=0), trained.predict(x, verbose=0), rtol=1e-6)
    for ours, theirs in zip(rebuilt.layers, builder.build_model(spec).layers, strict=True):
        assert ours.get_config() == theirs.get_config()


def test_python_script_of_a_branching_1d_network_without_weights(tmp_path):
    spec = presets.get("mnist1d-cnn")
    spec.layers.insert(2, LayerSpec("side", "Conv1D", {"filters": 32, "kernel_size": 1}, inputs=["pool1"]))
    spec.layers.insert(3, LayerSpec("join", "Add", {}, inputs=["pool1", "side"]))
    spec.layers[4].inputs = ["join"]
    result = export.export_python(spec, tmp_path / "seq.py")
    assert any("untrained" in w for w in result.warnings)
    assert "WEIGHTS = None" in result.path.read_text()
    stdout = _run_script(result.path, cwd=tmp_path)
    assert int(re.search(r"Total parameters: (\d+)", stdout).group(1)) == builder.build_model(spec).count_params()


def test_python_export_refuses_a_missing_weights_file_and_a_broken_spec(spec, tmp_path):
    with pytest.raises(export.ExportError, match=r"No weights file at .*nope.weights.h5"):
        export.export_python(spec, tmp_path / "a.py", weights_path=tmp_path / "nope.weights.h5")
    broken = spec.copy()
    broken.layers[1].params["kernel_size"] = 30
    with pytest.raises(export.ExportError, match=r"has errors, so it cannot be exported as a script"):
        export.export_python(broken, tmp_path / "b.py")
    assert list(tmp_path.iterdir()) == []


def test_an_existing_export_needs_force_and_force_replaces_only_our_export(trained, tmp_path):
    out = tmp_path / "m.keras"
    out.write_text("older")
    with pytest.raises(export.ExportError, match=r"already exists. Expected a new path, or force=True"):
        export.export_keras(trained, out)
    with pytest.raises(export.ExportError, match=r"is a file that is not an earlier keras export by CNN Studio, "
                                                 r"so --force does not replace it; it was left untouched"):
        export.export_keras(trained, out, force=True)
    assert out.read_text() == "older"
    out.unlink()
    export.export_keras(trained, out)
    first = out.stat().st_mtime_ns
    export.export_keras(trained, out, force=True)
    assert out.stat().st_mtime_ns >= first
    assert keras.saving.load_model(out).count_params() == trained.count_params()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.keras"]


def test_savedmodel_replaces_only_an_earlier_savedmodel_export_with_force(savedmodel, trained, tmp_path):
    out = tmp_path / "sm"
    out.mkdir()
    (out / "mine.txt").write_text("the user's")
    with pytest.raises(export.ExportError, match=r"is a folder that is not an earlier savedmodel export"):
        export.export_savedmodel(trained, out, force=True)
    assert (out / "mine.txt").read_text() == "the user's"
    (out / "mine.txt").unlink()
    out.rmdir()
    export.export_savedmodel(trained, out)
    (out / "stale.txt").write_text("old")
    export.export_savedmodel(trained, out, force=True)
    assert not (out / "stale.txt").exists() and (out / "saved_model.pb").is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["sm"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores folder permissions")
def test_a_read_only_folder_gives_a_clear_error_and_leaves_nothing(trained, tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(export.ExportError, match=r"no permission to write in .*locked.*nothing was left behind"):
            export.export_savedmodel(trained, folder / "sm")
    finally:
        folder.chmod(0o700)
    assert list(folder.iterdir()) == []


def test_a_refused_rename_gives_a_clear_error_and_keeps_the_old_export(trained, tmp_path, monkeypatch):
    """The read-only case as root sees it too (root ignores folder permissions): EACCES at the rename."""
    out = tmp_path / "m.keras"
    export.export_keras(trained, out)
    older = out.read_bytes()
    real_replace = os.replace

    def refuse_new(src, dst):
        if str(dst) == str(out) and "previous" not in str(src):
            raise PermissionError(errno.EACCES, "Permission denied")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", refuse_new)
    with pytest.raises(export.ExportError, match=r"no permission to write in .*nothing was left behind.*errno=13"):
        export.export_keras(trained, out, force=True)
    assert out.read_bytes() == older
    assert [p.name for p in tmp_path.iterdir()] == ["m.keras"]


def test_a_full_disk_gives_a_clear_error_and_leaves_nothing(trained, tmp_path, monkeypatch):
    def write_half_then_fail(self, filepath, *args, **kwargs):
        os.makedirs(filepath)
        with open(os.path.join(filepath, "saved_model.pb"), "wb") as f:
            f.write(b"\0" * 100)
        raise OSError(errno.ENOSPC, "No space left on device")

    archive_class = type(keras.export.ExportArchive())  # the backend's subclass
    monkeypatch.setattr(archive_class, "write_out", write_half_then_fail)
    with pytest.raises(export.ExportError, match=r"the disk is full.*nothing was left behind.*errno=28"):
        export.export_savedmodel(trained, tmp_path / "sm")
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_during_a_script_export_removes_its_weights_too(spec, trained, tmp_path, monkeypatch):
    def no_space(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(type(tmp_path), "write_text", no_space)
    with pytest.raises(export.ExportError, match="the disk is full"):
        export.export_python(spec, tmp_path / "s.py", model=trained)
    assert list(tmp_path.iterdir()) == []


def test_a_missing_folder_is_named(trained, tmp_path):
    with pytest.raises(export.ExportError, match=r"The folder .*missing' does not exist"):
        export.export_keras(trained, tmp_path / "missing" / "m.keras")


def test_untrained_networks_are_flagged_and_trained_ones_not(spec, trained):
    fresh = builder.build_model(spec, seed=0)
    assert "every bias is still at its initial value" in export.untrained_warning(fresh)
    assert export.untrained_warning(trained) is None
    assert "no training run" in export.untrained_warning(trained, runs=[])
    uncompiled_but_trained = builder.build_model(spec)
    uncompiled_but_trained.set_weights(trained.get_weights())
    assert export.untrained_warning(uncompiled_but_trained) is None


def test_exporting_an_untrained_model_warns_as_data(spec, tmp_path):
    fresh = builder.build_model(spec, seed=0)
    result = export.export_keras(fresh, tmp_path / "fresh.keras")
    assert len(result.warnings) == 1 and "looks untrained" in result.warnings[0]
    assert result.path.is_file()
