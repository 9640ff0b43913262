"""Hostile input gets one clear line: flags absl checks, the Python API, data, plug-ins, damaged state."""

import json
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

from keras_minibatch import ConfigError, DataError, TrainConfig, build_mlp, load_dataset, train_and_evaluate
from keras_minibatch.training.checkpointing import load_checkpoint
from keras_minibatch.data.dataset import Dataset
from keras_minibatch.run_folders.rundir import CorruptCheckpointError

TINY = dict(dataset="digits", max_train_samples=200, epochs=1, hidden_units=(8,), batch_size=16)


def run_cli(*args, cwd=None, env_extra=None, timeout=120):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "keras_minibatch", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=timeout)


def assert_one_line(result, exit_code, *needles):
    assert result.returncode == exit_code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("keras-minibatch: error: ") and "Traceback" not in result.stderr, result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["train", "--seed=4294967296"], "--seed=4294967296 must be an integer from 0 to 4,294,967,295"),
        (["tune", "--seed=4294967296"], "--seed=4294967296 must be an integer from 0 to 4,294,967,295"),
        (["train", "--batch_size=2147483648"], "--batch_size=2147483648 must be an integer from 1 to 2,147,483,647"),
        (["train", "--hidden_units=2000000"], "must be one or more integers from 1 to 1,048,576"),
        (["train", "--nojit_compile=maybe"], "--nojit_compile=maybe: --nojit_compile takes no value; write --jit_compile=true or --jit_compile=false"),
        (["train", "--noresume=1"], "--noresume takes no value"),
        (["tensorboard", "--port=70000"], "--port=70000 must be an integer from 0 to 65535"),
        (["train", "--flagfile=/dev/zero"], "--flagfile=/dev/zero must name a readable file of flags"),
    ],
)
def test_flags_absl_or_the_config_refuse_are_one_line_before_tensorflow(tmp_path, args, expected):
    result = run_cli(*args, f"--workdir={tmp_path / 'run'}", timeout=30)
    assert_one_line(result, 2, expected)
    assert not (tmp_path / "run").exists()


@pytest.mark.integration
@pytest.mark.parametrize(
    ("module_text", "expected"),
    [
        ("raise RuntimeError('boom')", "importing module 'plugin' failed: RuntimeError: boom"),
        ("import sys\nsys.exit(3)", "importing module 'plugin' called sys.exit(3)"),
    ],
)
def test_a_plugin_module_that_fails_at_import_is_one_line_and_leaves_no_run(tmp_path, module_text, expected):
    (tmp_path / "plugin.py").write_text(module_text)
    result = run_cli("train", "--dataset=digits", "--callbacks=plugin:Anything", f"--workdir={tmp_path / 'run'}", env_extra={"PYTHONPATH": str(tmp_path)})
    assert_one_line(result, 2, expected)
    assert sorted(os.listdir(tmp_path / "run")) == [".lock"]  # nothing written: the same command runs once fixed


@pytest.mark.integration
def test_a_plugin_that_is_not_a_callback_class_is_never_called(tmp_path):
    marker = tmp_path / "ran"
    result = run_cli("train", "--dataset=digits", f"--callbacks=os:system(command='touch {marker}')", f"--workdir={tmp_path / 'run'}")
    assert_one_line(result, 2, "not a keras.callbacks.Callback subclass; nothing was called")
    assert not marker.exists()


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"hidden_units": None}, "`hidden_units` (None) must be one or more integers"),
        ({"hidden_units": "32,64"}, "`hidden_units` ('32,64') must be one or more integers"),
        ({"callbacks": 7}, "`callbacks` (7) must be a list"),
        ({"seed": 2**32}, "`seed` (4294967296) must be an integer from 0 to 4,294,967,295"),
        ({"epochs": np.float64(2.5)}, "`epochs` (2.5) must be an integer >= 1"),
    ],
)
def test_train_config_refuses_with_the_field_named(changes, expected):
    with pytest.raises(ConfigError) as caught:
        TrainConfig(**changes)
    assert expected in str(caught.value)


def test_train_config_takes_numpy_scalars_and_single_values():
    config = TrainConfig(hidden_units=np.int64(32), epochs=np.int64(3), learning_rate=np.float32(0.5), callbacks="callbacks:EarlyStopping")
    assert config.hidden_units == (32,) and type(config.epochs) is int and type(config.learning_rate) is float
    assert config.callbacks == ("callbacks:EarlyStopping",)
    assert TrainConfig(callbacks=None).callbacks == ()
    assert json.loads(json.dumps(config.to_dict()))["epochs"] == 3


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"dropout": 1.0}, "`dropout` (1.0) must be a number in [0, 1)"),
        ({"dropout": -0.5}, "`dropout` (-0.5) must be a number in [0, 1)"),
        ({"learning_rate": 0}, "`learning_rate` (0) must be a finite number > 0"),
        ({"learning_rate": -1}, "`learning_rate` (-1) must be a finite number > 0"),
        ({"learning_rate": float("nan")}, "`learning_rate` (nan) must be a finite number > 0"),
        ({"hidden_units": (1_000_000, 1_000_000)}, "would make a model of 1,000,796,000,010 parameters"),
    ],
)
def test_build_mlp_checks_what_train_config_checks(changes, expected):
    with pytest.raises(ConfigError) as caught:
        build_mlp((28, 28), 10, **changes)
    assert expected in str(caught.value)


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", test_fraction=0.2, seed=0, max_train_samples=200)


def replaced(dataset, **changes):
    values = {name: getattr(dataset, name) for name in ("x_train", "y_train", "x_test", "y_test", "source", "num_classes", "test_split_carved")}
    return Dataset(**{**values, **changes})


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: {"x_train": d.x_train / 255.0}, "`x_train` has pixel dtype float64; a Dataset holds uint8 pixels"),
        (lambda d: {"x_test": d.x_test.astype(np.int64) * 4}, "`x_test` has pixel dtype int64"),
        (lambda d: {"y_train": np.where(d.y_train == 0, 10, d.y_train)}, "`y_train` has labels from 1 to 10, but `num_classes` is 10"),
        (lambda d: {"x_test": d.x_test[:0], "y_test": d.y_test[:0]}, "`x_test` is empty"),
    ],
)
def test_a_hand_built_dataset_is_checked_before_training(digits, change, expected):
    with pytest.raises(DataError) as caught:
        replaced(digits, **change(digits))
    assert expected in str(caught.value)


def test_two_trainings_in_threads_of_one_process_are_refused(tmp_path, digits):
    import keras

    started, release = threading.Event(), threading.Event()

    class Hold(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            started.set()
            release.wait(60)

    errors = []

    def first():
        try:
            train_and_evaluate(TrainConfig(**TINY), tmp_path / "first", dataset=digits, verbose=0, extra_callbacks=[Hold()])
        except Exception as error:  # reported through the list, asserted below
            errors.append(error)

    thread = threading.Thread(target=first)
    thread.start()
    try:
        assert started.wait(120)
        with pytest.raises(RuntimeError, match="another thread of this process is training a model"):
            train_and_evaluate(TrainConfig(**TINY), tmp_path / "second", dataset=digits, verbose=0)
    finally:
        release.set()
        thread.join(120)
    assert errors == [] and (tmp_path / "first" / "model.keras").is_file()


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (lambda state: {**state, "epochs_done": "two"}, "epochs_done is 'two'"),
        (lambda state: {**state, "weights": "../../etc/passwd"}, "weights is '../../etc/passwd', not a file name"),
        (lambda state: {**state, "best_weights": 5}, "best_weights is 5"),
        (lambda state: {**state, "history": []}, "history is not an object"),
        (lambda state: [state], "not a JSON object"),
    ],
)
def test_a_hand_edited_state_json_names_the_file_and_the_way_out(tmp_path, digits, damage, expected):
    train_and_evaluate(TrainConfig(**TINY), tmp_path / "run", dataset=digits, verbose=0)
    state_path = tmp_path / "run" / "checkpoint" / "state.json"
    state_path.write_text(json.dumps(damage(json.loads(state_path.read_text()))))
    with pytest.raises(CorruptCheckpointError) as caught:
        load_checkpoint(tmp_path / "run" / "checkpoint")
    assert expected in str(caught.value) and "state.json" in str(caught.value) and "--overwrite" in str(caught.value)


def test_resume_drops_a_torn_last_epoch_log_line_and_refuses_bad_early_stopping_state(tmp_path, digits):
    config = TrainConfig(**{**TINY, "epochs": 2, "early_stopping": True})
    train_and_evaluate(config, tmp_path / "run", dataset=digits, verbose=0)
    run = tmp_path / "run"
    (run / "metrics.json").unlink()  # as a kill after the last checkpoint leaves it
    with open(run / "epochs.jsonl", "a") as log:
        log.write('{"epoch": 3, "loss": 0.')  # torn mid-write
    resumed = train_and_evaluate(config.replace(epochs=3), run, dataset=digits, resume=True, verbose=0)
    assert [json.loads(line)["epoch"] for line in (run / "epochs.jsonl").read_text().splitlines()] == [1, 2, 3]
    assert len(resumed.history["loss"]) == 3
    (run / "metrics.json").unlink()
    state_path = run / "checkpoint" / "state.json"
    state = json.loads(state_path.read_text())
    state["early_stopping"]["wait"] = "x"
    state_path.write_text(json.dumps(state))
    with pytest.raises(CorruptCheckpointError, match="early stopping state is damaged"):
        train_and_evaluate(config.replace(epochs=4), run, dataset=digits, resume=True, verbose=0)


@pytest.mark.integration
def test_evaluate_refuses_a_damaged_config_json_and_a_model_with_other_outputs(tmp_path, digits):
    train_and_evaluate(TrainConfig(**TINY), tmp_path / "run", dataset=digits, verbose=0)
    (tmp_path / "run" / "config.json").write_text("[1, 2]")
    assert_one_line(run_cli("evaluate", f"--model={tmp_path / 'run'}"), 2, "is not a run's config.json")
    (tmp_path / "run" / "config.json").write_text("{torn")
    assert_one_line(run_cli("evaluate", f"--model={tmp_path / 'run'}"), 2, "config.json', beside the model, is damaged")
    x = np.random.default_rng(0).integers(0, 256, (40, 8, 8)).astype(np.uint8)
    np.savez(tmp_path / "three.npz", x_train=x, y_train=np.arange(40) % 3, x_test=x[:9], y_test=np.arange(9) % 3)
    result = run_cli("evaluate", f"--model={tmp_path / 'run'}", f"--dataset={tmp_path / 'three.npz'}")
    assert_one_line(result, 2, "has 10 outputs but --dataset", "has 3 classes")


@pytest.mark.integration
def test_evaluate_scores_an_uncompiled_model_with_our_loss_and_says_so(tmp_path, digits):
    import keras

    model = build_mlp(digits.input_shape, digits.num_classes, hidden_units=(8,))
    bare = keras.Sequential(model.layers)  # the same layers, never compiled
    bare.build((None, *digits.input_shape))
    bare.save(tmp_path / "bare.keras")
    result = run_cli("evaluate", f"--model={tmp_path / 'bare.keras'}", "--dataset=digits")
    assert result.returncode == 0, result.stderr
    assert "note:  the model was not compiled with sparse categorical cross-entropy; scored with it and accuracy" in result.stdout


def test_mutated_npz_and_idx_files_load_or_fail_with_one_data_error_under_a_memory_limit():
    script = os.path.join(os.path.dirname(__file__), "fuzz_data_files.py")
    result = subprocess.run([sys.executable, script], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "every file loaded or was refused in one DataError line" in result.stdout


def test_a_diverged_seed_is_reported_in_the_table_and_the_other_seeds_are_kept(digits, monkeypatch):
    from keras_minibatch.training.core import Trainer
    from keras_minibatch.tuning.seed_variance import _format_report, seed_variance

    original = Trainer.train

    def diverging_for_seed_2(self, *args, **kwargs):
        outcome = original(self, *args, **kwargs)
        if self.seed == 2:
            outcome.divergence = "loss became nan at epoch 1, batch 3"
        return outcome

    monkeypatch.setattr(Trainer, "train", diverging_for_seed_2)
    hyperparameters = {"num_layers": 1, "units_1": 8, "activation": "relu", "dropout": 0.0, "optimizer": "adam", "learning_rate": 1e-3, "batch_size": 16}
    summary = seed_variance(TrainConfig(**TINY), hyperparameters, [1, 2, 3], digits)
    assert summary["diverged_seeds"] == [2]
    assert [run["seed"] for run in summary["runs"] if "diverged" not in run] == [1, 3]
    assert summary["objective_std"] is not None and summary["noise"] is not None
    report = _format_report(summary, best={"trial_id": "0", "value": 0.5}, trials=[], epochs=1)
    assert "         2  diverged: loss became nan at epoch 1, batch 3" in report
    assert "seeds 2 diverged and are left out of the spread" in report
    only_one = seed_variance(TrainConfig(**TINY), hyperparameters, [2, 4], digits)
    assert only_one["noise"] is None and only_one["within_noise"] is None
    assert "fewer than two seeds trained to the end (1 of 2 diverged)" in _format_report(only_one, best={"trial_id": "0", "value": 0.5}, trials=[], epochs=1)


@pytest.mark.integration
def test_a_plugin_that_raises_in_train_is_one_line_and_the_run_resumes_once_it_is_fixed(tmp_path):
    plugin = tmp_path / "raiser.py"
    plugin.write_text(
        "import keras\nclass Boom(keras.callbacks.Callback):\n"
        "    def on_epoch_end(self, epoch, logs=None):\n        if epoch == 1:\n            raise RuntimeError('plug-in exploded')\n"
    )
    workdir = tmp_path / "run"
    args = ("train", "--dataset=digits", "--max_train_samples=200", "--epochs=3", "--hidden_units=8", "--callbacks=raiser:Boom", f"--workdir={workdir}")
    failed = run_cli(*args, env_extra={"PYTHONPATH": str(tmp_path)}, timeout=300)
    assert_one_line(failed, 1, "--callbacks raiser:Boom raised RuntimeError: plug-in exploded", "fix the callback, then rerun the same command with --resume")
    assert "raise RuntimeError('plug-in exploded')" in (workdir / "failure.txt").read_text()
    plugin.write_text("import keras\nclass Boom(keras.callbacks.Callback):\n    pass\n")
    resumed = run_cli(*args, "--resume", env_extra={"PYTHONPATH": str(tmp_path)}, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming after epoch 1 of 3" in resumed.stdout
    assert (workdir / "model.keras").is_file() and not (workdir / "failure.txt").exists()


@pytest.mark.integration
def test_a_failed_trial_is_one_line_with_its_traceback_kept_in_the_trial_folder(tmp_path):
    (tmp_path / "raiser.py").write_text(
        "import keras\nclass Boom(keras.callbacks.Callback):\n"
        "    def on_epoch_end(self, epoch, logs=None):\n        raise RuntimeError('plug-in exploded')\n"
    )
    workdir = tmp_path / "search"
    result = run_cli("tune", "--dataset=digits", "--max_trials=2", "--epochs=1", "--hidden_units=8", "--callbacks=raiser:Boom",
                     f"--workdir={workdir}", env_extra={"PYTHONPATH": str(tmp_path)}, timeout=300)
    assert "Traceback" not in result.stdout + result.stderr
    assert [line.split("  ")[1] for line in result.stdout.splitlines() if line.startswith("trial ")] == ["FAILED: RuntimeError: plug-in exploded"] * 2
    assert_one_line(result, 1, "no trial completed")
    assert "RuntimeError: plug-in exploded" in (workdir / "tuner" / "trial_0" / "failure.txt").read_text()


@pytest.mark.parametrize(("command", "early_stopping"), [("train", "--early_stopping"), ("tune", "--early_stopping"), ("train", "--noearly_stopping")])
def test_an_early_stopping_monitor_no_epoch_logs_is_refused_before_anything_runs(tmp_path, command, early_stopping):
    # Early stopping reads the logs before any plug-in callback could add a key: only these four exist.
    workdir = tmp_path / "run"
    result = run_cli(command, "--dataset=digits", "--epochs=1", early_stopping, "--early_stopping_monitor=val_nope", f"--workdir={workdir}", timeout=60)
    assert_one_line(result, 2, "--early_stopping_monitor=val_nope must be one of: loss, accuracy, val_loss, val_accuracy")
    assert not workdir.exists()


def test_tune_resume_of_a_folder_that_does_not_exist_is_refused(tmp_path):
    result = run_cli("tune", "--dataset=digits", f"--workdir={tmp_path / 'missing'}", "--resume", timeout=60)
    assert_one_line(result, 1, "does not exist, so there is no search to resume")
    assert not (tmp_path / "missing").exists()


@pytest.fixture(scope="module")
def finished_search(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("search") / "s"
    result = run_cli("tune", "--dataset=digits", "--max_trials=2", "--epochs=1", "--hidden_units=8", f"--workdir={workdir}", timeout=300)
    assert result.returncode == 0, result.stderr
    return workdir


@pytest.mark.integration
@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (lambda s: (s / "tuner" / "oracle.json").write_text("{}"), "oracle.json' is corrupt (it lacks ongoing_trials"),
        (lambda s: (s / "tuner" / "trial_0" / "trial.json").write_text("[]"), "trial.json' is corrupt (it holds a list, not a JSON object)"),
        (lambda s: (s / "search_config.json").write_text("[]"), "search_config.json' is corrupt (it holds a list"),
        (lambda s: (s / "trials.json").write_text('[{"trial_id": "0", '), "trials.json' is corrupt"),
        (lambda s: __import__("shutil").rmtree(s / "tuner" / "trial_1"), "lists trial 1 in oracle.json but its folder is missing"),
    ],
)
def test_damaged_search_state_is_one_line_naming_the_file(finished_search, tmp_path, damage, expected):
    import shutil

    workdir = tmp_path / "s"
    shutil.copytree(finished_search, workdir)
    damage(workdir)
    result = run_cli("tune", "--dataset=digits", "--max_trials=3", "--epochs=1", "--hidden_units=8", f"--workdir={workdir}", "--resume", timeout=120)
    assert_one_line(result, 1, expected, "--overwrite")


def test_a_truncated_best_weights_file_names_the_file_and_the_way_out(tmp_path, digits):
    train_and_evaluate(TrainConfig(**{**TINY, "epochs": 2, "early_stopping": True}), tmp_path / "run", dataset=digits, verbose=0)
    best = next((tmp_path / "run" / "checkpoint").glob("*.best.npz"))
    best.write_bytes(best.read_bytes()[:100])
    with pytest.raises(CorruptCheckpointError) as caught:
        load_checkpoint(tmp_path / "run" / "checkpoint")
    assert best.name in str(caught.value) and "is corrupt or missing" in str(caught.value) and "--overwrite" in str(caught.value)
