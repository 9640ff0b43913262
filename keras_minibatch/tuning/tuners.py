"""KerasTuner's own four tuners, with hooks for our trial records; which part this process plays.

The search itself is KerasTuner's: each class here is its tuner, on one of our
oracles (`oracles`), plus a mixin that reports trial begin, training and end to
a `TrialRecorder`, passes each trial's TensorBoard folder to `MLPHyperModel.fit`,
and builds each trial's model without KerasTuner's session clearing
(`compat.BuildWithoutClearingSession` says why). `make_tuner` builds the one a
`SearchConfig` names.

`distributed_role` asks KerasTuner (which reads `KERASTUNER_TUNER_ID`,
`KERASTUNER_ORACLE_IP` and `KERASTUNER_ORACLE_PORT`) whether this process is the
chief, a worker or on its own (`chief_server` and `worker_connection` serve and
reach the chief).
"""

from __future__ import annotations

from typing import Any

import keras_tuner

from keras_minibatch import compat
from keras_minibatch.config import ConfigError
from keras_minibatch.runs import rundir
from keras_minibatch.tuning.oracles import (
    BayesianOptimizationOracle,
    CappedHyperbandOracle,
    RandomSearchOracle,
    ResumableGridSearchOracle,
)
from keras_minibatch.tuning.search_config import SearchConfig

__all__ = ["BayesianOptimization", "GridSearch", "Hyperband", "RandomSearch", "SearchStorageError", "distributed_role", "make_tuner"]


def distributed_role() -> str:
    """Returns this process's part in a search, as KerasTuner reads it from the environment.

    Returns:
        `"chief"` (runs KerasTuner's oracle server and no trials), `"worker"` (runs
        trials the chief hands out) or `"local"` (a search on its own).

    Raises:
        ConfigError: when `KERASTUNER_ORACLE_IP` is set without
            `KERASTUNER_ORACLE_PORT` or `KERASTUNER_TUNER_ID`.
    """
    try:
        return compat.kerastuner_distributed_role()
    except RuntimeError as error:  # KerasTuner names the variable that is missing
        raise ConfigError(
            "KERASTUNER_TUNER_ID, KERASTUNER_ORACLE_IP, KERASTUNER_ORACLE_PORT", "incomplete",
            f"must be set together for a distributed search; KerasTuner says: {str(error).rstrip('.')}",
        ) from None


class SearchStorageError(rundir.RunDirError, keras_tuner.errors.FatalError):
    """A file of the search could not be written (a full or read-only disk): the search stops.

    KerasTuner records a trial that raises as failed and goes on to the next, which
    a refusing disk would fail the same way; as a `FatalError` this stops the search
    with the trial unfinished, so `--resume` runs it again once the disk has room.
    """


class _TrialHooks(compat.BuildWithoutClearingSession):
    """Mixin for a KerasTuner `Tuner`: reports each trial to `recorder`, if set; builds without clearing the session."""

    recorder: Any = None

    def on_trial_begin(self, trial) -> None:
        super().on_trial_begin(trial)
        if self.recorder is not None:
            self.recorder.trial_began(trial)

    def run_trial(self, trial, *args: Any, **kwargs: Any) -> Any:
        try:
            return self._run_recorded_trial(trial, *args, **kwargs)
        except rundir.RunDirError as error:
            raise SearchStorageError(str(error)) from error
        except OSError as error:
            reason = rundir.disk_refusal(error)
            if reason is None:
                raise
            raise SearchStorageError(f"cannot write {error.filename or 'the search folder'!r}: {reason}; free space, then rerun with --resume.") from error

    def _run_recorded_trial(self, trial, *args: Any, **kwargs: Any) -> Any:
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
            # A worker's oracle is KerasTuner's client of the chief's: it has no `trials`.
            self.recorder.trial_ended(self.oracle.get_trial(trial.trial_id), getattr(self.oracle, "trials", None))


class RandomSearch(_TrialHooks, keras_tuner.RandomSearch):
    """KerasTuner's `RandomSearch` on a `RandomSearchOracle`, reporting trials to `recorder`.

    `keras_tuner.RandomSearch.__init__` only builds its oracle, so this builds ours
    and hands it to `keras_tuner.Tuner` (as `GridSearch` below does).
    """

    def __init__(self, hypermodel, *, objective, max_trials: int, seed: int | None = None,
                 max_consecutive_failed_trials: int = 3, **kwargs: Any):
        oracle = RandomSearchOracle(
            objective=objective, max_trials=max_trials, seed=seed, max_consecutive_failed_trials=max_consecutive_failed_trials,
        )
        keras_tuner.Tuner.__init__(self, oracle, hypermodel, **kwargs)


class BayesianOptimization(_TrialHooks, keras_tuner.BayesianOptimization):
    """KerasTuner's `BayesianOptimization` on a `BayesianOptimizationOracle`, reporting trials to `recorder`."""

    def __init__(self, hypermodel, *, objective, max_trials: int, num_initial_points: int | None = None,
                 seed: int | None = None, max_consecutive_failed_trials: int = 3, **kwargs: Any):
        oracle = BayesianOptimizationOracle(
            objective=objective, max_trials=max_trials, num_initial_points=num_initial_points, seed=seed,
            max_consecutive_failed_trials=max_consecutive_failed_trials,
        )
        keras_tuner.Tuner.__init__(self, oracle, hypermodel, **kwargs)


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
