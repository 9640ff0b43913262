"""KerasTuner's own four tuners, with a hook for our trial records and two resume repairs.

The search itself is KerasTuner's: each class here is its tuner plus a mixin that
reports trial begin, training and end to a `TrialRecorder`, and passes each
trial's TensorBoard folder to `MLPHyperModel.fit`. Two oracles are adjusted:

- `ResumableGridSearchOracle`: KerasTuner 1.4.8's `GridSearchOracle` keeps its
  place in the grid (`_ordered_ids`, a linked list of trials in grid order, and
  `_populate_next`, the trials whose successor is still to be made) only in
  memory; `get_state` does not save them. After a reload both are empty, so a
  search killed during a trial crashes when the rerun trial ends
  (`KeyError: '<trial id>'` in `LinkedList.next`), and one killed between trials
  stops at once as if the grid were exhausted. This oracle rebuilds both from the
  saved trials in `set_state`: every started trial in grid order, and every ended
  trial as a candidate whose successor is made unless it already exists.
- `CappedHyperbandOracle`: `HyperbandOracle` has no `max_trials`; this one stops
  creating trials at `max_trials` like the other oracles (the base `Oracle`
  checks `max_trials` in `create_trial`).
"""

from __future__ import annotations

import functools
from typing import Any

import keras_tuner

from keras_minibatch.search_config import SearchConfig

__all__ = [
    "BayesianOptimization", "CappedHyperbandOracle", "GridSearch", "Hyperband", "RandomSearch",
    "ResumableGridSearchOracle", "make_tuner",
]


class ResumableGridSearchOracle(keras_tuner.oracles.GridSearchOracle):
    """`GridSearchOracle` that finds its place in the grid again after a reload."""

    def set_state(self, state: dict[str, Any]) -> None:
        super().set_state(state)
        # `self.trials` is loaded from the trial files before `set_state` runs.
        in_grid_order = functools.cmp_to_key(
            lambda a, b: self._compare(self.trials[a].hyperparameters.values, self.trials[b].hyperparameters.values)
        )
        ordered_ids = type(self._ordered_ids)()  # KerasTuner's linked list, fresh
        for trial_id in sorted(self.start_order, key=in_grid_order):
            ordered_ids.insert(trial_id)
        self._ordered_ids = ordered_ids
        # A trial whose successor exists is skipped by `populate_space`; the last one is not.
        self._populate_next = list(self.end_order)


class CappedHyperbandOracle(keras_tuner.oracles.HyperbandOracle):
    """`HyperbandOracle` that creates at most `max_trials` trials.

    Args:
        max_trials: Most trials to create.
        **kwargs: `HyperbandOracle` arguments.
    """

    def __init__(self, *, max_trials: int, **kwargs: Any):
        super().__init__(**kwargs)
        self.max_trials = max_trials


class _TrialHooks:
    """Mixin for a KerasTuner `Tuner`: reports each trial to `recorder`, if set."""

    recorder: Any = None

    def on_trial_begin(self, trial) -> None:
        super().on_trial_begin(trial)
        if self.recorder is not None:
            self.recorder.trial_began(trial)

    def run_trial(self, trial, *args: Any, **kwargs: Any) -> Any:
        if hasattr(self.hypermodel, "begin_trial"):
            self.hypermodel.begin_trial()  # seeds and log folders count executions from 0
        if self.recorder is None:
            return super().run_trial(trial, *args, **kwargs)
        results = super().run_trial(trial, *args, trial_logdir=self.recorder.trial_logdir(trial.trial_id), **kwargs)
        self.recorder.trial_trained(trial, results)
        return results

    def on_trial_end(self, trial) -> None:
        super().on_trial_end(trial)  # the oracle records the result and saves the project
        if self.recorder is not None:
            self.recorder.trial_ended(self.oracle.get_trial(trial.trial_id), self.oracle.trials)


class RandomSearch(_TrialHooks, keras_tuner.RandomSearch):
    """KerasTuner's `RandomSearch`, reporting trials to `recorder`."""


class BayesianOptimization(_TrialHooks, keras_tuner.BayesianOptimization):
    """KerasTuner's `BayesianOptimization`, reporting trials to `recorder`."""


class GridSearch(_TrialHooks, keras_tuner.GridSearch):
    """KerasTuner's `GridSearch` on a `ResumableGridSearchOracle`.

    `keras_tuner.GridSearch.__init__` only builds its oracle, so this builds the
    resumable one and hands it to `keras_tuner.Tuner`.
    """

    def __init__(self, hypermodel, *, objective, max_trials: int, seed: int | None = None,
                 max_consecutive_failed_trials: int = 3, **kwargs: Any):
        self.seed = seed
        oracle = ResumableGridSearchOracle(
            objective=objective, max_trials=max_trials, seed=seed,
            max_consecutive_failed_trials=max_consecutive_failed_trials,
        )
        keras_tuner.Tuner.__init__(self, oracle, hypermodel, **kwargs)


class Hyperband(_TrialHooks, keras_tuner.Hyperband):
    """KerasTuner's `Hyperband` on a `CappedHyperbandOracle` (one Hyperband iteration)."""

    def __init__(self, hypermodel, *, objective, max_epochs: int, factor: int, max_trials: int,
                 seed: int | None = None, max_consecutive_failed_trials: int = 3, **kwargs: Any):
        oracle = CappedHyperbandOracle(
            max_trials=max_trials, objective=objective, max_epochs=max_epochs, factor=factor,
            hyperband_iterations=1, seed=seed, max_consecutive_failed_trials=max_consecutive_failed_trials,
        )
        keras_tuner.Tuner.__init__(self, oracle, hypermodel, **kwargs)


def make_tuner(
    search_config: SearchConfig,
    hypermodel: keras_tuner.HyperModel,
    *,
    max_epochs: int,
    seed: int,
    directory: str,
    project_name: str,
    distribution_strategy: Any = None,
) -> keras_tuner.Tuner:
    """Builds (or, when `directory/project_name` holds one, reloads) the configured tuner.

    Failed trials never stop the search early: KerasTuner's consecutive-failure
    limit is set above `max_trials`, and the caller reports failures at the end.

    Args:
        search_config: Tuner kind, budget, objective and Hyperband factor.
        hypermodel: The search space.
        max_epochs: Hyperband's most epochs per trial (the training epochs).
        seed: Seed of the oracle's sampling, >= 1 (KerasTuner replaces 0 with a random seed).
        directory: Parent folder of the tuner project.
        project_name: Project folder name inside `directory`.
        distribution_strategy: A `tf.distribute` strategy for every trial, or `None`.

    Returns:
        A `keras_tuner.Tuner` (one of this module's subclasses).
    """
    common = {
        "objective": keras_tuner.Objective(search_config.objective, direction=search_config.direction),
        "max_trials": search_config.max_trials,
        "seed": seed,
        "max_consecutive_failed_trials": search_config.max_trials + 1,
        "executions_per_trial": search_config.executions_per_trial,
        "directory": directory,
        "project_name": project_name,
        "overwrite": False,
        "distribution_strategy": distribution_strategy,
    }
    kind = search_config.tuner
    if kind == "random":
        return RandomSearch(hypermodel, **common)
    if kind == "bayesian":
        return BayesianOptimization(hypermodel, num_initial_points=search_config.num_initial_points, **common)
    if kind == "grid":
        return GridSearch(hypermodel, **common)
    return Hyperband(hypermodel, max_epochs=max_epochs, factor=search_config.hyperband_factor, **common)
