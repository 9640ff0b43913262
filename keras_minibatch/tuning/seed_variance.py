"""How much of a search's ranking is luck: the winner retrained with several seeds.

Two trials of a search differ in hyperparameters *and* in luck (initial weights,
batch order). Retraining the winner with k seeds on the same training and
validation rows measures the luck alone; when the gap between the top trials is
within it, the search did not tell them apart.

`seed_variance` is the computation on given data and hyperparameters;
`seed_variance_report` runs it on a finished search folder (or `SearchResult`),
writes `seed_variance.json` there and returns the text to print (the command
line's `tune --seed_variance=K`).
"""

from __future__ import annotations

import json
import math
import os
import statistics
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from keras_minibatch.run_folders import run_files
from keras_minibatch.run_folders import rundir
from keras_minibatch.config import TrainConfig
from keras_minibatch.training.core import Trainer
from keras_minibatch.data.dataset import Dataset
from keras_minibatch.data.fingerprints import data_fingerprint
from keras_minibatch.data.loading import load_dataset_for
from keras_minibatch.tuning.hypermodel import RequireObjective
from keras_minibatch.tuning.search_config import OBJECTIVES
from keras_minibatch.training.validation_rows import split_for_validation
from keras_minibatch.tuning.search_result import SearchResult
from keras_minibatch.tuning.trial_config import train_config_for

__all__ = ["SEED_VARIANCE_FILE", "seed_variance", "seed_variance_report"]

SEED_VARIANCE_FILE = run_files.SEED_VARIANCE_FILE


def _mean_std(values: Sequence[float]) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation; `None` where there are too few values for one."""
    mean = statistics.fmean(values) if values else None
    return mean, statistics.stdev(values) if len(values) >= 2 else None


def seed_variance(
    train_config: TrainConfig,
    best_hyperparameters: Mapping[str, Any],
    seeds: Iterable[int],
    dataset: Dataset,
    *,
    trials: Sequence[Mapping[str, Any]] = (),
    objective: str = "val_accuracy",
) -> dict[str, Any]:
    """Retrains one hyperparameter set with each seed; reports the spread and whether it blurs the ranking.

    Each run trains like a search trial (`train_config.epochs`, the same
    stratified validation rows, the objective taken at its best epoch) with
    `seed` deciding initial weights, dropout and batch order, then scores the
    test split once. The data splits stay those of `train_config.seed`.

    Args:
        train_config: The search's training settings.
        best_hyperparameters: The values to retrain, e.g. `SearchResult.best_hyperparameters`.
        seeds: Two or more distinct seeds.
        dataset: The search's data.
        trials: The search's trial rows (`SearchResult.trials`), to compare with
            the noise. Defaults to `()` (no comparison).
        objective: The search's objective. Defaults to `"val_accuracy"`.

    Returns:
        A dict: `runs` (per seed: `seed`, the objective, final `val_accuracy`,
        `test_accuracy`, `test_loss`); `objective_mean`/`objective_std`,
        `val_accuracy_mean`/`_std`, `test_accuracy_mean`/`_std` (sample standard
        deviations); `noise`, the standard deviation of the difference of two
        single-seed results (`sqrt(2) * objective_std`); `trials_within_noise`,
        the ids of completed trials whose objective is within `noise` of the
        best one; and `within_noise`, whether the runner-up is among them
        (`None` with fewer than two completed trials).

    Raises:
        ValueError: for fewer than two seeds, a repeated or negative seed, or an
            unknown objective. A seed whose loss became NaN or infinite is
            reported in `runs` (`diverged`) and `diverged_seeds`, and left out
            of the means and spreads (`None` with fewer than two runs left).
    """
    seeds = list(seeds)
    if len(seeds) < 2 or len(set(seeds)) != len(seeds) or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds):
        raise ValueError(f"`seeds` ({seeds!r}) must be two or more distinct integers >= 0; a spread needs at least two runs.")
    if objective not in OBJECTIVES:
        raise ValueError(f"`objective` ({objective!r}) must be one of: {', '.join(OBJECTIVES)}.")
    pick = max if OBJECTIVES[objective] == "max" else min
    config = train_config_for(train_config, best_hyperparameters)
    x_train, y_train, num_fit = split_for_validation(dataset, train_config)
    runs = []
    for seed in seeds:
        # Trained as a trial is (`MLPHyperModel.fit`): the same core, callbacks and rows; only the seed differs.
        trainer = Trainer(config, input_shape=dataset.input_shape, num_classes=dataset.num_classes, epoch_rows=num_fit, seed=seed)
        outcome = trainer.train(
            (x_train[:num_fit], y_train[:num_fit]), (x_train[num_fit:], y_train[num_fit:]), epochs=config.epochs,
            extra_callbacks=[RequireObjective(objective)],
        )
        if outcome.divergence:
            # Reported in the table, and the other seeds' runs are kept: a diverging seed is a finding.
            runs.append({"seed": seed, "diverged": outcome.divergence})
            continue
        scores = trainer.score_test_split(dataset.x_test, dataset.y_test).metrics
        history = outcome.history
        runs.append({
            "seed": seed, objective: float(pick(history[objective])), "val_accuracy": float(history["val_accuracy"][-1]),
            "test_accuracy": scores["test_accuracy"], "test_loss": scores["test_loss"],
        })

    summary: dict[str, Any] = {"objective": objective, "seeds": seeds, "runs": runs}
    finished = [run for run in runs if "diverged" not in run]
    summary["diverged_seeds"] = [run["seed"] for run in runs if "diverged" in run]
    for key, name in ((objective, "objective"), ("val_accuracy", "val_accuracy"), ("test_accuracy", "test_accuracy")):
        summary[f"{name}_mean"], summary[f"{name}_std"] = _mean_std([run[key] for run in finished])
    noise = None if summary["objective_std"] is None else math.sqrt(2.0) * summary["objective_std"]
    summary["noise"] = noise
    completed = [row for row in trials if row.get("status") == "COMPLETED" and row.get("objective") is not None]
    ranked = sorted(completed, key=lambda row: row["objective"], reverse=OBJECTIVES[objective] == "max")
    if ranked and noise is not None:
        summary["trials_within_noise"] = [row["trial_id"] for row in ranked if abs(row["objective"] - ranked[0]["objective"]) <= noise]
    else:
        summary["trials_within_noise"] = []
    summary["within_noise"] = len(summary["trials_within_noise"]) > 1 if len(ranked) > 1 and noise is not None else None
    return summary


def _read_json(path: Path, what: str) -> Any:
    if not path.is_file():
        raise rundir.RunDirError(f"{str(path.parent)!r} holds no {path.name}: {what}")
    return json.loads(path.read_text(encoding="utf-8"))


def _format_report(summary: Mapping[str, Any], *, best: Mapping[str, Any], trials: Sequence[Mapping[str, Any]], epochs: int) -> str:
    objective = summary["objective"]
    seeds = summary["seeds"]
    title = (
        f"seed variance: trial {int(best['trial_id']) + 1}'s hyperparameters retrained with {len(seeds)} seeds "
        f"({', '.join(map(str, seeds))}), {epochs} epoch{'s' if epochs != 1 else ''} each, on the search's training and validation rows"
    )
    lines = [
        title,
        f"{'seed':>10}  {objective + ' (best epoch)':>24}  {'val_accuracy (last)':>19}  {'test_accuracy':>15}",
    ]
    for run in summary["runs"]:
        if "diverged" in run:
            lines.append(f"{run['seed']:>10}  diverged: {run['diverged']}")
        else:
            lines.append(f"{run['seed']:>10}  {run[objective]:>24.4f}  {run['val_accuracy']:>19.4f}  {run['test_accuracy']:>15.4f}")
    if summary["noise"] is None:
        lines.append(f"fewer than two seeds trained to the end ({len(summary['diverged_seeds'])} of {len(seeds)} diverged): no spread to report; "
                     "these hyperparameters do not train reliably (try a smaller learning rate)")
        return "\n".join(lines)
    spreads = [f"{summary[f'{name}_mean']:.4f} ± {summary[f'{name}_std']:.4f}" for name in ("objective", "val_accuracy", "test_accuracy")]
    lines.append(f"{'mean ± std':>10}  {spreads[0]:>24}  {spreads[1]:>19}  {spreads[2]:>15}")
    if summary["diverged_seeds"]:
        lines.append(f"seeds {', '.join(map(str, summary['diverged_seeds']))} diverged and are left out of the spread")
    lines.append(f"in the search the winner scored {objective} {best['value']:.4f} (with the search's seed)")
    lines.append(f"noise between two single runs: ±{summary['noise']:.4f} {objective} (sqrt(2) x the std above)")
    within = summary["trials_within_noise"]
    completed = sorted((row for row in trials if row.get("status") == "COMPLETED" and row.get("objective") is not None),
                       key=lambda row: row["objective"], reverse=OBJECTIVES[objective] == "max")
    if summary["within_noise"] is None:
        lines.append("only one trial completed: there is no ranking to check")
    elif summary["within_noise"]:
        numbers = ", ".join(str(int(trial_id) + 1) for trial_id in within)
        lines.append(f"trials {numbers} are within that noise of the best: the search did not tell them apart "
                     "(more epochs, more validation rows or executions_per_trial > 1 would)")
    else:
        runner_up = completed[1]
        lines.append(f"the runner-up (trial {runner_up['number']}, {runner_up['objective']:.4f}) is "
                     f"{abs(completed[0]['objective'] - runner_up['objective']):.4f} behind, beyond the noise: the winner stands")
    lines.append("test_accuracy: one score per seed of one fixed configuration; none of them chose anything")
    return "\n".join(lines)


def seed_variance_report(
    search: SearchResult | str | os.PathLike,
    num_seeds: int,
    *,
    dataset: Dataset | None = None,
) -> str:
    """Retrains a finished search's winner with `num_seeds` fresh seeds; writes `seed_variance.json`; returns the report.

    The seeds are the search's `seed + 1` ... `seed + num_seeds`: fresh draws,
    since the search's own seed is the one that made the winner win. The
    training and validation rows and the epochs are the search's. The JSON file
    holds `seed_variance`'s result plus `trial_id`, `hyperparameters` and
    `report` (the returned text).

    Args:
        search: A finished search: its `SearchResult` or its folder.
        num_seeds: How many seeds, >= 2.
        dataset: The search's data, already loaded; by default loaded again from
            the folder's `search_config.json` (and checked against the search's).

    Returns:
        The printable report: per seed and mean ± std of the objective, the final
        validation accuracy and the test accuracy; the noise; whether the top
        trials are within it.

    Raises:
        ValueError: for `num_seeds` below 2, or data other than the search's.
        RunDirError: when the folder holds no finished search
            (`search_config.json`, `best_hyperparameters.json`, `trials.json`).
    """
    if isinstance(num_seeds, bool) or not isinstance(num_seeds, int) or num_seeds < 2:
        raise ValueError(f"`num_seeds` ({num_seeds!r}) must be an integer >= 2; a spread needs at least two runs.")
    workdir = search.workdir if isinstance(search, SearchResult) else Path(search)
    saved = _read_json(workdir / run_files.SEARCH_CONFIG_FILE, "is it a search folder?")
    best = _read_json(workdir / run_files.BEST_HYPERPARAMETERS_FILE, "the search has not finished (no winner yet)")
    trials = _read_json(workdir / run_files.TRIALS_JSON, "the search has not finished (no trial table)")
    train_config = TrainConfig.from_dict(saved["train_config"])
    if dataset is None:
        dataset = load_dataset_for(train_config)
    expected = saved.get("fingerprint", {}).get("data", {}).get("sha256")
    if expected is not None and data_fingerprint(dataset)["sha256"] != expected:
        raise ValueError(f"`dataset` is not the data of the search in {str(workdir)!r} (its rows hash differently); pass the search's data or none.")
    seeds = [train_config.seed + offset for offset in range(1, num_seeds + 1)]
    summary = seed_variance(train_config, best["hyperparameters"], seeds, dataset, trials=trials, objective=saved["search_config"]["objective"])
    text = _format_report(summary, best=best, trials=trials, epochs=train_config.epochs)
    rundir.write_json_atomic(workdir / SEED_VARIANCE_FILE, {
        "trial_id": best["trial_id"], "hyperparameters": best["hyperparameters"], **summary, "report": text,
    })
    return text
