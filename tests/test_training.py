"""The training spine on tiny real data (scikit-learn digits)."""

import json
import math
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from tensorboard.backend.event_processing import event_accumulator

from keras_minibatch import TrainConfig, load_dataset, train_and_evaluate
from keras_minibatch.config import EPOCH_LOG_KEYS
from keras_minibatch.training import scoring
from keras_minibatch.training.validation_rows import split_for_validation

REPO_ROOT = Path(__file__).resolve().parents[1]
TINY = dict(dataset="digits", max_train_samples=240, epochs=2, hidden_units=(16,), batch_size=16)


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", test_fraction=0.2, seed=0)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("run")
    result = train_and_evaluate(TrainConfig(**TINY), workdir, verbose=0)
    return result


def test_run_folder_holds_every_artifact(tiny_run):
    names = {path.name for path in tiny_run.workdir.iterdir()}
    assert {"model.keras", "config.json", "history.csv", "history.json", "metrics.json", "epochs.jsonl", "tensorboard", "learning_curves.png", "confusion_matrix.png", "timings.json"} <= names
    assert not [name for name in names if ".tmp" in name]


def test_metrics_json_is_the_last_file_written(tiny_run):
    # The plots are drawn in a process of their own: the run waits for them before metrics.json.
    written = {path.name: path.stat().st_mtime_ns for path in tiny_run.workdir.iterdir() if path.is_file()}
    assert all(mtime <= written["metrics.json"] for mtime in written.values())  # Equal within the clock's tick.


def test_timings_json_holds_every_phase(tiny_run):
    timings = json.loads((tiny_run.workdir / "timings.json").read_text())
    phases = ("data", "build", "first_epoch", "steady_epochs", "evaluate", "save", "plots", "other")
    assert set(timings) == {"import", *phases, "run", "epochs"}
    assert all(timings[name] >= 0 for name in (*phases, "run", "import"))
    assert sum(timings[name] for name in phases) == pytest.approx(timings["run"], abs=0.01)
    assert timings["first_epoch"] > 0 and timings["epochs"] == 2


def test_history_and_metrics_files_agree_with_the_result(tiny_run):
    history = json.loads((tiny_run.workdir / "history.json").read_text())
    assert history == tiny_run.history
    assert set(history) == set(EPOCH_LOG_KEYS)  # what `early_stopping_monitor` may name
    assert all(len(values) == 2 for values in history.values())
    metrics = json.loads((tiny_run.workdir / "metrics.json").read_text())
    assert metrics["test_accuracy"] == pytest.approx(tiny_run.test_metrics["test_accuracy"])
    assert set(tiny_run.test_metrics) == {"test_loss", "test_accuracy"}
    assert len((tiny_run.workdir / "history.csv").read_text().splitlines()) == 3


def test_config_json_records_config_and_versions(tiny_run):
    saved = json.loads((tiny_run.workdir / "config.json").read_text())
    # With the choice `jit_compile="auto"` made: a resumed run makes the same one.
    assert TrainConfig.from_dict(saved["config"]) == TrainConfig(**TINY, jit_compile=False)
    assert {"tensorflow", "keras", "keras_tuner", "numpy", "python"} <= set(saved["versions"])


def test_saved_model_loads_without_our_packages(tiny_run, digits):
    probe = (
        "import sys\n"
        "sys.modules['keras_minibatch'] = None\n"  # any import of ours would now fail
        "sys.modules['callbacks'] = None\n"
        "import keras, numpy as np\n"
        "model = keras.models.load_model(sys.argv[1])\n"
        "print(model.predict(np.zeros((1, 8, 8), 'uint8'), verbose=0).shape)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe, str(tiny_run.workdir / "model.keras")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("(1, 10)")


def _scalars(folder: Path, tag: str) -> list[float]:
    accumulator = event_accumulator.EventAccumulator(str(folder), size_guidance={event_accumulator.TENSORS: 0})
    accumulator.Reload()
    return [float(np.asarray(keras.ops.convert_to_numpy(event.tensor_proto.float_val or [0])[0])) if event.tensor_proto.float_val else float(np.frombuffer(event.tensor_proto.tensor_content, np.float32)[0]) for event in accumulator.Tensors(tag)]


def test_tensorboard_reader_finds_train_and_validation_scalars(tiny_run):
    logdir = tiny_run.workdir / "tensorboard"
    train_loss = _scalars(logdir / "train", "epoch_loss")
    val_loss = _scalars(logdir / "validation", "epoch_loss")
    assert train_loss == pytest.approx(tiny_run.history["loss"], rel=1e-5)
    assert val_loss == pytest.approx(tiny_run.history["val_loss"], rel=1e-5)
    assert len(_scalars(logdir / "validation", "epoch_accuracy")) == 2
    assert _scalars(logdir / "train", "epoch_learning_rate") == pytest.approx([TrainConfig(**TINY).learning_rate] * 2)


def test_tensorboard_holds_hparams_and_test_metrics(tiny_run):
    accumulator = event_accumulator.EventAccumulator(str(tiny_run.workdir / "tensorboard"))
    accumulator.Reload()
    assert "hparams" in accumulator.PluginAssets("hparams") or accumulator.PluginTagToContent("hparams")
    assert {"test_accuracy", "test_loss"} <= set(accumulator.Tags()["tensors"])


def test_same_seed_gives_the_same_history(tmp_path):
    first = train_and_evaluate(TrainConfig(**TINY), tmp_path / "a", verbose=0)
    second = train_and_evaluate(TrainConfig(**TINY), tmp_path / "b", verbose=0)
    assert first.history == second.history
    assert first.test_metrics == second.test_metrics


def test_different_seed_gives_a_different_history(tmp_path, tiny_run):
    other = train_and_evaluate(TrainConfig(**{**TINY, "seed": 1}), tmp_path, verbose=0)
    assert other.history != tiny_run.history


def one_epoch(data, steps, *, labels=False):
    """The pixels (or labels) of one epoch of a `fit` input: arrays or an endless dataset."""
    part = 1 if labels else 0
    if isinstance(data, tuple):
        return np.asarray(data[part])
    return np.concatenate([np.asarray(batch[part]) for batch in data.take(steps)])


def rows_fit_sees(kwargs, *, labels=False):
    """What one epoch of `fit(**kwargs)` trains on, then what it validates on."""
    part = 1 if labels else 0
    if "steps_per_epoch" in kwargs:
        return one_epoch(kwargs["x"], kwargs["steps_per_epoch"], labels=labels), one_epoch(kwargs["validation_data"], kwargs["validation_steps"], labels=labels)
    return np.asarray(kwargs["y" if labels else "x"]), np.asarray(kwargs["validation_data"][part])


def test_test_split_is_scored_once_and_never_fitted(tmp_path, digits, monkeypatch):
    test_scorings, fitted_inputs = [], []
    original_fit = keras.Model.fit

    def spy(original):
        def looking(model, x=None, *args, **kwargs):
            # fit() also calls evaluate() for the validation rows; count the test split only.
            test_scorings.append(x is digits.x_test)
            return original(model, x, *args, **kwargs)

        return looking

    def spy_fit(self, **kwargs):
        # The rows fit trains on and the held-out rows validation_split would take.
        fitted_inputs.append(np.concatenate(rows_fit_sees(kwargs)))
        return original_fit(self, **kwargs)

    for owner, name in ((keras.Model, "evaluate"), (keras.Model, "predict"), (scoring, "predict_probabilities")):
        monkeypatch.setattr(owner, name, spy(getattr(owner, name)))
    monkeypatch.setattr(keras.Model, "fit", spy_fit)
    train_and_evaluate(TrainConfig(**{**TINY, "max_train_samples": None}), tmp_path, dataset=digits, verbose=0)
    assert test_scorings.count(True) == 1
    assert test_scorings[-1] is True  # after training
    train_rows = {row.tobytes() for row in digits.x_train}
    fitted_rows = {row.tobytes() for row in fitted_inputs[0]}
    assert fitted_rows == train_rows  # fit (train + validation) saw exactly the training split


def test_fit_validates_on_the_rows_validation_split_would_take(tmp_path, digits, monkeypatch):
    received = {}
    original_fit = keras.Model.fit

    def spy_fit(self, **kwargs):
        (received["x"], received["validation_x"]), (received["y"], received["validation_y"]) = rows_fit_sees(kwargs), rows_fit_sees(kwargs, labels=True)
        assert "validation_split" not in kwargs
        return original_fit(self, **kwargs)

    monkeypatch.setattr(keras.Model, "fit", spy_fit)
    config = TrainConfig(**{**TINY, "max_train_samples": None})
    train_and_evaluate(config, tmp_path, dataset=digits, verbose=0)
    x, y, _ = split_for_validation(digits, config)
    # Keras' `validation_split` takes the last floor(n * (1 - split)) rows as validation.
    num_fit = int(math.floor(len(x) * (1 - config.validation_split)))
    # One epoch trains on every fitted row once, in its own order: the same (image, label) pairs.
    pairs = lambda images, labels: sorted(image.tobytes() + bytes([label]) for image, label in zip(images, labels))
    assert pairs(received["x"], received["y"]) == pairs(x[:num_fit], y[:num_fit])
    np.testing.assert_array_equal(received["validation_x"], x[num_fit:])
    np.testing.assert_array_equal(received["validation_y"], y[num_fit:])


def test_validation_split_holds_out_every_class(digits):
    config = TrainConfig(validation_split=0.1)
    _, y, num_fit = split_for_validation(digits, config)
    assert set(np.unique(y[num_fit:])) == set(range(10))
    assert num_fit == int(len(y) * 0.9)


def test_early_stopping_reports_why_it_stopped(tmp_path):
    config = TrainConfig(**{**TINY, "epochs": 30, "early_stopping": True, "early_stopping_monitor": "loss", "early_stopping_patience": 0, "early_stopping_min_delta": 10.0})
    result = train_and_evaluate(config, tmp_path, verbose=0)
    assert len(result.history["loss"]) < 30
    assert result.stop_reason
    assert json.loads((tmp_path / "metrics.json").read_text())["stop_reason"] == result.stop_reason


def test_user_callback_plugs_in_through_the_config(tmp_path, monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(REPO_ROOT / "examples"))
    config = TrainConfig(**{**TINY, "callbacks": ("my_callbacks:PrintLearningRate(every=1)",)})
    train_and_evaluate(config, tmp_path, verbose=0)
    assert capsys.readouterr().out.count("learning rate 0.001") == 2


def test_header_and_epoch_lines_are_printed(tmp_path):
    lines = []
    train_and_evaluate(TrainConfig(**TINY), tmp_path, print_fn=lines.append)
    text = "\n".join(lines)
    for expected in ("data:", "train:", "validation:", "test:", "steps/epoch:", "trainable", "hyperparameters:", "learning_rate=0.001"):
        assert expected in text
