"""Grid vs random vs Bayesian on one small space: tiny digits, 1 epoch, 4 trials each."""

import csv
import json
import types

import keras
import keras_tuner
import pytest

from keras_minibatch import TrainConfig, load_dataset
from keras_minibatch.checks import ConfigError
from keras_minibatch.run_folders.rundir import RunDirError
from keras_minibatch.tuning.search_config import SearchConfig
from keras_minibatch.tuning.strategy_comparison import compare_search_strategies
from keras_minibatch.tuning.strategy_comparison_report import grid_size

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TINY_TRAIN = {"dataset": "digits", "max_train_samples": 200, "epochs": 1, "hidden_units": (16,), "batch_size": 16, "learning_rate": 3e-3}
# Pinned down to a 16-point grid (2 widths x 4 learning rates x 2 batch sizes), so 4 trials cover a quarter of it.
SMALL_SPACE = {
    "max_trials": 4, "units_choices": (8, 16), "batch_size_choices": (16, 32), "learning_rate_range": (1e-3, 1e-2),
    "fixed": {"num_layers": 1, "activation": "relu", "dropout": 0.0, "optimizer": "adam"},
}


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", test_fraction=0.2, seed=0, max_train_samples=200)


@pytest.fixture(scope="module")
def comparison(tmp_path_factory, digits):
    evaluated, lines = [], []
    original_evaluate = keras.Model.evaluate

    def spy_evaluate(self, x=None, y=None, **kwargs):
        evaluated.append(x is digits.x_test)
        return original_evaluate(self, x, y, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(keras.Model, "evaluate", spy_evaluate)
        result = compare_search_strategies(
            TrainConfig(**TINY_TRAIN), SearchConfig(**SMALL_SPACE), tmp_path_factory.mktemp("compare") / "comparison",
            dataset=digits, print_fn=lines.append,
        )
    return types.SimpleNamespace(result=result, evaluated=evaluated, lines=lines)


def test_each_strategy_runs_the_same_budget_in_its_own_search_folder(comparison):
    result = comparison.result
    assert list(result.searches) == ["grid", "random", "bayesian"]
    for name, search in result.searches.items():
        assert search.workdir == result.workdir / name
        assert [row["status"] for row in search.trials] == ["COMPLETED"] * 4
        assert json.loads((search.workdir / "search_config.json").read_text())["search_config"]["tuner"] == name


def test_best_so_far_is_the_running_best_of_each_strategys_trials(comparison):
    for name, values in comparison.result.objectives.items():
        assert comparison.result.best_so_far[name] == [max(values[: index + 1]) for index in range(len(values))]


def test_bayesian_starts_with_random_searchs_own_first_trials(comparison):
    # Same oracle seed and space: its 2 random initial points are random search's first 2 trials.
    random_rows, bayesian_rows = comparison.result.searches["random"].trials, comparison.result.searches["bayesian"].trials
    assert [row["hyperparameters"] for row in bayesian_rows[:2]] == [row["hyperparameters"] for row in random_rows[:2]]
    assert any("bayesian: 2 random trials" in note for note in comparison.result.notes)


def test_grid_starts_from_the_train_config_and_reports_its_coverage(comparison):
    first = comparison.result.searches["grid"].trials[0]["hyperparameters"]
    assert (first["units_1"], first["learning_rate"], first["batch_size"]) == (16, 3e-3, 16)
    note = next(note for note in comparison.result.notes if note.startswith("grid:"))
    assert "16 grid points; 4 trials cover 25.00% of them, varying only" in note


def test_test_split_is_never_scored_and_no_winner_is_retrained(comparison):
    assert not any(comparison.evaluated)
    for search in comparison.result.searches.values():
        assert search.test_metrics == {} and search.model is None
        assert not (search.workdir / "model.keras").exists() and not (search.workdir / "metrics.json").exists()
        assert (search.workdir / "best_hyperparameters.json").is_file()


def test_table_csv_and_plot_are_written(comparison):
    result, workdir = comparison.result, comparison.result.workdir
    table = result.table.splitlines()
    assert table[1].split() == ["trial", "grid", "random", "bayesian"]
    assert [line.split()[0] for line in table[2:]] == ["1", "2", "3", "4", "best", "reached", "trials", "failed", "seconds"]
    assert result.table in comparison.lines
    with open(workdir / "comparison.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert [row["trial"] for row in rows] == ["1", "2", "3", "4"]
    assert [float(row["random_best_so_far"]) for row in rows] == result.best_so_far["random"]
    assert (workdir / "comparison.png").read_bytes()[:8] == PNG_SIGNATURE
    saved = json.loads((workdir / "comparison.json").read_text())
    assert saved["objectives"] == result.objectives and saved["notes"] == result.notes


def test_resuming_a_finished_comparison_runs_no_more_trials(comparison, digits):
    lines = []
    again = compare_search_strategies(
        TrainConfig(**TINY_TRAIN), SearchConfig(**SMALL_SPACE), comparison.result.workdir, dataset=digits, resume=True, print_fn=lines.append,
    )
    assert not [line for line in lines if line.startswith("trial ")]
    assert again.objectives == comparison.result.objectives


def test_existing_folder_is_refused_without_resume_or_overwrite(comparison, digits):
    with pytest.raises(RunDirError, match="already holds a strategy comparison; pass --resume to continue it"):
        compare_search_strategies(TrainConfig(**TINY_TRAIN), SearchConfig(**SMALL_SPACE), comparison.result.workdir, dataset=digits, verbose=0)


def test_resume_refuses_a_comparison_of_other_strategies(comparison, digits):
    with pytest.raises(RunDirError, match="holds a comparison of grid, random, bayesian, not of random, bayesian"):
        compare_search_strategies(
            TrainConfig(**TINY_TRAIN), SearchConfig(**SMALL_SPACE), comparison.result.workdir, strategies=("random", "bayesian"),
            dataset=digits, resume=True, verbose=0,
        )


@pytest.mark.parametrize("strategies", [(), ("grid", "grid"), ("grid", "annealing")])
def test_bad_strategies_are_refused(tmp_path, strategies):
    with pytest.raises(ConfigError, match="must name distinct tuners, at least one, from: random, bayesian, grid, hyperband"):
        compare_search_strategies(TrainConfig(**TINY_TRAIN), SearchConfig(**SMALL_SPACE), tmp_path, strategies=strategies)


def test_grid_size_counts_conditional_hyperparameters_only_where_active():
    hp = keras_tuner.HyperParameters()
    hp.Int("num_layers", 1, 2)
    hp.Choice("units_1", [8, 16, 32])
    with hp.conditional_scope("num_layers", [2]):
        hp.Choice("units_2", [8, 16])
    hp.Float("dropout", 0.0, 0.2, step=0.1)
    assert grid_size(hp) == 3 * 3 + 3 * 2 * 3  # one layer: widths x dropouts; two layers: x widths of the second


def test_resume_with_a_larger_budget_extends_every_strategy_equally(comparison, digits, tmp_path):
    import shutil

    workdir = tmp_path / "comparison"
    shutil.copytree(comparison.result.workdir, workdir)
    grown = compare_search_strategies(
        TrainConfig(**TINY_TRAIN), SearchConfig(**{**SMALL_SPACE, "max_trials": 5}), workdir, dataset=digits, resume=True, verbose=0,
    )
    # Bayesian keeps the random start it began with (2 of 4), so it can be extended like the others.
    assert {name: len(search.trials) for name, search in grown.searches.items()} == {"grid": 5, "random": 5, "bayesian": 5}
    assert json.loads((workdir / "bayesian" / "search_config.json").read_text())["search_config"]["num_initial_points"] == 2


def test_a_strategy_that_cannot_resume_is_refused_before_any_runs(comparison, digits, tmp_path):
    import shutil

    workdir = tmp_path / "comparison"
    shutil.copytree(comparison.result.workdir, workdir)
    before = {name: (workdir / name / "trials.json").read_text() for name in ("grid", "random", "bayesian")}
    with pytest.raises(RunDirError, match="different search space"):
        compare_search_strategies(
            TrainConfig(**TINY_TRAIN), SearchConfig(**{**SMALL_SPACE, "max_trials": 5, "num_initial_points": 3}), workdir,
            dataset=digits, resume=True, verbose=0,
        )
    assert {name: (workdir / name / "trials.json").read_text() for name in before} == before  # grid and random did not grow
