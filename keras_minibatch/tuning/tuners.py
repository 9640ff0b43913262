"""KerasTuner's own four tuners, with hooks for our trial records, two resume repairs, less overhead.

The search itself is KerasTuner's: each class here is its tuner plus a mixin that
reports trial begin, training and end to a `TrialRecorder`, and passes each
trial's TensorBoard folder to `MLPHyperModel.fit`. Each oracle is KerasTuner's
plus a mixin that reports ended trials to a `recorder` of its own: in a distributed
search (KerasTuner's chief/worker mode) the chief runs no trials, only the oracle,
so that is where the chief hears about them. Two oracles are adjusted further:

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

Speed: KerasTuner's `Tuner._try_build` calls `keras.backend.clear_session()` and
`gc.collect()` before every model it builds. Keras 3's `clear_session` runs a second
`gc.collect()` and empties TensorFlow's eager kernel cache. On a TensorFlow process
each full collection walks millions of objects (about 0.2 s on 2 CPU cores), and
with the kernel cache gone every trial builds its kernels again: together 0.4-0.6 s
per trial, a third of a 1.5 s trial (benchmarks/tuning_overhead.py). Every trial
here builds a fresh model from a reset seed, which needs none of it, and Python's
own garbage collector frees old trials' models all the same (peak memory after 50
trials: 979 MiB, against 925 MiB with KerasTuner's collections), so
`_TrialHooks._try_build` builds without them.

Distributed search: `distributed_role` asks KerasTuner (which reads
`KERASTUNER_TUNER_ID`, `KERASTUNER_ORACLE_IP` and `KERASTUNER_ORACLE_PORT`) whether
this process is the chief, a worker or on its own (`oracle_service` serves and
reaches the chief); `quiet_condition_protos` removes a stray debug
`print` that KerasTuner 1.4.8 runs each time a conditional hyperparameter is sent
between chief and worker (`conditions.Parent.to_proto` prints its first value, so
every trial put bare numbers among the trial lines).
"""

from __future__ import annotations

import contextlib
import functools
import math
import io
from typing import Any

import keras
import keras_tuner
from keras_tuner.src.distribute import utils as kerastuner_distribute

from keras_minibatch.runs import rundir
from keras_minibatch.checks import ConfigError
from keras_minibatch.tuning.search_config import SearchConfig

__all__ = [
    "BayesianOptimization", "BayesianOptimizationOracle", "CappedHyperbandOracle", "GridSearch", "Hyperband",
    "RandomSearch", "RandomSearchOracle", "ResumableGridSearchOracle", "distributed_role", "make_tuner",
    "quiet_condition_protos",
]

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
        if not kerastuner_distribute.has_chief_oracle():
            return "local"
    except RuntimeError as error:  # KerasTuner names the variable that is missing
        raise ConfigError(
            "KERASTUNER_TUNER_ID, KERASTUNER_ORACLE_IP, KERASTUNER_ORACLE_PORT", "incomplete",
            f"must be set together for a distributed search; KerasTuner says: {str(error).rstrip('.')}",
        ) from None
    return "chief" if kerastuner_distribute.is_chief_oracle() else "worker"


@contextlib.contextmanager
def failed_trials_untraced() -> Any:
    """Keeps KerasTuner from printing each failed trial's traceback while the block runs.

    KerasTuner 1.4.8's `BaseTuner._try_run_and_update_trial` calls
    `traceback.print_exc()` for every failed trial while `keras_tuner.src.config.DEBUG`
    is true, its default: dozens of lines between the trial lines. The trial
    table gives the reason in one line and `TrialRecorder` keeps the traceback in
    the trial's folder (`trial.message` holds it). The flag is restored after.
    """
    from keras_tuner.src import config as kerastuner_config

    before, kerastuner_config.DEBUG = kerastuner_config.DEBUG, False
    try:
        yield
    finally:
        kerastuner_config.DEBUG = before


def quiet_condition_protos() -> None:
    """Silences KerasTuner 1.4.8's debug `print` in `conditions.Parent.to_proto`; idempotent.

    Only a distributed search turns conditions into protos (for gRPC). The
    printed text goes to a throw-away buffer; the proto is KerasTuner's own.
    """
    from keras_tuner.src.engine import conditions

    original = conditions.Parent.to_proto
    if getattr(original, "quiet", False):
        return

    @functools.wraps(original)
    def to_proto(self):
        # `redirect_stdout` swaps `sys.stdout` for the whole process; protos are made by a
        # worker's main thread, or by the chief's one gRPC handler thread while its main thread sleeps.
        with contextlib.redirect_stdout(io.StringIO()):
            return original(self)

    to_proto.quiet = True
    conditions.Parent.to_proto = to_proto


class _OracleHooks:
    """Mixin for a KerasTuner `Oracle`: reports trial start and end to `recorder`, if set.

    Set on a distributed search's chief only; a local search or a worker hears
    about its trials through `_TrialHooks` instead.
    """

    recorder: Any = None

    def create_trial(self, tuner_id: str) -> Any:
        trial = super().create_trial(tuner_id)
        if self.recorder is not None and trial.status == "RUNNING":
            self.recorder.trial_started(trial.trial_id)
        return trial

    def end_trial(self, trial) -> None:
        super().end_trial(trial)
        if self.recorder is not None:
            self.recorder.trial_ended(self.get_trial(trial.trial_id), self.trials)


class RandomSearchOracle(_OracleHooks, keras_tuner.oracles.RandomSearchOracle):
    """KerasTuner's `RandomSearchOracle`, reporting ended trials to `recorder`."""


class BayesianOptimizationOracle(_OracleHooks, keras_tuner.oracles.BayesianOptimizationOracle):
    """KerasTuner's `BayesianOptimizationOracle`, reporting ended trials to `recorder`."""


class ResumableGridSearchOracle(_OracleHooks, keras_tuner.oracles.GridSearchOracle):
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


class CappedHyperbandOracle(_OracleHooks, keras_tuner.oracles.HyperbandOracle):
    """`HyperbandOracle` that creates at most `max_trials` trials.

    Args:
        max_trials: Most trials to create.
        **kwargs: `HyperbandOracle` arguments.
    """

    def __init__(self, *, max_trials: int, **kwargs: Any):
        super().__init__(**kwargs)
        self.max_trials = max_trials


def hyperband_cap_note(max_trials: int, max_epochs: int, factor: int) -> str | None:
    """Says how far `max_trials` lets Hyperband's first bracket go, when it stops it short; else `None`.

    KerasTuner's Hyperband starts with its most aggressive bracket: many trials of
    few epochs, of which the best continue for more. The sizes below follow
    `HyperbandOracle._get_size` / `_get_epochs` of KerasTuner 1.4.8 (recomputed
    here, not called: they are private).
    """
    num_brackets, epochs = 0, float(max_epochs)
    while epochs >= 1:
        epochs /= factor
        num_brackets += 1
    bracket = num_brackets - 1
    end_size = math.ceil(1 + math.log(max_epochs, factor)) / (bracket + 1)
    sizes = [math.ceil(end_size * factor ** (bracket - round_)) for round_ in range(bracket + 1)]
    round_epochs = [math.ceil(max_epochs / factor ** (bracket - round_)) for round_ in range(bracket + 1)]
    done, reached = 0, round_epochs[0]
    for size, round_epoch in zip(sizes, round_epochs):
        done += size
        if done > max_trials:
            break
        reached = round_epoch
    if reached >= max_epochs:
        return None
    return (
        f"hyperband: --max_trials={max_trials} ends the search inside its first bracket ({sizes[0]} trials of "
        f"{round_epochs[0]} epoch{'s' if round_epochs[0] != 1 else ''}, then the best continue), so no trial trains past "
        f"{reached} of {max_epochs} epochs; --max_trials={sum(sizes)} lets one reach {max_epochs}"
    )


class SearchStorageError(rundir.RunDirError, keras_tuner.errors.FatalError):
    """A file of the search could not be written (a full or read-only disk): the search stops.

    KerasTuner records a trial that raises as failed and goes on to the next, which
    a refusing disk would fail the same way; as a `FatalError` this stops the search
    with the trial unfinished, so `--resume` runs it again once the disk has room.
    """


class _TrialHooks:
    """Mixin for a KerasTuner `Tuner`: reports each trial to `recorder`, if set."""

    recorder: Any = None

    def _try_build(self, hp) -> keras.Model:
        # KerasTuner's own without `clear_session` and `gc.collect` (see the module docstring).
        model = self._build_hypermodel(hp)
        if not isinstance(model, keras.Model):
            raise keras_tuner.errors.FatalTypeError(
                f"HyperModel.build() must return a keras.Model; it returned {model!r} of type {type(model)}."
            )
        return model

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
