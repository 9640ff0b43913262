"""KerasTuner's four tuners with KerasTuner's arguments, on our oracles; which part this process plays.

`RandomSearch`, `BayesianOptimization`, `GridSearch` and `Hyperband` take
`keras_tuner`'s constructor arguments (names, positions, defaults) and honour them
the same way: a script written for `keras_tuner.GridSearch` runs unchanged on ours
and gains only a grid search that resumes where it stopped (`oracles`). Our
additions come after KerasTuner's arguments, keyword-only, and default to
KerasTuner's behaviour; an argument neither takes raises (`keras_tuner.Tuner`'s
`ValueError`).

Our search (`search_run`) switches on the rest by setting a tuner's `recorder`:
each trial is reported to it, logs to its TensorBoard folder and shows the
recorder's live progress line (if it wants one), models are built without
KerasTuner's session clearing (`compat.BuildWithoutClearingSession` says why),
and a refusing disk stops the search. Without a recorder these hooks
do nothing.

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
from keras_minibatch.run_folders import rundir
from keras_minibatch.tuning.oracles import (
    BayesianOptimizationOracle,
    CappedHyperbandOracle,
    RandomSearchOracle,
    ResumableGridSearchOracle,
)

__all__ = ["BayesianOptimization", "GridSearch", "Hyperband", "RandomSearch", "SearchStorageError", "distributed_role"]


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


class _SearchHooks(compat.BuildWithoutClearingSession):
    """Mixin for a KerasTuner `Tuner`: what our search adds, inert until it sets `recorder`."""

    recorder: Any = None  # a `TrialRecorder`, set by our search on the process that runs the trials

    @property
    def keeps_session(self) -> bool:
        """Whether models are built without KerasTuner's session clearing: in our search only."""
        return self.recorder is not None

    def _start(self, oracle: keras_tuner.Oracle, hypermodel: Any, **kwargs: Any) -> None:
        """Runs `keras_tuner.Tuner.__init__` on `oracle`, refusing a missing hypermodel where KerasTuner's class would.

        KerasTuner refuses `hypermodel=None` unless the class overrides `run_trial`
        (the search space then lives there); our hooks override it, so this asks
        whether the class would without them.
        """
        run_trial = type(self).run_trial
        if run_trial is _SearchHooks.run_trial:
            run_trial = super(_SearchHooks, type(self)).run_trial  # KerasTuner's class's own
        if hypermodel is None and run_trial is keras_tuner.Tuner.run_trial:
            raise ValueError(  # KerasTuner's words: scripts and tests match on them
                "Received `hypermodel=None`. We only allow not specifying `hypermodel` if the user defines the search "
                "space in `Tuner.run_trial()` by subclassing a `Tuner` class without using a `HyperModel` instance."
            )
        keras_tuner.Tuner.__init__(self, oracle, hypermodel, **kwargs)

    def on_trial_begin(self, trial) -> None:
        super().on_trial_begin(trial)
        if self.recorder is not None:
            self.recorder.trial_began(trial)

    def run_trial(self, trial, *args: Any, **kwargs: Any) -> Any:
        if hasattr(self.hypermodel, "begin_trial"):
            self.hypermodel.begin_trial()  # `MLPHyperModel`: seeds and log folders count executions from 0
        if self.recorder is None:
            return super().run_trial(trial, *args, **kwargs)
        try:
            results = super().run_trial(
                trial, *args, trial_logdir=self.recorder.trial_logdir(trial.trial_id), progress_label=self.recorder.progress_label(trial), **kwargs,
            )
        except rundir.RunDirError as error:
            raise SearchStorageError(str(error)) from error
        except OSError as error:
            reason = rundir.disk_refusal(error)
            if reason is None:
                raise
            raise SearchStorageError(f"cannot write {error.filename or 'the search folder'!r}: {reason}; free space, then rerun with --resume.") from error
        self.recorder.trial_trained(trial, results)
        return results

    def on_trial_end(self, trial) -> None:
        super().on_trial_end(trial)  # the oracle records the result and saves the project
        if self.recorder is not None:
            # A worker's oracle is KerasTuner's client of the chief's: it has no `trials`.
            self.recorder.trial_ended(self.oracle.get_trial(trial.trial_id), getattr(self.oracle, "trials", None))


class RandomSearch(_SearchHooks, keras_tuner.RandomSearch):
    """`keras_tuner.RandomSearch`, with its arguments, on our `RandomSearchOracle`.

    Args:
        hypermodel ... max_consecutive_failed_trials: as `keras_tuner.RandomSearch`.
        **kwargs: `keras_tuner.Tuner` arguments (`directory`, `project_name`,
            `executions_per_trial`, `max_model_size`, ...), as KerasTuner passes them.
    """

    def __init__(self, hypermodel=None, objective=None, max_trials=10, seed=None, hyperparameters=None, tune_new_entries=True,
                 allow_new_entries=True, max_retries_per_trial=0, max_consecutive_failed_trials=3, **kwargs):
        self.seed = seed  # as KerasTuner's sets it
        oracle = RandomSearchOracle(
            objective=objective, max_trials=max_trials, seed=seed, hyperparameters=hyperparameters, tune_new_entries=tune_new_entries,
            allow_new_entries=allow_new_entries, max_retries_per_trial=max_retries_per_trial,
            max_consecutive_failed_trials=max_consecutive_failed_trials,
        )
        self._start(oracle, hypermodel, **kwargs)


class BayesianOptimization(_SearchHooks, keras_tuner.BayesianOptimization):
    """`keras_tuner.BayesianOptimization`, with its arguments, on our `BayesianOptimizationOracle`.

    Args:
        hypermodel ... max_consecutive_failed_trials: as `keras_tuner.BayesianOptimization`.
        **kwargs: `keras_tuner.Tuner` arguments.
    """

    def __init__(self, hypermodel=None, objective=None, max_trials=10, num_initial_points=None, alpha=1e-4, beta=2.6, seed=None,
                 hyperparameters=None, tune_new_entries=True, allow_new_entries=True, max_retries_per_trial=0,
                 max_consecutive_failed_trials=3, **kwargs):
        oracle = BayesianOptimizationOracle(
            objective=objective, max_trials=max_trials, num_initial_points=num_initial_points, alpha=alpha, beta=beta, seed=seed,
            hyperparameters=hyperparameters, tune_new_entries=tune_new_entries, allow_new_entries=allow_new_entries,
            max_retries_per_trial=max_retries_per_trial, max_consecutive_failed_trials=max_consecutive_failed_trials,
        )
        self._start(oracle, hypermodel, **kwargs)


class GridSearch(_SearchHooks, keras_tuner.GridSearch):
    """`keras_tuner.GridSearch`, with its arguments, on a `ResumableGridSearchOracle` (a reloaded search resumes).

    Args:
        hypermodel ... max_consecutive_failed_trials: as `keras_tuner.GridSearch`.
        **kwargs: `keras_tuner.Tuner` arguments.
    """

    def __init__(self, hypermodel=None, objective=None, max_trials=None, seed=None, hyperparameters=None, tune_new_entries=True,
                 allow_new_entries=True, max_retries_per_trial=0, max_consecutive_failed_trials=3, **kwargs):
        self.seed = seed  # as KerasTuner's sets it
        oracle = ResumableGridSearchOracle(
            objective=objective, max_trials=max_trials, seed=seed, hyperparameters=hyperparameters, tune_new_entries=tune_new_entries,
            allow_new_entries=allow_new_entries, max_retries_per_trial=max_retries_per_trial,
            max_consecutive_failed_trials=max_consecutive_failed_trials,
        )
        self._start(oracle, hypermodel, **kwargs)


class Hyperband(_SearchHooks, keras_tuner.Hyperband):
    """`keras_tuner.Hyperband`, with its arguments, on a `CappedHyperbandOracle`.

    Args:
        hypermodel ... max_consecutive_failed_trials: as `keras_tuner.Hyperband`.
        max_trials: Most trials to create (keyword-only); `None` (the default) sets
            no cap, as KerasTuner's `Hyperband` has none.
        **kwargs: `keras_tuner.Tuner` arguments.
    """

    def __init__(self, hypermodel=None, objective=None, max_epochs=100, factor=3, hyperband_iterations=1, seed=None,
                 hyperparameters=None, tune_new_entries=True, allow_new_entries=True, max_retries_per_trial=0,
                 max_consecutive_failed_trials=3, *, max_trials=None, **kwargs):
        oracle = CappedHyperbandOracle(
            objective=objective, max_epochs=max_epochs, factor=factor, hyperband_iterations=hyperband_iterations, seed=seed,
            hyperparameters=hyperparameters, tune_new_entries=tune_new_entries, allow_new_entries=allow_new_entries,
            max_retries_per_trial=max_retries_per_trial, max_consecutive_failed_trials=max_consecutive_failed_trials,
            max_trials=max_trials,
        )
        self._start(oracle, hypermodel, **kwargs)
