"""Grid vs random vs Bayesian search, measured: best objective so far against trial number.

`compare_search_strategies` runs each strategy through `tuning.search`, each in its
own search folder (`<workdir>/grid`, `<workdir>/random`, ...), on the same data,
the same `TrainConfig` (epochs, validation rows, seed: every trial's weights start
from the same seed) and the same `SearchConfig` apart from `tuner`, with the same
`max_trials`. Random and Bayesian search share the oracle seed too, so Bayesian
optimization's random start is exactly random search's first trials and only its
guided trials differ. Grid search walks the space in a fixed order starting from
the `TrainConfig`'s own values; its learning rate is a choice of half-decades
where the others sample it on a log scale (a grid needs points).

The comparison folder holds `comparison_config.json` (what was compared, for
`resume`), `comparison.csv` (per trial: each strategy's objective and best so
far), `comparison.json` (the same, the table, each strategy's winner and the
notes) and `comparison.png` (one best-so-far line per strategy).

The test split is not touched. A comparison chooses between strategies by their
validation scores; scoring each strategy's winner on the test split would put
the test set into that choice. To score a winner once, resume its search with
retraining (`keras-minibatch tune --tuner=<strategy> --workdir=<workdir>/<strategy>
--resume` with the same flags, or `search(..., resume=True)`): it runs no more
trials, retrains the winner and scores the test split once.

Two settings decide whether the comparison says anything:

- Grid search enumerates the space with the last-declared hyperparameter changing
  fastest, so with a budget far below the grid's size it only varies the last few
  (batch size, then learning rate) and never reaches the others. The notes give
  the grid's size, the share the budget covers and what the grid varied; pin
  hyperparameters (`--fix`, `SearchConfig.fixed`) or narrow their choices until
  the grid is within a few times the budget.
- KerasTuner's Bayesian optimization starts with `3 x` (number of hyperparameters,
  fixed ones included) random trials, 30 for this space, which would make it
  random search within a small budget. Unless `SearchConfig.num_initial_points`
  is set, the comparison starts it with `max(2, max_trials // 4)` random trials
  and says so.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from keras_minibatch.plots import search_plots
from keras_minibatch.run_folders import run_files
from keras_minibatch.run_folders import rundir
from keras_minibatch.checks import ConfigError
from keras_minibatch.config import TrainConfig
from keras_minibatch.data.dataset import Dataset
from keras_minibatch.data.loading import load_dataset_for
from keras_minibatch.run_folders.folder_claim import FolderClaim
from keras_minibatch.tuning.search_config import TUNERS, SearchConfig
from keras_minibatch.tuning.search_folder import (
    COMPARISON_CONFIG_FILE,
    SEARCH_CONFIG_FILE,
    check_comparison_dir,
    check_search_dir,
    comparison_fingerprint,
)
from keras_minibatch.tuning.search import search
from keras_minibatch.tuning.search_result import SearchResult
from keras_minibatch.tuning.strategy_comparison_report import best_so_far, format_table, grid_notes, write_comparison_csv

__all__ = ["COMPARISON_CSV", "COMPARISON_JSON", "COMPARISON_PLOT", "STRATEGIES", "ComparisonResult", "compare_search_strategies"]

STRATEGIES = ("grid", "random", "bayesian")
COMPARISON_CSV = run_files.COMPARISON_CSV
COMPARISON_JSON = run_files.COMPARISON_JSON
COMPARISON_PLOT = run_files.COMPARISON_PLOT


@dataclasses.dataclass
class ComparisonResult:
    """What a strategy comparison produced.

    Attributes:
        objective: The objective name, e.g. `"val_accuracy"`.
        direction: `"max"` or `"min"`.
        max_trials: The trial budget of every strategy.
        objectives: Strategy -> each trial's objective in trial order (`None`: failed).
        best_so_far: Strategy -> the best objective after each trial (`None` before any completed).
        searches: Strategy -> its `SearchResult` (not retrained: no model, no test metrics).
        table: The printed table: best so far per trial, then best, when, failures, seconds.
        notes: Sentences on what limits the comparison (grid coverage, Bayesian start).
        workdir: The comparison folder.
    """

    objective: str
    direction: str
    max_trials: int
    objectives: dict[str, list[float | None]]
    best_so_far: dict[str, list[float | None]]
    searches: dict[str, SearchResult]
    table: str
    notes: list[str]
    workdir: Path


def compare_search_strategies(
    train_config: TrainConfig,
    search_config: SearchConfig,
    workdir: str | os.PathLike,
    *,
    strategies: Sequence[str] = STRATEGIES,
    dataset: Dataset | None = None,
    resume: bool = False,
    overwrite: bool = False,
    verbose: int = 1,
    print_fn: Callable[[str], Any] = print,
) -> ComparisonResult:
    """Runs each search strategy on the same space, budget and seeds; reports the best objective so far per trial.

    Args:
        train_config: Data, epochs per trial, validation split and seed, shared by all.
        search_config: Space, objective and `max_trials`, shared by all; its
            `tuner` is replaced by each strategy. With `num_initial_points` unset,
            Bayesian optimization starts with `max(2, max_trials // 4)` random
            trials (see the module docstring).
        workdir: The comparison folder; each strategy searches in `<workdir>/<strategy>`.
        strategies: KerasTuner tuners to compare, from `"grid"`, `"random"`,
            `"bayesian"`, `"hyperband"`. Defaults to `("grid", "random", "bayesian")`.
        dataset: Already loaded data; by default loads `train_config.dataset` once for all.
        resume: Continue a comparison in `workdir`: finished strategies run no
            more trials, an interrupted one resumes. Defaults to `False`.
        overwrite: Delete what `workdir` holds first. Defaults to `False`.
        verbose: `0` prints nothing; `1` prints each search's lines, then the
            table and the notes. Defaults to `1`.
        print_fn: Receives each printed line. Defaults to `print`.

    Returns:
        A `ComparisonResult`. The test split is never scored.

    Raises:
        ConfigError: for no strategies, an unknown or repeated one, or both
            `resume` and `overwrite`.
        RunDirError: as `search`, for the comparison folder or a strategy's folder.
        SearchError: when no trial of a strategy completed.
    """
    strategies = list(strategies)
    if not strategies or len(set(strategies)) != len(strategies) or not set(strategies) <= set(TUNERS):
        raise ConfigError("strategies", strategies, f"must name distinct tuners, at least one, from: {', '.join(TUNERS)}")
    fingerprint = comparison_fingerprint(train_config, search_config, strategies)
    check_comparison_dir(workdir, resume=resume, overwrite=overwrite, fingerprint=fingerprint)
    with FolderClaim(workdir, run_files.STRATEGY_COMPARISON, overwrite=overwrite, resume=resume) as claim:
        path = claim.path
        check_comparison_dir(path, resume=resume, overwrite=overwrite, fingerprint=fingerprint)  # Again, under the lock.
        if dataset is None:
            dataset = load_dataset_for(train_config)
        claim.clear_previous()  # An overwritten comparison's files go only now that the data loaded.
        rundir.write_json_atomic(path / COMPARISON_CONFIG_FILE, {**fingerprint, "max_trials": search_config.max_trials})
        say = print_fn if verbose else (lambda line: None)

        notes: list[str] = []
        configs = {strategy: search_config.replace(tuner=strategy) for strategy in strategies}
        if "bayesian" in configs and search_config.num_initial_points is None:
            # A resumed comparison keeps the random start it began with, so a larger --max_trials extends it.
            initial = _saved_num_initial_points(path / "bayesian") if resume else None
            configs["bayesian"] = configs["bayesian"].replace(num_initial_points=initial or max(2, search_config.max_trials // 4))
            notes.append(
                f"bayesian: {configs['bayesian'].num_initial_points} random trials (the same as random search's first ones), then "
                "guided by its Gaussian process; KerasTuner's default would be 3 per hyperparameter, more than this budget."
            )
        # Every strategy's folder is checked before any runs: a refusal after grid and random had
        # grown would leave the comparison with unequal budgets.
        for strategy, config in configs.items():
            check_search_dir(path / strategy, resume=resume and (path / strategy).is_dir(), train_config=train_config, search_config=config)
        searches: dict[str, SearchResult] = {}
        for strategy, config in configs.items():
            say(f"== {strategy} search ==")
            searches[strategy] = search(train_config, config, path / strategy, dataset=dataset, resume=resume and (path / strategy).is_dir(), retrain_winner=False, verbose=verbose, print_fn=print_fn)
        if "grid" in searches:
            notes.extend(grid_notes(searches["grid"], search_config.max_trials))
        bayesian_flag = f" (bayesian also --num_initial_points={configs['bayesian'].num_initial_points})" if "bayesian" in configs else ""
        notes.append(
            "test split: not scored (strategies are compared on validation scores). To score one strategy's winner once, resume "
            f"its search with retraining: keras-minibatch tune --tuner=STRATEGY --workdir={path}/STRATEGY --resume and the same "
            f"flags{bayesian_flag}."
        )

        objectives = {name: [row["objective"] for row in result.trials] for name, result in searches.items()}
        best = {name: best_so_far(values, search_config.direction) for name, values in objectives.items()}
        table = format_table(objectives, best, searches, search_config.objective, search_config.direction, search_config.max_trials)
        num_rows = max(search_config.max_trials, *(len(values) for values in objectives.values()))
        write_comparison_csv(path / COMPARISON_CSV, objectives, best, num_rows)
        search_plots.plot_strategy_comparison(objectives, search_config.objective, path / COMPARISON_PLOT, direction=search_config.direction, budget=search_config.max_trials)
        rundir.write_json_atomic(path / COMPARISON_JSON, {
            "objective": search_config.objective, "direction": search_config.direction, "max_trials": search_config.max_trials,
            "objectives": objectives, "best_so_far": best, "table": table, "notes": notes,
            "winners": {name: {"trial_id": result.best_trial_id, "value": next(row["objective"] for row in result.trials if row["trial_id"] == result.best_trial_id),
                               "hyperparameters": result.best_hyperparameters} for name, result in searches.items()},
        })
        say(table)
        for note in notes:
            say(note)
        say(f"comparison folder: {path} ({COMPARISON_CSV}, {COMPARISON_PLOT})")
        return ComparisonResult(
            objective=search_config.objective, direction=search_config.direction, max_trials=search_config.max_trials,
            objectives=objectives, best_so_far=best, searches=searches, table=table, notes=notes, workdir=path,
        )


def _saved_num_initial_points(folder: Path) -> int | None:
    """The `num_initial_points` a strategy's search folder was started with, or `None`."""
    try:
        value = json.loads((folder / SEARCH_CONFIG_FILE).read_text(encoding="utf-8"))["search_config"]["num_initial_points"]
    except (OSError, ValueError, KeyError, TypeError):
        return None  # No search yet, or a damaged one that `check_search_dir` reports.
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 1 else None
