"""KerasTuner's oracles, with KerasTuner's arguments; grid search resumable, Hyperband capped on request.

Each oracle is KerasTuner's (same constructor arguments, same behaviour) plus a
mixin that reports trial start and end to a `recorder` of its own, when one is
set: in a distributed search (KerasTuner's chief/worker mode) the chief runs no
trials, only the oracle, so that is where our search's chief hears about them.
Two oracles are adjusted further:

- `ResumableGridSearchOracle`: KerasTuner's `GridSearchOracle` forgets its place
  in the grid when it is reloaded, so a resumed grid search crashes or stops
  early; this one finds it again (`compat.rebuild_grid_position` says how).
- `CappedHyperbandOracle`: `HyperbandOracle` has no `max_trials`; this one takes
  it as a keyword after KerasTuner's arguments and then stops creating trials
  there like the other oracles (the base `Oracle` checks `max_trials` in
  `create_trial`). Without it, no cap, as KerasTuner's.
"""

from __future__ import annotations

import math
from typing import Any

import keras_tuner

from keras_minibatch import compat

__all__ = [
    "BayesianOptimizationOracle", "CappedHyperbandOracle", "RandomSearchOracle", "ResumableGridSearchOracle", "hyperband_cap_note",
]


class _OracleHooks:
    """Mixin for a KerasTuner `Oracle`: reports trial start and end to `recorder`, if set.

    Set on a distributed search's chief only; a local search or a worker hears
    about its trials through the tuner's hooks (`tuners`) instead.
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
    """KerasTuner's `RandomSearchOracle` (its arguments), reporting trials to `recorder` when set."""


class BayesianOptimizationOracle(_OracleHooks, keras_tuner.oracles.BayesianOptimizationOracle):
    """KerasTuner's `BayesianOptimizationOracle` (its arguments), reporting trials to `recorder` when set."""


class ResumableGridSearchOracle(_OracleHooks, keras_tuner.oracles.GridSearchOracle):
    """KerasTuner's `GridSearchOracle` (its arguments) that finds its place in the grid again after a reload."""

    def set_state(self, state: dict[str, Any]) -> None:
        super().set_state(state)
        compat.rebuild_grid_position(self)


class CappedHyperbandOracle(_OracleHooks, keras_tuner.oracles.HyperbandOracle):
    """`HyperbandOracle` that creates at most `max_trials` trials, when given.

    Args:
        objective ... max_consecutive_failed_trials: as `keras_tuner.oracles.HyperbandOracle`.
        max_trials: Most trials to create (keyword-only); `None` (the default) sets
            no cap, as `HyperbandOracle` has none.
    """

    def __init__(self, objective=None, max_epochs=100, factor=3, hyperband_iterations=1, seed=None, hyperparameters=None,
                 allow_new_entries=True, tune_new_entries=True, max_retries_per_trial=0, max_consecutive_failed_trials=3, *,
                 max_trials=None):
        super().__init__(
            objective=objective, max_epochs=max_epochs, factor=factor, hyperband_iterations=hyperband_iterations, seed=seed,
            hyperparameters=hyperparameters, allow_new_entries=allow_new_entries, tune_new_entries=tune_new_entries,
            max_retries_per_trial=max_retries_per_trial, max_consecutive_failed_trials=max_consecutive_failed_trials,
        )
        self.max_trials = max_trials


def hyperband_cap_note(max_trials: int, max_epochs: int, factor: int) -> str | None:
    """Says how far `max_trials` lets Hyperband's first bracket go, when it stops it short; else `None`.

    KerasTuner's Hyperband starts with its most aggressive bracket: many trials of
    few epochs, of which the best continue for more. The sizes below follow
    `HyperbandOracle._get_size` / `_get_epochs` (recomputed here, not called: they
    are private).
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
