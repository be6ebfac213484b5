"""train(): progress, Stop, NaN and out-of-memory reports, refusal of wrong data, devices, runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

from cnnstudio.training.data import Dataset, load_dataset
from cnnstudio.training.loop import (
    SettingsError,
    TrainingSettings,
    TrainingState,
    TrainingUpdate,
    train,
    validation_batch_size,
)

# XLA compiling costs more CPU than these tiny runs train: tests that are not about XLA turn it off
# (test_mixed_precision_and_xla_train_from_a_spec, the augmentation note and the repeated seeded run keep it).
FAST = {"epochs": 2, "batch_size": 64, "jit_compile": False}


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


@pytest.fixture(scope="module")
def small_digits(digits):
    return Dataset("small", digits.x_train[:256], digits.y_train[:256], digits.x_val[:64], digits.y_val[:64],
                   digits.class_names)


def tiny_model(seed=0, input_shape=(8, 8, 1), activation="relu"):
    """A small CNN; NaN tests use tanh, since relu can turn NaN inputs into zeros."""
    import keras

    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input(input_shape),
        keras.layers.Conv2D(4, 3, activation=activation),
        keras.layers.Flatten(),
        keras.layers.Dense(10, activation="softmax"),
    ])


def assert_weights_equal(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


def weights_differ(a, b) -> bool:
    return any(not np.array_equal(x, y) for x, y in zip(a, b, strict=True))


# -- settings -----------------------------------------------------------------------------


def test_settings_round_trip_through_json():
    settings = TrainingSettings(optimizer="SGD", learning_rate=0.05, batch_size=16, epochs=4, seed=7,
                                augment_shift=0.1, augment_flip=True, jit_compile=True, device="GPU:1")
    assert settings.optimizer == "sgd" and settings.device == "gpu:1"
    again = TrainingSettings.from_json(settings.to_json())
    assert again == settings
    assert json.loads(settings.to_json())["learning_rate"] == 0.05


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"optimizer": "adma"}, 'Unknown optimizer. Expected one of .* Did you mean "adam"\\? Received: optimizer=\'adma\''),
        ({"learning_rate": 0}, "Bad learning rate. Expected a positive number such as 0.001. Received: learning_rate=0.0"),
        ({"batch_size": 0}, "Bad batch size. Expected a whole number >= 1. Received: batch_size=0"),
        ({"epochs": 2.5}, "Bad epochs. Expected a whole number >= 1. Received: epochs=2.5"),
        ({"momentum": 1.0}, "Bad momentum. Expected a number in \\[0, 1\\). Received: momentum=1.0"),
        ({"augment_shift": 0.9}, "Expected a fraction in \\[0, 0.5\\]"),
        ({"mixed_precision": "yes"}, "Expected true or false. Received: mixed_precision='yes'"),
        ({"device": "tpu"}, 'Unknown device. Expected "auto", "cpu", "gpu:K".* Received: device=\'tpu\''),
    ],
)
def test_bad_settings_name_the_setting_and_the_fix(kwargs, message):
    with pytest.raises(SettingsError, match=message) as info:
        TrainingSettings(**kwargs)
    assert info.value.setting == next(iter(kwargs))


def test_unknown_setting_in_json_is_refused():
    with pytest.raises(SettingsError, match='Unknown training setting. Did you mean "batch_size"'):
        TrainingSettings.from_dict({"batchsize": 3})


# -- a run ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def completed_run(digits):
    updates: list[TrainingUpdate] = []
    state = TrainingState(listener=updates.append, min_interval=0.0)
    model = tiny_model()
    initial = model.get_weights()
    result = train(model, digits, TrainingSettings(**FAST), state)
    return result, updates, state, model, initial


def test_a_run_completes_and_keeps_its_weights(completed_run):
    result, _, _, model, initial = completed_run
    assert (result.status, result.error, result.epochs_completed) == ("completed", None, 2)
    assert result.model is model
    assert_weights_equal(result.weights, model.get_weights())
    assert weights_differ(result.weights, initial)
    assert_weights_equal(result.last_good_weights, result.weights)
    assert result.best_epoch in (1, 2)
    assert result.images_per_second > 0
    assert set(result.metrics()) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert result.history["val_accuracy"][-1] == result.metrics()["val_accuracy"]


@pytest.mark.parametrize(("count", "batch_size", "expected"), [
    (360, 32, 30), (352, 32, 32), (1000, 32, 25), (359, 32, 32), (10, 32, 32), (90, 64, 45), (7, 1, 1)])
def test_validation_batches_are_equal_near_the_training_batch_or_that_batch(count, batch_size, expected):
    assert validation_batch_size(count, batch_size) == expected


def test_validation_runs_in_equal_batches_and_gives_what_evaluate_gives(digits):
    """A last, smaller validation batch would give the test step a second shape (with XLA, a second
    compile): the step sees one static batch size."""
    import keras

    traced = []

    class TracedBatch(keras.layers.Layer):
        def call(self, inputs, training=None):
            if not training:
                traced.append(inputs.shape[0])  # runs when a step is traced, once per input shape
            return inputs

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8, 8, 1)), TracedBatch(), keras.layers.Conv2D(4, 3, activation="relu"),
                              keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])
    data = Dataset("ninety", digits.x_train[:100], digits.y_train[:100], digits.x_val[:90], digits.y_val[:90],
                   digits.class_names)
    result = train(model, data, TrainingSettings(epochs=1, batch_size=32, jit_compile=False))
    assert result.status == "completed"
    assert {size for size in traced if size is not None} == {30}
    evaluated = model.evaluate(data.x_val, data.y_val, batch_size=32, return_dict=True, verbose=0)
    assert result.history["val_loss"][0] == pytest.approx(evaluated["loss"], rel=1e-6)
    assert result.history["val_accuracy"][0] == pytest.approx(evaluated["accuracy"], rel=1e-6)


def test_progress_reaches_the_listener_and_the_state(completed_run, digits):
    result, updates, state, _, _ = completed_run
    epochs = [u for u in updates if u.kind == "epoch"]
    assert [u.epoch for u in epochs] == [1, 2]
    batches = -(-len(digits.x_train) // FAST["batch_size"])
    assert all(u.batches == batches and u.epochs == 2 for u in updates)
    assert epochs[-1].batch == batches and epochs[-1].eta_seconds == 0
    assert epochs[0].epoch_logs["val_accuracy"] == result.history["val_accuracy"][0]
    # The first batch traced and compiled the step: no speed or time left until it is done.
    assert updates[0].compiling and updates[0].images_per_second == 0 and updates[0].eta_seconds is None
    assert not any(u.compiling for u in updates[1:]) and epochs[0].images_per_second > 0
    latest, losses, history = state.snapshot()
    assert latest == updates[-1]
    assert history == result.history
    assert [step for step, _ in losses] == list(range(2 * batches))
    sizes = np.minimum(FAST["batch_size"], len(digits.x_train) - FAST["batch_size"] * np.arange(batches))
    per_batch = np.array([loss for _, loss in losses]).reshape(2, batches)
    np.testing.assert_allclose(per_batch @ sizes / sizes.sum(), result.history["loss"], rtol=1e-4)


def test_stop_mid_epoch_keeps_the_trained_weights(small_digits):
    stop_after = 3
    state = TrainingState(min_interval=0.0)
    seen = []

    def listener(update):
        seen.append(update)
        if update.kind == "batch" and update.batch >= stop_after:
            state.request_stop()

    state.listener = listener
    model = tiny_model()
    initial = model.get_weights()
    result = train(model, small_digits, TrainingSettings(epochs=5, batch_size=16, jit_compile=False), state)
    assert result.status == "stopped" and result.error is None
    assert result.epochs_completed == 0
    batches_run = max(u.batch for u in seen)
    assert stop_after <= batches_run < 16
    assert result.batches_at_stop >= stop_after and result.batches - result.batches_at_stop <= 1
    assert "val_loss" not in result.history  # Stop skips the validation pass
    assert_weights_equal(result.weights, model.get_weights())
    assert weights_differ(result.weights, initial)


def test_stop_before_start_trains_at_most_one_group_of_batches(small_digits):
    from cnnstudio.training import groups

    state = TrainingState()
    state.request_stop()
    result = train(tiny_model(), small_digits, TrainingSettings(epochs=3, batch_size=16, jit_compile=False), state)
    assert result.status == "stopped"
    assert len(result.history["loss"]) == 1 and result.epochs_completed == 0
    assert result.batches == groups.BATCHES_PER_CALL


def test_several_batches_per_call_report_every_batch_loss(small_digits):
    """8 batches run per call of the step (groups.BATCHES_PER_CALL); the curve still gets each
    batch's own loss, in order, and they average to the epoch's loss as Keras computes it."""
    from cnnstudio.training import groups

    state = TrainingState(min_interval=0.0)
    updates = []
    state.listener = updates.append
    settings = TrainingSettings(epochs=2, batch_size=24, jit_compile=True)
    result = train(tiny_model(), small_digits, settings, state)
    assert result.status == "completed"
    batches = -(-256 // 24)  # 11, the last one of 16 images
    batch_updates = [u for u in updates if u.kind == "batch"]
    assert len(batch_updates) == 2 * -(-batches // groups.BATCHES_PER_CALL)  # one update per group
    assert [u.batch for u in batch_updates[:2]] == [groups.BATCHES_PER_CALL, batches]
    _, losses, history = state.snapshot()
    assert [index for index, _ in losses] == list(range(2 * batches))
    sizes = [24] * (batches - 1) + [256 - 24 * (batches - 1)]
    for epoch in range(2):
        own = [loss for _, loss in losses[epoch * batches:(epoch + 1) * batches]]
        assert np.dot(own, sizes) / 256 == pytest.approx(history["loss"][epoch], rel=1e-5)
    assert result.batches == 2 * batches and result.epochs_completed == 2


def test_batches_per_call_shrink_for_a_large_network():
    """Small networks take BATCHES_PER_CALL per call; a network whose group would exceed
    GROUP_MACS takes fewer, down to one (its progress still moves each batch)."""
    import keras

    from cnnstudio.training import groups

    assert groups.batches_per_call(tiny_model(), 32) == groups.BATCHES_PER_CALL

    def conv(size, channels, filters):
        return keras.Sequential([keras.Input((size, size, channels)), keras.layers.Conv2D(filters, 3, padding="same")])

    medium = conv(64, 32, 64)  # 3*3*32*64 * 64*64 = 75.5M MACs: 3 * 75.5M * 32 = 7.2e9 a batch
    assert groups._forward_macs(medium) == 3 * 3 * 32 * 64 * 64 * 64
    assert groups.batches_per_call(medium, 32) == int(groups.GROUP_MACS // (3 * 75_497_472 * 32)) == 5
    assert groups.batches_per_call(conv(128, 64, 256), 32) == 1


def test_stop_within_a_group_ends_the_run_with_that_group(small_digits):
    """Stop pressed during the third batch of a group of 8 ends the run when the group ends:
    Keras checks it between calls of the step, and the group's batches all count."""
    import keras
    import tensorflow as tf

    from cnnstudio.training import groups

    state = TrainingState()
    seen = []

    class StopsAtThird(keras.layers.Layer):
        def call(self, inputs, training=None):
            if training:
                def count():
                    seen.append(1)
                    if len(seen) == 3:
                        state.request_stop()
                    return np.float32(0)

                inputs = inputs + tf.ensure_shape(tf.py_function(count, [], tf.float32), ())
            return inputs

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8, 8, 1)), StopsAtThird(), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
    result = train(model, small_digits, TrainingSettings(epochs=2, batch_size=16, jit_compile=False), state)
    assert result.status == "stopped", result.error
    assert result.batches == groups.BATCHES_PER_CALL  # 16 batches an epoch: the first group
    # The graph's loop may start later batches (here their counting) before one ends.
    assert 3 <= result.batches_at_stop <= groups.BATCHES_PER_CALL
    assert len(result.history["loss"]) == 1 and "val_loss" not in result.history


def test_nan_loss_fails_and_restores_the_last_good_weights(small_digits):
    model = tiny_model(activation="tanh")
    first = train(model, small_digits, TrainingSettings(epochs=1, batch_size=32, jit_compile=False))
    good = model.get_weights()
    x = small_digits.x_train.copy()
    x[40] = np.nan
    poisoned = Dataset("poisoned", x, small_digits.y_train, small_digits.x_val, small_digits.y_val,
                       small_digits.class_names)
    result = train(model, poisoned, TrainingSettings(epochs=3, batch_size=32, jit_compile=False))
    assert first.status == "completed"
    assert result.status == "failed"
    assert result.error.startswith("The loss became nan at epoch 1")
    assert "Lower the learning rate (now 0.001) or check the data for NaN values" in result.error
    assert_weights_equal(model.get_weights(), good)
    assert all(np.isfinite(w).all() for w in result.weights)


@pytest.mark.parametrize(("input_shape", "message"), [
    ((4, 4, 1), "The data's images are 8x8x1, larger than the network's input 4x4x1. Set the input to 8x8x1, "
                "pick a data set of 4x4x1 images, or ask to resize the images"),
    ((8, 8, 3), "The data's images are 8x8x1 but the network's input is 8x8x3. "
                "Set the input to 8x8x1 or pick a data set of 8x8x3 images."),
])
def test_wrong_shaped_data_is_refused_before_training(digits, input_shape, message):
    updates = []
    model = tiny_model(input_shape=input_shape)
    initial = model.get_weights()
    result = train(model, digits, TrainingSettings(**FAST), TrainingState(listener=updates.append))
    assert result.status == "failed"
    assert result.error.startswith(message)
    assert updates == [] and result.history == {} and result.epochs_completed == 0
    assert_weights_equal(model.get_weights(), initial)


def test_smaller_images_are_padded_to_the_input_and_the_run_says_so(small_digits):
    result = train(tiny_model(input_shape=(12, 12, 1)), small_digits,
                   TrainingSettings(epochs=1, batch_size=64, jit_compile=False))
    assert result.status == "completed", result.error
    assert "Padded the 8x8x1 images with zeros to 12x12x1 (centred) to fit the network's input." in result.notes


def test_out_of_memory_suggests_a_smaller_batch(small_digits):
    import keras
    import tensorflow as tf

    class Exhausting(keras.Sequential):
        """Fails in its forward pass the way TensorFlow reports an allocation failure."""

        def call(self, *args, **kwargs):
            raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor with shape[64,4096]")

    model = Exhausting([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])
    initial = model.get_weights()
    result = train(model, small_digits, TrainingSettings(epochs=1, batch_size=64))
    assert result.status == "failed"
    assert result.error.startswith("Ran out of memory training with batch size 64. Try a smaller batch size such as 32")
    assert_weights_equal(model.get_weights(), initial)


def test_missing_gpu_is_a_report_not_a_crash(small_digits):
    result = train(tiny_model(), small_digits, TrainingSettings(epochs=1, device="gpu:3"))
    assert result.status == "failed"
    assert "There is no GPU 3: TensorFlow sees 0 GPU device(s)" in result.error
    assert "cnnstudio doctor" in result.error


def test_augmentation_trains_and_leaves_the_model_plain(small_digits):
    model = tiny_model()
    before = [type(layer) for layer in model.layers]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = train(model, small_digits, TrainingSettings(epochs=1, batch_size=32, augment_shift=0.125,
                                                             augment_flip=True))
    assert result.status == "completed"
    assert not [w for w in caught if "jit_compile" in str(w.message)]
    assert result.notes == ["XLA was off for this run: Keras' random augmentation layers cannot be compiled."]
    assert [type(layer) for layer in result.model.layers] == before
    sequences = Dataset("seq", np.zeros((8, 40, 1)), np.arange(8) % 2, np.zeros((2, 40, 1)), [0, 1], ["a", "b"])
    import keras

    model_1d = keras.Sequential([keras.Input((40, 1)), keras.layers.Flatten(), keras.layers.Dense(2)])
    refused = train(model_1d, sequences, TrainingSettings(epochs=1, augment_flip=True))
    assert refused.status == "failed" and "Shifts and flips apply to images" in refused.error


def test_mixed_precision_and_xla_train_from_a_spec(small_digits):
    import keras

    from cnnstudio.network import presets

    settings = TrainingSettings(epochs=1, batch_size=64, mixed_precision=True, jit_compile=True)
    result = train(presets.get("digits-cnn"), small_digits, settings)
    assert result.status == "completed", result.error
    assert any(layer.dtype_policy.name == "mixed_float16" for layer in result.model.layers)
    assert keras.config.dtype_policy().name == "float32"
    refused = train(tiny_model(), small_digits, settings)
    assert refused.status == "failed"
    assert refused.error.startswith("Mixed precision applies when the network is built for training")


def test_same_seed_gives_the_same_run_from_a_spec(small_digits):
    from cnnstudio.network import presets

    spec = presets.get("digits-cnn")
    settings = TrainingSettings(epochs=1, batch_size=64, seed=5)
    a = train(spec, small_digits, settings)
    b = train(spec, small_digits, settings)
    # Another seed starts elsewhere whether or not XLA compiles it: only the repeated run needs XLA's compile
    c = train(spec, small_digits, TrainingSettings(epochs=1, batch_size=64, seed=6, jit_compile=False))
    assert a.status == b.status == c.status == "completed"
    for x, y in zip(a.weights, b.weights, strict=True):
        np.testing.assert_allclose(x, y, atol=1e-6)
    assert weights_differ(a.weights, c.weights)


def test_resume_from_weights_file(tmp_path, small_digits, completed_run):
    from cnnstudio.workspace.runs import save_weights_atomic

    path = save_weights_atomic(completed_run[3], tmp_path / "w.weights.h5")
    updates = []
    model = tiny_model(seed=99)
    result = train(model, small_digits, TrainingSettings(epochs=1, batch_size=32, jit_compile=False),
                   TrainingState(listener=updates.append), initial_weights=path)
    first_loss = next(u for u in updates if u.new_batch_losses).new_batch_losses[0][1]
    fresh = []
    train(tiny_model(seed=99), small_digits, TrainingSettings(epochs=1, batch_size=32, jit_compile=False),
          TrainingState(listener=fresh.append))
    fresh_loss = next(u for u in fresh if u.new_batch_losses).new_batch_losses[0][1]
    assert result.status == "completed"
    assert first_loss < fresh_loss


# -- runs stored with the project ------------------------------------------------------------


def test_runs_are_recorded_and_reopen_with_their_weights(tmp_path, small_digits, completed_run):
    from cnnstudio.network import presets
    from cnnstudio.workspace import runs
    from cnnstudio.workspace.project import Project, load_project, save_project

    project = Project(network=presets.get("digits-cnn"))
    save_project(project, tmp_path / "lab.cnnproj")
    result = completed_run[0]
    first = runs.record_run(project, result, "digits", runs.now())
    second = runs.record_run(project, result, "digits", runs.now(), resumed_from=first.id)
    assert (first.id, second.id) == ("run-001", "run-002")
    assert (tmp_path / "lab.runs" / "run-002.weights.h5").is_file()
    reopened = load_project(tmp_path / "lab.cnnproj")
    records = runs.list_runs(reopened)
    assert [r.id for r in records] == ["run-001", "run-002"]
    assert records[1].resumed_from == "run-001" and records[1].status == "completed"
    assert records[0].history == result.history
    assert records[0].training_settings() == result.settings
    record, path = runs.latest_weights(reopened)
    assert record.id == "run-002"
    model = tiny_model(seed=42)
    model.load_weights(path)
    assert_weights_equal(model.get_weights(), result.weights)


def test_failed_run_history_with_nan_is_stored_as_null(tmp_path, small_digits):
    from cnnstudio.network import presets
    from cnnstudio.workspace import runs
    from cnnstudio.workspace.project import Project, load_project, save_project

    project = Project(network=presets.get("digits-cnn"))
    save_project(project, tmp_path / "nan.cnnproj")
    model = tiny_model(activation="tanh")
    x = small_digits.x_train.copy()
    x[:] = np.nan
    poisoned = Dataset("nan", x, small_digits.y_train, small_digits.x_val, small_digits.y_val,
                       small_digits.class_names)
    result = train(model, poisoned, TrainingSettings(epochs=1, batch_size=64, jit_compile=False))
    record = runs.record_run(project, result, "nan", runs.now())
    stored = runs.list_runs(load_project(tmp_path / "nan.cnnproj"))[0]
    assert stored.status == "failed" and stored.error == result.error
    assert None in stored.history["loss"]
    assert runs.weights_path(project, record).is_file()


def test_project_settings_round_trip():
    from cnnstudio.network import presets
    from cnnstudio.workspace import runs
    from cnnstudio.workspace.project import Project

    project = Project(network=presets.get("digits-cnn"))
    assert runs.project_settings(project) == (TrainingSettings(), None)
    runs.set_project_settings(project, TrainingSettings(epochs=9), "mnist1d")
    assert runs.project_settings(project) == (TrainingSettings(epochs=9), "mnist1d")


# -- devices -------------------------------------------------------------------------------


def test_mirrored_strategy_over_two_logical_cpus_trains():
    script = textwrap.dedent("""
        import json, sys
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        import keras
        from cnnstudio.training.data import load_dataset
        from cnnstudio.training.loop import TrainingSettings, train
        ds = load_dataset("digits")
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
                                  keras.layers.Dense(10, activation="softmax")])
        before = [w.copy() for w in model.get_weights()]
        r = train(model, ds, TrainingSettings(epochs=2, batch_size=64, learning_rate=0.01, device="cpu:0,cpu:1"))
        changed = any((a != b).any() for a, b in zip(before, model.get_weights()))
        from cnnstudio.training.loop import TrainingState
        state = TrainingState(min_interval=0.0)
        state.listener = lambda u: state.request_stop() if u.kind == "batch" and u.batch >= 3 else None
        stopped = train(model, ds, TrainingSettings(epochs=2, batch_size=8, device="cpu:0,cpu:1"), state)
        print(json.dumps({"status": r.status, "error": r.error, "device": r.device, "changed": changed,
                          "val_accuracy": r.metrics()["val_accuracy"], "notes": r.notes,
                          "replicas": r.replicas, "batches": r.batches,
                          "stopped": [stopped.status, stopped.batches_at_stop, stopped.batches,
                                      sorted(stopped.history)]}))
    """)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "tensorflow"}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["status"] == "completed", out["error"]
    assert out["device"] == "2 mirrored replicas (CPU:0, CPU:1)"
    assert out["notes"] == []  # the replicas' step is XLA-compiled by the custom loop
    assert out["replicas"] == 2 and out["batches"] == 2 * (1438 // 64)  # whole global batches of 64
    assert out["changed"] and out["val_accuracy"] > 0.5
    status, at_stop, batches, keys = out["stopped"]  # Stop travels with the next step to every replica
    assert status == "stopped" and at_stop >= 3 and batches - at_stop <= 1 and keys == ["accuracy", "loss"]


def test_environment_report_says_why_there_is_no_gpu():
    import tensorflow as tf

    from cnnstudio.training.environment import environment_report

    report = environment_report()
    assert report.tensorflow == tf.__version__ and report.python == sys.version.split()[0]
    assert report.backend == "tensorflow"
    assert "CPU:0" in report.devices
    if tf.config.list_physical_devices("GPU"):
        assert report.gpu_status.startswith("TensorFlow uses")
    else:
        assert report.gpu_status.startswith("none")
        assert "driver" in report.gpu_status or "CPU-only" in report.gpu_status
    assert "GPU: " + report.gpu_status in report.format()
