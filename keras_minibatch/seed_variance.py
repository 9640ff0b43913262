"""How much of a search's ranking is luck: the winner retrained with several seeds.

Two trials of a search differ in hyperparameters *and* in luck (initial weights,
batch order). Retraining the winner with k seeds on the same training and
validation rows measures the luck alone; when the gap between the top trials is
within it, the search did not tell them apart.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import keras

from keras_minibatch.config import TrainConfig
from keras_minibatch.data import Dataset
from keras_minibatch.hypermodel import StopOnNonFiniteLoss, train_config_for
from keras_minibatch.model import build_mlp
from keras_minibatch.search_config import OBJECTIVES
from keras_minibatch.training import split_for_validation

__all__ = ["seed_variance"]


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values)


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
        ValueError: for fewer than two seeds, a repeated or negative seed, an
            unknown objective, or a run whose loss became NaN or infinite.
    """
    seeds = list(seeds)
    if len(seeds) < 2 or len(set(seeds)) != len(seeds) or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds):
        raise ValueError(f"`seeds` ({seeds!r}) must be two or more distinct integers >= 0; a spread needs at least two runs.")
    if objective not in OBJECTIVES:
        raise ValueError(f"`objective` ({objective!r}) must be one of: {', '.join(OBJECTIVES)}.")
    pick = max if OBJECTIVES[objective] == "max" else min
    config = train_config_for(train_config, best_hyperparameters)
    x_train, y_train, _ = split_for_validation(dataset, train_config)
    runs = []
    for seed in seeds:
        keras.utils.set_random_seed(seed)
        model = build_mlp(
            dataset.input_shape, dataset.num_classes, hidden_units=config.hidden_units, activation=config.activation,
            dropout=config.dropout, optimizer=config.optimizer, learning_rate=config.learning_rate,
            steps_per_execution=config.steps_per_execution,
        )
        guard = StopOnNonFiniteLoss()
        history = model.fit(
            x_train, y_train, batch_size=config.batch_size, epochs=config.epochs,
            validation_split=config.validation_split, shuffle=True, verbose=0, callbacks=[guard],
        ).history
        if guard.reason:
            raise ValueError(f"seed {seed}: {guard.reason}; these hyperparameters do not train reliably.")
        scores = model.evaluate(dataset.x_test, dataset.y_test, batch_size=max(config.batch_size, 256), verbose=0, return_dict=True)
        runs.append({
            "seed": seed, objective: float(pick(history[objective])), "val_accuracy": float(history["val_accuracy"][-1]),
            "test_accuracy": float(scores["accuracy"]), "test_loss": float(scores["loss"]),
        })

    summary: dict[str, Any] = {"objective": objective, "seeds": seeds, "runs": runs}
    for key, name in ((objective, "objective"), ("val_accuracy", "val_accuracy"), ("test_accuracy", "test_accuracy")):
        summary[f"{name}_mean"], summary[f"{name}_std"] = _mean_std([run[key] for run in runs])
    noise = math.sqrt(2.0) * summary["objective_std"]
    summary["noise"] = noise
    completed = [row for row in trials if row.get("status") == "COMPLETED" and row.get("objective") is not None]
    ranked = sorted(completed, key=lambda row: row["objective"], reverse=OBJECTIVES[objective] == "max")
    if ranked:
        summary["trials_within_noise"] = [row["trial_id"] for row in ranked if abs(row["objective"] - ranked[0]["objective"]) <= noise]
    else:
        summary["trials_within_noise"] = []
    summary["within_noise"] = len(summary["trials_within_noise"]) > 1 if len(ranked) > 1 else None
    return summary
