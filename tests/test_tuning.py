"""Hyperparameter search on tiny real data (200 scikit-learn digits, 1-2 epochs, 1-3 trials)."""

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import types
import warnings
from pathlib import Path

import keras
import keras_tuner
import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from tensorboard.backend.event_processing import event_accumulator
from tensorboard.plugins.hparams import api_pb2
from tensorboard.plugins.hparams import metadata as hparams_metadata

from keras_minibatch import TrainConfig, load_dataset
from keras_minibatch.tuning import oracles, tuners
from keras_minibatch.config import ConfigError
from keras_minibatch.training import scoring
from keras_minibatch.training.core import Trainer
from keras_minibatch.tuning.hypermodel import MLPHyperModel, RequireObjective
from keras_minibatch.run_folders.rundir import RunDirError
from keras_minibatch.tuning.search_config import SearchConfig
from keras_minibatch.tuning.seed_variance import seed_variance, seed_variance_report
from keras_minibatch.tuning.search import load_tuner, search
from keras_minibatch.tuning.search_result import SearchError
from keras_minibatch.tuning.trial_config import train_config_for
from keras_minibatch.tuning.trial_recorder import TrialRecorder
from keras_minibatch.tuning.trial_table import format_trials_table

REPO_ROOT = Path(__file__).resolve().parents[1]
TINY_TRAIN = {"dataset": "digits", "max_train_samples": 200, "epochs": 2, "hidden_units": (16,), "batch_size": 16, "learning_rate": 3e-3}
TINY_SPACE = {
    "max_trials": 3, "num_layers_range": (1, 2), "units_choices": (8, 16), "batch_size_choices": (16, 32),
    "learning_rate_range": (1e-3, 1e-2), "optimizer_choices": ("adam", "rmsprop"),
}
# Plain SGD at this rate overflows the weights of a relu MLP within the first batches.
DIVERGING = {"optimizer": "sgd", "activation": "relu", "learning_rate": 1e30}


class _Died(BaseException):
    """Stands in for SIGKILL: KerasTuner catches `Exception`, not this."""


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", test_fraction=0.2, seed=0, max_train_samples=200)


@pytest.fixture(scope="module")
def random_run(tmp_path_factory, digits):
    """A random search with spies on every fit and every scoring (evaluate, or the test split's one pass), shared by the tests below."""
    calls, lines = [], []
    original_fit, original_evaluate, original_predict = Trainer.train, keras.Model.evaluate, scoring.predict_probabilities

    def spy_fit(self, fit_rows, validation_rows=None, **kwargs):
        held_out = [np.asarray(validation_rows[0])] if validation_rows is not None else []
        calls.append(("fit", np.concatenate([np.asarray(fit_rows[0]), *held_out])))
        return original_fit(self, fit_rows, validation_rows, **kwargs)

    def spy_evaluate(self, x=None, y=None, **kwargs):
        calls.append(("evaluate", x is digits.x_test))
        return original_evaluate(self, x, y, **kwargs)

    def spy_predict(model, x, **kwargs):
        calls.append(("evaluate", x is digits.x_test))
        return original_predict(model, x, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Trainer, "train", spy_fit)
        patch.setattr(keras.Model, "evaluate", spy_evaluate)
        patch.setattr(scoring, "predict_probabilities", spy_predict)
        result = search(
            TrainConfig(**TINY_TRAIN), SearchConfig(tuner="random", **TINY_SPACE), tmp_path_factory.mktemp("random") / "search",
            dataset=digits, print_fn=lines.append,
        )
    return types.SimpleNamespace(result=result, calls=calls, lines=lines)


def _hparams_content(folder: Path) -> dict:
    accumulator = event_accumulator.EventAccumulator(str(folder), size_guidance={event_accumulator.TENSORS: 0})
    accumulator.Reload()
    return accumulator


def test_every_trial_completes_within_the_budget(random_run):
    trials = random_run.result.trials
    assert [row["trial_id"] for row in trials] == ["0", "1", "2"]
    assert all(row["status"] == "COMPLETED" and row["failure"] is None for row in trials)
    assert all(0.0 <= row["objective"] <= 1.0 and row["epochs"] == 2 and row["seconds"] > 0 for row in trials)
    assert all({"num_layers", "units_1", "activation", "dropout", "optimizer", "learning_rate", "batch_size"} <= set(row["hyperparameters"]) for row in trials)


def test_inactive_layer_widths_are_left_out_of_a_trial(random_run):
    for row in random_run.result.trials:
        widths = {name for name in row["hyperparameters"] if name.startswith("units_")}
        assert widths == {f"units_{index}" for index in range(1, row["hyperparameters"]["num_layers"] + 1)}


def test_winner_is_the_trial_with_the_best_objective(random_run):
    result = random_run.result
    best = max(row["objective"] for row in result.trials)
    winner = next(row for row in result.trials if row["trial_id"] == result.best_trial_id)
    assert winner["objective"] == best
    assert result.best_hyperparameters == winner["hyperparameters"]
    assert result.retrain_epochs == winner["best_epoch"]
    hidden = [layer for layer in result.model.layers if layer.name.startswith("hidden_")]
    assert [layer.units for layer in hidden] == [winner["hyperparameters"][f"units_{index}"] for index in range(1, len(hidden) + 1)]
    assert len(hidden) == winner["hyperparameters"]["num_layers"]


def test_search_folder_holds_every_artifact(random_run):
    names = {path.name for path in random_run.result.workdir.iterdir()}
    assert {"tuner", "trials.csv", "trials.json", "best_hyperparameters.json", "model.keras", "metrics.json", "search_config.json", "tensorboard"} <= names
    assert not [name for name in names if ".tmp" in name]


def test_files_agree_with_the_result(random_run):
    result, workdir = random_run.result, random_run.result.workdir
    assert json.loads((workdir / "trials.json").read_text()) == result.trials
    assert len((workdir / "trials.csv").read_text().splitlines()) == 1 + 3
    best = json.loads((workdir / "best_hyperparameters.json").read_text())
    assert best["hyperparameters"] == result.best_hyperparameters
    assert TrainConfig.from_dict(best["train_config"]) == train_config_for(TrainConfig(**TINY_TRAIN), result.best_hyperparameters).replace(epochs=result.retrain_epochs)
    metrics = json.loads((workdir / "metrics.json").read_text())
    assert {key: metrics[key] for key in ("test_accuracy", "test_loss")} == result.test_metrics
    assert (metrics["num_trials"], metrics["num_failed"]) == (3, 0)
    probe = np.linspace(0, 255, 2 * 64).astype("uint8").reshape(2, 8, 8)
    reloaded = keras.models.load_model(workdir / "model.keras")
    np.testing.assert_allclose(reloaded.predict(probe, verbose=0), result.model.predict(probe, verbose=0), rtol=1e-6)


def test_test_split_is_never_seen_during_the_search(random_run, digits):
    calls = random_run.calls
    test_scorings = [index for index, (kind, value) in enumerate(calls) if kind == "evaluate" and value]
    fits = [index for index, (kind, _) in enumerate(calls) if kind == "fit"]
    assert len(test_scorings) == 1 and test_scorings[0] > max(fits)  # once, after all training
    train_rows = {row.tobytes() for row in digits.x_train}
    test_rows = {row.tobytes() for row in digits.x_test}
    for index in fits[:-1]:  # the trials: training rows only (validation_split carves from them)
        fitted = {row.tobytes() for row in calls[index][1]}
        assert fitted == train_rows and not fitted & test_rows
    assert {row.tobytes() for row in calls[fits[-1]][1]} == train_rows  # the winner: every training row


def test_prints_a_line_per_trial_then_the_sorted_table_and_test_metrics(random_run):
    lines = random_run.lines
    trial_lines = [line for line in lines if line.startswith("trial ")]
    assert [line.split("  ")[0] for line in trial_lines] == ["trial 1/3", "trial 2/3", "trial 3/3"]
    assert all("val_accuracy" in line and "s  num_layers=" in re.sub(r"  ~\S+ left in search", "", line) for line in trial_lines)
    assert ["left in search" in line for line in trial_lines] == [True, True, False]  # mean trial time x trials left
    table = next(line for line in lines if line.startswith("rank"))
    assert table.splitlines()[0].split() == ["rank", "trial", "val_accuracy", "best_epoch", "seconds", "hyperparameters"]
    scores = [float(row.split()[2]) for row in table.splitlines()[1:4]]
    assert scores == sorted(scores, reverse=True)
    assert table.splitlines()[-1] == "3 trials: 3 completed"
    assert lines[-2].startswith("test:  accuracy")


def test_tensorboard_holds_each_trials_scalars_and_hparams(random_run):
    tensorboard = random_run.result.workdir / "tensorboard"
    experiment = _hparams_content(tensorboard).PluginTagToContent("hparams")["_hparams_/experiment"]
    parsed = hparams_metadata.parse_experiment_plugin_data(experiment)
    assert {"num_layers", "units_1", "learning_rate", "batch_size"} <= {info.name for info in parsed.hparam_infos}
    assert "val_accuracy" in {info.name.tag for info in parsed.metric_infos}
    for row in random_run.result.trials:
        session = _hparams_content(tensorboard / row["trial_id"])
        content = session.PluginTagToContent("hparams")
        start = hparams_metadata.parse_session_start_info_plugin_data(content["_hparams_/session_start_info"])
        assert start.hparams["optimizer"].string_value == row["hyperparameters"]["optimizer"]
        assert start.hparams["learning_rate"].number_value == pytest.approx(row["hyperparameters"]["learning_rate"])
        end = hparams_metadata.parse_session_end_info_plugin_data(content["_hparams_/session_end_info"])
        assert end.status == api_pb2.STATUS_SUCCESS
        assert {"val_accuracy", "val_loss"} <= set(session.Tags()["tensors"])
        validation = _hparams_content(tensorboard / row["trial_id"] / "execution0" / "validation")
        assert len(validation.Tensors("epoch_accuracy")) == 2


def test_tuner_directory_reloads_with_keras_tuners_own_api(random_run):
    tuner = load_tuner(random_run.result.workdir)
    assert isinstance(tuner, keras_tuner.RandomSearch)
    assert sorted(tuner.oracle.trials) == ["0", "1", "2"]
    assert tuner.oracle.get_best_trials(1)[0].score == max(row["objective"] for row in random_run.result.trials)


def test_existing_folder_is_refused_without_resume_or_overwrite(random_run, digits):
    with pytest.raises(RunDirError, match="already holds a search; pass --resume to continue it, pass --overwrite to replace it"):
        search(TrainConfig(**TINY_TRAIN), SearchConfig(tuner="random", **TINY_SPACE), random_run.result.workdir, dataset=digits, verbose=0)


@pytest.mark.parametrize(
    ("train_changes", "space_changes", "message"),
    [
        ({}, {"objective": "val_loss"}, r"different objective \(val_accuracy there, val_loss now\)"),
        ({}, {"units_choices": (8, 32), "tuner": "grid"}, r"different search space \(tuner, units_choices\)"),
        ({"max_train_samples": 150, "epochs": 3}, {}, r"different training settings \(epochs, max_train_samples\)"),
    ],
)
def test_resume_refuses_a_folder_of_another_search(random_run, train_changes, space_changes, message):
    train = TrainConfig(**{**TINY_TRAIN, **train_changes})
    space = SearchConfig(**{"tuner": "random", **TINY_SPACE, **space_changes})
    with pytest.raises(RunDirError, match=message + r": its trials are not comparable.*Pass --overwrite to replace it"):
        search(train, space, random_run.result.workdir, resume=True, verbose=0)


def test_resume_refuses_the_same_settings_on_other_data(random_run):
    other_rows = load_dataset("digits", test_fraction=0.2, seed=1, max_train_samples=200)
    with pytest.raises(RunDirError, match=r"different data \(sha256\)"):
        search(TrainConfig(**TINY_TRAIN), SearchConfig(tuner="random", **TINY_SPACE), random_run.result.workdir, dataset=other_rows, resume=True, verbose=0)


def test_resume_and_overwrite_together_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="cannot be combined with --overwrite"):
        search(TrainConfig(**TINY_TRAIN), SearchConfig(), tmp_path, resume=True, overwrite=True)


def test_seed_variance_reports_spread_and_whether_top_trials_are_within_it(random_run, digits):
    result = random_run.result
    summary = seed_variance(TrainConfig(**TINY_TRAIN), result.best_hyperparameters, [1, 2], digits, trials=result.trials)
    assert [run["seed"] for run in summary["runs"]] == [1, 2]
    for name in ("objective", "val_accuracy", "test_accuracy"):
        assert summary[f"{name}_std"] >= 0.0 and 0.0 <= summary[f"{name}_mean"] <= 1.0
    assert summary["noise"] == pytest.approx(2 ** 0.5 * summary["objective_std"])
    assert result.best_trial_id in summary["trials_within_noise"]
    assert summary["within_noise"] == (len(summary["trials_within_noise"]) > 1)


def test_seed_variance_needs_two_distinct_seeds(digits, random_run):
    with pytest.raises(ValueError, match="two or more distinct integers"):
        seed_variance(TrainConfig(**TINY_TRAIN), random_run.result.best_hyperparameters, [3, 3], digits)


def test_seed_variance_report_retrains_a_finished_search_with_fresh_seeds(random_run, digits):
    result = random_run.result
    report = seed_variance_report(result, 2, dataset=digits)
    saved = json.loads((result.workdir / "seed_variance.json").read_text())
    assert saved["seeds"] == [1, 2] and saved["trial_id"] == result.best_trial_id  # the search's seed 0 plus 1 and 2
    assert saved["hyperparameters"] == result.best_hyperparameters and saved["report"] == report
    lines = report.splitlines()
    assert lines[0].startswith(f"seed variance: trial {int(result.best_trial_id) + 1}'s hyperparameters retrained with 2 seeds (1, 2), 2 epochs each")
    assert [line.split()[0] for line in lines[2:4]] == ["1", "2"]
    assert lines[4].split()[:3] == ["mean", "±", "std"] and f"{saved['test_accuracy_mean']:.4f} ± {saved['test_accuracy_std']:.4f}" in lines[4]
    assert f"noise between two single runs: ±{saved['noise']:.4f} val_accuracy" in report
    verdict = "the search did not tell them apart" if saved["within_noise"] else "beyond the noise: the winner stands"
    assert verdict in report


def test_seed_variance_report_reads_the_data_back_from_the_search_folder(random_run):
    by_folder = seed_variance_report(str(random_run.result.workdir), 2)
    assert by_folder.splitlines()[2:5] == seed_variance_report(random_run.result, 2, dataset=load_dataset("digits", test_fraction=0.2, seed=0, max_train_samples=200)).splitlines()[2:5]


@pytest.mark.parametrize("num_seeds", [1, 0, True])
def test_seed_variance_report_needs_two_seeds(random_run, num_seeds):
    with pytest.raises(ValueError, match=r"`num_seeds` \(.*\) must be an integer >= 2"):
        seed_variance_report(random_run.result, num_seeds)


def test_seed_variance_report_refuses_other_data_and_unfinished_folders(random_run, tmp_path):
    other_rows = load_dataset("digits", test_fraction=0.2, seed=1, max_train_samples=200)
    with pytest.raises(ValueError, match="is not the data of the search"):
        seed_variance_report(random_run.result, 2, dataset=other_rows)
    (tmp_path / "search_config.json").write_text((random_run.result.workdir / "search_config.json").read_text())
    with pytest.raises(RunDirError, match="holds no best_hyperparameters.json: the search has not finished"):
        seed_variance_report(tmp_path, 2)


def test_resuming_a_finished_search_runs_no_more_trials_and_keeps_its_one_test_score(random_run, digits, monkeypatch):
    from keras_minibatch.tuning import winner

    model_file = random_run.result.workdir / "model.keras"
    saved_model = model_file.stat().st_mtime_ns
    monkeypatch.setattr(winner, "retrain_winner", lambda *args, **kwargs: pytest.fail("the winner was retrained and the test split scored again"))
    lines = []
    again = search(TrainConfig(**TINY_TRAIN), SearchConfig(tuner="random", **TINY_SPACE), random_run.result.workdir, dataset=digits, resume=True, print_fn=lines.append)
    assert not [line for line in lines if line.startswith("trial ")]
    assert any("retrained and scored before: its model.keras and test score are kept" in line for line in lines)
    assert again.trials == random_run.result.trials
    assert again.test_metrics == random_run.result.test_metrics
    assert model_file.stat().st_mtime_ns == saved_model and again.model is not None
    metrics = json.loads((random_run.result.workdir / "metrics.json").read_text())
    assert {key: metrics[key] for key in again.test_metrics} == again.test_metrics and metrics["num_trials"] == len(again.trials)


@pytest.mark.parametrize("change", [None, "other_winner", "other_epochs", "no_model"])
def test_an_earlier_score_is_kept_only_for_the_same_winner_and_its_model(random_run, tmp_path, change):
    import shutil

    from keras_minibatch.tuning import winner

    folder = tmp_path / "search"
    shutil.copytree(random_run.result.workdir, folder)
    recorded = json.loads((folder / "metrics.json").read_text())
    rows = random_run.result.trials
    best = next(row for row in rows if row["trial_id"] == recorded["best_trial_id"])
    epochs = recorded["retrain_epochs"]
    if change == "other_winner":
        best = next(row for row in rows if row["trial_id"] != recorded["best_trial_id"])
    elif change == "other_epochs":
        epochs += 1
    elif change == "no_model":
        (folder / "model.keras").unlink()
    extended = [*rows, {**rows[-1], "trial_id": "99", "number": len(rows) + 1, "status": "FAILED", "objective": None}]  # a trial added since
    kept = winner.earlier_score(best, types.SimpleNamespace(epochs=epochs), folder, extended, SearchConfig(tuner="random", **TINY_SPACE))
    if change is not None:
        assert kept is None
        return
    model, test_metrics = kept
    assert test_metrics == random_run.result.test_metrics and model.count_params() == random_run.result.model.count_params()
    rewritten = json.loads((folder / "metrics.json").read_text())
    assert (rewritten["num_trials"], rewritten["num_failed"]) == (len(rows) + 1, recorded["num_failed"] + 1)


def test_a_resumed_search_whose_winner_was_not_scored_yet_retrains_it(random_run, digits, tmp_path):
    import shutil

    folder = tmp_path / "search"
    shutil.copytree(random_run.result.workdir, folder)
    (folder / "metrics.json").unlink()  # killed after the last trial, before the winner's score was written
    earlier_events = sorted((folder / "tensorboard" / "winner").rglob("events.out.tfevents.*"))
    assert earlier_events
    again = search(TrainConfig(**TINY_TRAIN), SearchConfig(tuner="random", **TINY_SPACE), folder, dataset=digits, resume=True, verbose=0)
    assert again.test_metrics == random_run.result.test_metrics  # the seeded retraining repeats exactly
    assert not any(path.exists() for path in earlier_events)  # TensorBoard draws only this retraining as the winner
    assert json.loads((folder / "metrics.json").read_text())["best_trial_id"] == random_run.result.best_trial_id


@pytest.fixture(scope="module", params=["bayesian", "hyperband"])
def other_run(request, tmp_path_factory, digits):
    """An uninterrupted search with each of the other tuners."""
    kind = request.param
    space = SearchConfig(tuner=kind, num_initial_points=2, hyperband_factor=2, **TINY_SPACE)
    with warnings.catch_warnings():
        # Bayesian optimization's Gaussian process fit on 2 points warns that a length
        # scale sits at its bound (sklearn ConvergenceWarning); that is expected here.
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        result = search(TrainConfig(**TINY_TRAIN), space, tmp_path_factory.mktemp(kind) / "search", dataset=digits, verbose=0)
    return types.SimpleNamespace(kind=kind, space=space, result=result)


def test_other_tuners_run_to_exactly_max_trials(other_run):
    result = other_run.result
    assert [row["status"] for row in result.trials] == ["COMPLETED"] * 3
    assert len(result.tuner.oracle.trials) == 3
    assert set(result.test_metrics) == {"test_accuracy", "test_loss"}
    if other_run.kind == "hyperband":  # factor 2 over 2 epochs: two 1-epoch trials, then the better one continued
        continued = [trial for trial in result.tuner.oracle.trials.values() if trial.hyperparameters.values["tuner/initial_epoch"] == 1]
        assert len(continued) == 1
        assert result.trials[int(continued[0].trial_id)]["epochs"] == 2


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_search_killed_in_a_trial_and_resumed_equals_the_uninterrupted_one(other_run, tmp_path, digits, monkeypatch):
    # The third fit is Bayesian optimization's first model-guided trial, or Hyperband's
    # continuation of the better 1-epoch trial (it loads that trial's checkpoint).
    original_fit, fits = keras.Model.fit, []

    def dying_fit(self, *args, **kwargs):
        fits.append(1)
        if len(fits) == 3:
            raise _Died()
        return original_fit(self, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "fit", dying_fit)
    with pytest.raises(_Died):
        search(TrainConfig(**TINY_TRAIN), other_run.space, tmp_path, dataset=digits, verbose=0)
    monkeypatch.setattr(keras.Model, "fit", original_fit)
    lines = []
    resumed = search(TrainConfig(**TINY_TRAIN), other_run.space, tmp_path, dataset=digits, resume=True, print_fn=lines.append)
    assert [line.split("  ")[0] for line in lines if line.startswith("trial ")] == ["trial 3/3"]
    strip = lambda rows: [{key: row[key] for key in ("trial_id", "status", "objective", "best_epoch", "hyperparameters", "metrics")} for row in rows]
    assert strip(resumed.trials) == strip(other_run.result.trials)
    assert resumed.test_metrics == other_run.result.test_metrics


_KILL_IN_SECOND_TRIAL = textwrap.dedent(
    """
    import json, os, signal, sys
    import keras
    from keras_minibatch import TrainConfig
    from keras_minibatch.tuning.search_config import SearchConfig
    from keras_minibatch.tuning.search import search

    fits = []
    original_fit = keras.Model.fit

    class Die(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            os.kill(os.getpid(), signal.SIGKILL)

    def fit(self, *args, **kwargs):
        fits.append(1)
        if len(fits) == 2:  # the second trial dies after its first epoch
            kwargs["callbacks"] = [*kwargs.get("callbacks", []), Die()]
        return original_fit(self, *args, **kwargs)

    keras.Model.fit = fit
    search(TrainConfig(**json.loads(sys.argv[2])), SearchConfig.from_dict(json.loads(sys.argv[3])), sys.argv[1], verbose=0)
    """
)


def test_grid_search_killed_mid_trial_resumes_to_exactly_max_trials(tmp_path):
    train, space = TrainConfig(**TINY_TRAIN), SearchConfig(tuner="grid", **TINY_SPACE)
    workdir = tmp_path / "search"
    script = tmp_path / "kill_in_second_trial.py"
    script.write_text(_KILL_IN_SECOND_TRIAL)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    child = subprocess.run(
        [sys.executable, str(script), str(workdir), json.dumps(train.to_dict()), json.dumps(space.to_dict())],
        capture_output=True, text=True, timeout=180, env=env, check=False,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    assert [row["trial_id"] for row in json.loads((workdir / "trials.json").read_text())] == ["0"]
    assert json.loads((workdir / "tuner" / "oracle.json").read_text())["ongoing_trials"] == {"tuner0": "1"}

    lines = []
    result = search(train, space, workdir, resume=True, print_fn=lines.append)
    assert [line.split("  ")[0] for line in lines if line.startswith("trial ")] == ["trial 2/3", "trial 3/3"]
    assert [(row["trial_id"], row["status"]) for row in result.trials] == [("0", "COMPLETED"), ("1", "COMPLETED"), ("2", "COMPLETED")]
    values = [tuple(sorted(row["hyperparameters"].items())) for row in result.trials]
    assert len(set(values)) == 3
    assert result.trials[0]["hyperparameters"]["units_1"] == 16 and result.trials[0]["hyperparameters"]["learning_rate"] == 3e-3  # the train config first
    validation = _hparams_content(workdir / "tensorboard" / "1" / "execution0" / "validation")
    assert len(validation.Tensors("epoch_accuracy")) == 2  # the dead run's partial logs were dropped


class _TinyGrid(keras_tuner.HyperModel):
    def build(self, hp):
        hp.Choice("a", [1, 2, 3])
        hp.Choice("b", [10, 20])


def _grid_tuner(base, directory, die_at=None, where="run_trial"):
    class Scored(base):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.calls = []

        def run_trial(self, trial, *args, **kwargs):
            self.calls.append(trial.trial_id)
            if where == "run_trial" and len(self.calls) == die_at:
                raise _Died()
            return float(trial.hyperparameters.values["a"] * trial.hyperparameters.values["b"])

        def pre_create_trial(self):
            if where == "between" and len(self.calls) == die_at:
                raise _Died()

    return Scored(hypermodel=_TinyGrid(), objective=keras_tuner.Objective("score", "max"), max_trials=5, directory=str(directory), project_name="p")


def _run_killed_then_resumed(base, directory, die_at, where):
    with pytest.raises(_Died):
        _grid_tuner(base, directory, die_at, where).search(verbose=0)
    resumed = _grid_tuner(base, directory)
    resumed.search(verbose=0)
    return resumed


def test_stock_grid_search_crashes_when_resumed_after_a_killed_trial(tmp_path, capsys):
    # Documents the KerasTuner bug that `compat.rebuild_grid_position` works around;
    # if this starts failing, KerasTuner fixed it and the workaround can go.
    with pytest.raises(KeyError):
        _run_killed_then_resumed(keras_tuner.GridSearch, tmp_path, die_at=3, where="run_trial")


@pytest.mark.parametrize(("die_at", "where"), [(1, "run_trial"), (3, "run_trial"), (2, "between")])
def test_resumable_grid_search_continues_the_grid_where_it_died(tmp_path, capsys, die_at, where):
    reference = _grid_tuner(tuners.GridSearch, tmp_path / "reference")
    reference.search(verbose=0)
    resumed = _run_killed_then_resumed(tuners.GridSearch, tmp_path / "resumed", die_at, where)
    grid = lambda tuner: [tuner.oracle.trials[key].hyperparameters.values for key in sorted(tuner.oracle.trials)]
    assert grid(resumed) == grid(reference)
    assert [trial.status for trial in resumed.oracle.trials.values()] == ["COMPLETED"] * 5
    if where == "run_trial":
        assert resumed.calls[0] == str(die_at - 1)  # the trial that was running is run again first


@pytest.mark.parametrize("recorded", [False, True], ids=["kerastuners_build", "our_searchs_build"])
@pytest.mark.parametrize(("max_model_size", "status"), [(100, "FAILED"), (10**6, "COMPLETED")])
def test_max_model_size_refuses_an_oversized_model_as_kerastuner_does(tmp_path, digits, capsys, max_model_size, status, recorded):
    # Our search's trials (a recorder set) build without KerasTuner's session clearing; its size check stays.
    train = TrainConfig(**{**TINY_TRAIN, "epochs": 1})
    space = SearchConfig(**{**TINY_SPACE, "max_trials": 1})
    hypermodel = MLPHyperModel(digits.input_shape, digits.num_classes, search_config=space, train_config=train)
    tuner = tuners.RandomSearch(
        hypermodel, objective=keras_tuner.Objective("val_accuracy", "max"), max_trials=1, seed=1,
        max_model_size=max_model_size, directory=str(tmp_path), project_name="p",
    )
    if recorded:
        tuner.recorder = TrialRecorder(tmp_path, tensorboard_dir=tmp_path / "tensorboard", objective="val_accuracy", max_trials=1, print_fn=None)
    assert tuner.keeps_session is recorded
    tuner.search(digits.x_train, digits.y_train, epochs=1, validation_split=0.2, verbose=0)
    (trial,) = tuner.oracle.trials.values()
    assert trial.status == status
    if status == "FAILED":
        assert "FailedTrialError: Oversized model: " in trial.message


def test_nan_trial_is_recorded_as_failed_and_the_search_goes_on(tmp_path, digits):
    # The grid tries the train config's learning rate (diverging) first, then the range's low end.
    train = TrainConfig(**{**TINY_TRAIN, **DIVERGING, "epochs": 1})
    space = SearchConfig(tuner="grid", max_trials=2, learning_rate_range=(1e-3, 1e30), fixed={"num_layers": 1, "units": 8, "dropout": 0.0, "batch_size": 16, "optimizer": "sgd", "activation": "relu"})
    lines = []
    result = search(train, space, tmp_path, dataset=digits, print_fn=lines.append)
    failed, completed = result.trials
    assert failed["status"] == "FAILED" and failed["objective"] is None
    assert failed["failure"].startswith("loss became nan at epoch 1, batch ")
    assert completed["status"] == "COMPLETED" and result.best_trial_id == completed["trial_id"]
    assert result.failure_summary == f"1 of 2 trials failed: {failed['failure']} (trial 1)"
    assert any(line.startswith("trial 1/2  FAILED: loss became nan") for line in lines)
    assert any(line.endswith(f"2 trials: 1 completed; {result.failure_summary}") for line in lines)
    assert json.loads((tmp_path / "metrics.json").read_text())["num_failed"] == 1
    content = _hparams_content(tmp_path / "tensorboard" / "0").PluginTagToContent("hparams")
    assert hparams_metadata.parse_session_end_info_plugin_data(content["_hparams_/session_end_info"]).status == api_pb2.STATUS_FAILURE


def test_search_where_every_trial_fails_raises_with_the_reasons(tmp_path, digits):
    train = TrainConfig(**{**TINY_TRAIN, **DIVERGING, "epochs": 1})
    space = SearchConfig(tuner="grid", max_trials=3, units_choices=(8, 16), batch_size_choices=(16, 32), fixed={"num_layers": 1, "learning_rate": 1e30, "optimizer": "sgd", "activation": "relu", "dropout": 0.0})
    with pytest.raises(SearchError, match=r"no trial completed \(3 of 3 trials failed: loss became nan at epoch 1, batch \d+ \(trials? "):
        search(train, space, tmp_path, dataset=digits, verbose=0)
    assert [row["status"] for row in json.loads((tmp_path / "trials.json").read_text())] == ["FAILED"] * 3
    assert not (tmp_path / "model.keras").exists()


def test_overwrite_replaces_what_the_folder_held(tmp_path, digits):
    (tmp_path / "search_config.json").write_text("{}")  # an earlier search's files
    (tmp_path / "trials.csv").write_text("an earlier search")
    result = search(TrainConfig(**{**TINY_TRAIN, "epochs": 1}), SearchConfig(tuner="random", **{**TINY_SPACE, "max_trials": 1}), tmp_path, dataset=digits, overwrite=True, verbose=0)
    assert "an earlier search" not in (tmp_path / "trials.csv").read_text()
    assert len(result.trials) == 1


def test_hypermodel_defaults_are_the_train_config_model():
    hp = keras_tuner.HyperParameters()
    model = MLPHyperModel((28, 28), 10, search_config=SearchConfig(), train_config=TrainConfig()).build(hp)
    assert [layer.units for layer in model.layers if isinstance(layer, keras.layers.Dense)] == [32, 64, 128, 256, 10]
    assert (hp.get("activation"), hp.get("optimizer"), hp.get("learning_rate"), hp.get("batch_size")) == ("relu", "adam", 1e-3, 32)


def test_executions_of_a_trial_start_from_different_seeds_and_a_rerun_repeats_them():
    hypermodel = MLPHyperModel((8, 8), 10, search_config=SearchConfig(), train_config=TrainConfig())
    hp = keras_tuner.HyperParameters()
    hypermodel.begin_trial()
    first, second = (hypermodel.build(hp).get_weights()[0] for _ in range(2))
    hypermodel.begin_trial()
    rerun = hypermodel.build(hp).get_weights()[0]
    assert not np.allclose(first, second)
    np.testing.assert_array_equal(first, rerun)


def test_layer_widths_are_conditional_on_depth():
    hp = keras_tuner.HyperParameters()
    hp.values["num_layers"] = 2
    model = MLPHyperModel((8, 8), 10, search_config=SearchConfig(units_choices=(8, 16)), train_config=TrainConfig()).build(hp)
    assert [layer.name for layer in model.layers if layer.name.startswith("hidden")] == ["hidden_1", "hidden_2"]
    assert [hp.is_active(f"units_{index}") for index in range(1, 5)] == [True, True, False, False]


def test_fixed_values_become_fixed_hyperparameters():
    hp = keras_tuner.HyperParameters()
    space = SearchConfig(fixed={"learning_rate": 0.05, "units": 8, "num_layers": 2})
    MLPHyperModel((8, 8), 10, search_config=space, train_config=TrainConfig()).build(hp)
    fixed = {item.name for item in hp.space if isinstance(item, keras_tuner.engine.hyperparameters.Fixed)}
    assert fixed == {"num_layers", "units_1", "units_2", "learning_rate"}
    assert hp.get("learning_rate") == 0.05


def test_train_config_for_maps_trial_values_to_train_flags():
    values = {"num_layers": 2, "units_1": 64, "units_2": 32, "units_3": 8, "activation": "tanh", "dropout": 0.2, "optimizer": "sgd", "learning_rate": 0.01, "batch_size": 64}
    config = train_config_for(TrainConfig(epochs=7), values)
    assert (config.hidden_units, config.activation, config.dropout, config.optimizer, config.learning_rate, config.batch_size, config.epochs) == ((64, 32), "tanh", 0.2, "sgd", 0.01, 64, 7)


def test_missing_objective_stops_the_whole_search_and_lists_the_logged_keys():
    with pytest.raises(keras_tuner.errors.FatalValueError, match="'val_accuracy' is not among the metrics fit\\(\\) logged: accuracy, loss"):
        RequireObjective("val_accuracy").on_epoch_end(0, {"loss": 1.0, "accuracy": 0.5})


def test_trials_table_sorts_by_direction_and_lists_failures_last():
    def row(number, objective, status="COMPLETED", failure=None):
        return {"trial_id": str(number - 1), "number": number, "status": status, "objective": objective, "best_epoch": 1,
                "seconds": 1.0, "failure": failure, "hyperparameters": {"num_layers": 1, "units_1": 8}, "metrics": {}}

    rows = [row(1, 0.5), row(2, None, "FAILED", "loss became nan at epoch 1, batch 2"), row(3, 0.2)]
    by_loss = format_trials_table(rows, "val_loss").splitlines()
    assert [line.split()[1] for line in by_loss[1:4]] == ["3", "1", "2"]
    assert "failed" in by_loss[3] and "(loss became nan at epoch 1, batch 2)" in by_loss[3]
    assert by_loss[-1] == "3 trials: 2 completed; 1 of 3 trials failed: loss became nan at epoch 1, batch 2 (trial 2)"
    by_accuracy = format_trials_table(rows, "val_accuracy").splitlines()
    assert [line.split()[1] for line in by_accuracy[1:3]] == ["1", "3"]
    assert "units=8" in by_accuracy[1]


@pytest.mark.parametrize(
    ("max_trials", "epochs", "expected"),
    [
        (8, 9, "--max_trials=8 ends the search inside its first bracket (9 trials of 1 epoch, then the best continue), so no trial trains past 1 of 9 epochs; --max_trials=13 lets one reach 9"),
        (12, 9, "so no trial trains past 3 of 9 epochs; --max_trials=13 lets one reach 9"),
        (13, 9, None),
        (30, 10, None),
    ],
)
def test_hyperband_says_when_max_trials_stops_its_first_bracket_short(max_trials, epochs, expected):
    note = oracles.hyperband_cap_note(max_trials, epochs, 3)
    assert note == expected if expected is None else expected in note


def test_a_capped_hyperband_search_prints_what_the_cap_does(tmp_path, digits):
    lines = []
    search(TrainConfig(**{**TINY_TRAIN, "epochs": 3}), SearchConfig(tuner="hyperband", **{**TINY_SPACE, "max_trials": 2}), tmp_path / "s",
           dataset=digits, retrain_winner=False, print_fn=lines.append)
    assert any(line.startswith("hyperband: --max_trials=2 ends the search inside its first bracket") for line in lines)


def test_early_stopping_on_a_fit_without_validation_rows_stops_the_search_at_once():
    # A script's own tuner may fit with validation_split=0: no val_ metric is logged, every trial would fail alike.
    # (Early stopping's own check would come only at the end of the trial's fit.)
    hypermodel = MLPHyperModel((8, 8), 10, search_config=SearchConfig(), train_config=TrainConfig(early_stopping=True, hidden_units=(8,)))
    hp = keras_tuner.HyperParameters()
    hypermodel.begin_trial()
    model = hypermodel.build(hp)
    x, y = np.zeros((40, 8, 8), np.uint8), np.arange(40) % 10
    with pytest.raises(keras_tuner.errors.FatalValueError, match=r"objective 'val_accuracy' is not among the metrics fit\(\) logged: accuracy, loss"):
        hypermodel.fit(hp, model, x, y, epochs=1, validation_split=0.0)
