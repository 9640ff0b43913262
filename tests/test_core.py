"""The one training core: every trainer goes through `core.Trainer`, and the copies no longer drift."""

import re
import subprocess
import sys
from pathlib import Path

import keras
import pytest

import callbacks as minibatch_callbacks
from keras_minibatch import TrainConfig, load_dataset
from keras_minibatch.training.core import Trainer
from keras_minibatch.tuning.search_config import SearchConfig
from keras_minibatch.tuning.seed_variance import seed_variance
from keras_minibatch.tuning.search import search

LIBRARY = Path(__file__).resolve().parents[1] / "keras_minibatch"
TINY_TRAIN = dict(dataset="digits", max_train_samples=200, epochs=2, hidden_units=(16,), batch_size=16, early_stopping=True, early_stopping_patience=1)
# Nothing left to search: the one trial has the settings seed variance retrains.
PINNED = SearchConfig(tuner="random", max_trials=1, fixed={"num_layers": 1, "units": 16, "activation": "relu", "dropout": 0.0, "optimizer": "adam", "learning_rate": 1e-3, "batch_size": 16})


@pytest.mark.parametrize(
    "pattern, modules",
    [
        # One place fits and scores a model, and fuses its updates.
        (r"\.fit\(\s*\*\*self\._inputs", ["core.py"]),
        (r"(?<!def )fuse_train_steps\(", ["core.py"]),
        # One place scores a model: one pass of predictions, the compiled loss and metrics on them.
        (r"model\.evaluate\(|\.compute_loss\(", ["scoring.py"]),
        # Strategies are made by `distribution` alone, which the core asks for one.
        (r"(?<!def )make_strategy\(", ["core.py", "distribution.py"]),
        # The standard callbacks are built in one place, for the core.
        (r"StopOnNonFiniteLoss\(\)", ["standard_callbacks.py"]),
        (r"(?<!def )standard_callbacks\(", ["core.py"]),
    ],
)
def test_each_training_step_is_written_in_one_module(pattern, modules):
    holders = sorted(path.name for path in LIBRARY.rglob("*.py") if re.search(pattern, path.read_text()))
    assert holders == modules


def test_no_library_module_calls_fit_but_the_core():
    callers = sorted(
        f"{path.name}: {line.strip()}" for path in LIBRARY.rglob("*.py") if path.name != "core.py"
        for line in path.read_text().splitlines() if "model.fit(" in line and not line.strip().startswith(("`", "#"))
    )
    assert callers == []


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", test_fraction=0.2, seed=0, max_train_samples=200)


def _record_fits(monkeypatch):
    fits = []
    original = Trainer.train

    def recording_fit(self, fit_rows, validation_rows=None, **kwargs):
        outcome = original(self, fit_rows, validation_rows, **kwargs)
        fits.append({"trainer": self, "kwargs": kwargs, "outcome": outcome, "rows": (len(fit_rows[1]), 0 if validation_rows is None else len(validation_rows[1]))})
        return outcome

    monkeypatch.setattr(Trainer, "train", recording_fit)
    return fits


def _training_settings(fit):
    """What decides the updates: batch sizes, fusing and XLA, rows, epochs and every callback that can change training."""
    trainer, outcome = fit["trainer"], fit["outcome"]
    # What only reports or records (KerasTuner's own hooks too), never changes the updates.
    bookkeeping = ("EpochScalars", "DeferredCheckpoint", "RequireObjective", "TunerCallback")
    stopper = next(callback for callback in outcome.callbacks if isinstance(callback, minibatch_callbacks.EarlyStopping))
    return {
        "batch_size": trainer.batch_size, "fit_batch_size": trainer.fit_batch_size, "fused": trainer.fused, "jit_compile": trainer.jit_compile, "rows": fit["rows"],
        "epochs": fit["kwargs"]["epochs"], "early_stopping": stopper.get_config(),
        "callbacks": [type(callback).__name__ for callback in outcome.callbacks if type(callback).__name__ not in bookkeeping],
    }


def test_seed_variance_trains_exactly_like_the_trial_it_judges(tmp_path, digits, monkeypatch):
    fits = _record_fits(monkeypatch)
    config = TrainConfig(**TINY_TRAIN)
    result = search(config, PINNED, tmp_path / "search", dataset=digits, retrain_winner=False, verbose=0)
    seed_variance(config, result.best_hyperparameters, [1, 2], digits, trials=result.trials)
    trial, *seed_runs = fits
    assert len(seed_runs) == 2
    for run in seed_runs:
        assert _training_settings(run) == _training_settings(trial)
    assert _training_settings(trial)["callbacks"] == ["EarlyStopping", "StopOnNonFiniteLoss", "RaiseOnStopRequest"]


def test_the_winner_and_train_use_the_same_core(tmp_path, digits, monkeypatch):
    fits = _record_fits(monkeypatch)
    search(TrainConfig(**TINY_TRAIN), PINNED, tmp_path / "search", dataset=digits, verbose=0)
    *_, winner = fits
    assert winner["rows"] == (len(digits.y_train), 0)  # every training row, nothing held out
    names = [type(callback).__name__ for callback in winner["outcome"].callbacks]
    assert names == ["EpochScalars", "StopOnNonFiniteLoss", "RaiseOnStopRequest"]


def test_compare_runs_only_its_clock_and_the_stop_guard_inside_its_budget(tmp_path, digits, monkeypatch):
    from keras_minibatch.batch_sizes.comparison import compare_batch_sizes

    fits = _record_fits(monkeypatch)
    config = TrainConfig(**{**TINY_TRAIN, "early_stopping": False})
    compare_batch_sizes(config, ["full", 32], tmp_path / "compare", budget_epochs=1, budget_seconds=None, dataset=digits, print_fn=lambda line: None)
    clocked = [fit for fit in fits if fit["kwargs"].get("extra_callbacks")]
    assert len(clocked) == 2
    for fit in clocked:
        # The clock, and the guard that re-raises a lost Ctrl-C (one flag read per call).
        assert [type(callback).__name__ for callback in fit["outcome"].callbacks] == ["RegimeClock", "RaiseOnStopRequest"]


@pytest.mark.parametrize("flag", ["--early_stopping", "--callbacks=callbacks:EpochMetricsLogger(filename='x.csv')", "--distribution=multi_worker"])
def test_compare_refuses_what_it_cannot_honour_at_the_flag_check(tmp_path, flag):
    result = subprocess.run([sys.executable, "-m", "keras_minibatch", "compare", flag, f"--workdir={tmp_path / 'c'}"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert flag.split("=")[0] in result.stderr and "tensorflow" not in result.stderr.lower()
    assert not (tmp_path / "c").exists()


def test_a_fit_without_validation_rows_has_no_validation(digits):
    trainer = Trainer(TrainConfig(**{**TINY_TRAIN, "early_stopping": False}), input_shape=digits.input_shape, num_classes=digits.num_classes, epoch_rows=len(digits.y_train))
    outcome = trainer.train((digits.x_train, digits.y_train), epochs=1)
    assert set(outcome.history) == {"loss", "accuracy"}
    assert isinstance(trainer.model, keras.Model) and outcome.divergence is None


def test_the_training_step_is_traced_once(digits, monkeypatch):
    # The optimizer's and metrics' variables exist before the first trace, which TensorFlow would otherwise repeat.
    traces = []
    original = keras.Sequential.train_step
    monkeypatch.setattr(keras.Sequential, "train_step", lambda self, data: (traces.append(1), original(self, data))[1])
    trainer = Trainer(TrainConfig(**{**TINY_TRAIN, "early_stopping": False, "jit_compile": False}), input_shape=digits.input_shape, num_classes=digits.num_classes, epoch_rows=len(digits.y_train))
    trainer.train((digits.x_train, digits.y_train), epochs=2)
    assert len(traces) == 1
