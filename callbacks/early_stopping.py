"""Early stopping that is `keras.callbacks.EarlyStopping` for Keras code, and says why it stopped."""

from __future__ import annotations

import math
import warnings
from typing import Any

import keras

from callbacks.arguments import check, is_count, is_flag, is_real
from callbacks.early_stopping_state import STATE_KEYS, read_state
from callbacks.log_values import as_float
from callbacks.monitor_direction import infer_mode
from callbacks.stop_reasons import early_stopping_reason

_MODES = ("auto", "min", "max")


class MissingMonitorError(ValueError):
    """The monitored metric is not among the logged ones; the message lists those that are."""

    def __init__(self, monitor: str, keys: list[str]) -> None:
        super().__init__(f"EarlyStopping `monitor` ({monitor!r}) is not in the epoch logs; keys there: "
                         f"{keys}. Pass one of them, or validation data for `val_*`.")


class EarlyStopping(keras.callbacks.Callback):
    """Stops training when a monitored metric has stopped improving.

    A drop-in for `keras.callbacks.EarlyStopping`: the same arguments (names,
    order, defaults), public attributes and methods, holding the same values
    at every point of a `fit`; the same stop epoch and restored weights. As in
    Keras, `"auto"` minimizes `loss` and otherwise follows the compiled metric
    of that name; values are compared with `monitor_op` in `floatx`; a better
    value that does not beat `baseline` becomes the best without restarting
    patience; an unknown `mode` warns and falls back to `"auto"`. Unlike Keras:

    - A NaN value never becomes the best; it counts as no improvement (Keras
      keeps a NaN first value as its best, and nothing ever beats it).
    - A `monitor` missing from the logs raises `ValueError` listing the keys
      there (Keras warns and skips the epoch). Epochs without any `val_*` key
      are skipped silently (`validation_freq`); a run that never logs
      `monitor` raises at its end.
    - A one-element array (`keras.metrics.F1Score` of one output unit) reads
      as its number, so `best` is a float; several numbers raise `ValueError`.
    - It sets `stop_reason`, and `verbose=1` prints it with the stop.
    - Arguments Keras would fail on later, or that mean nothing (a negative
      `patience`, a NaN), raise `ValueError` at once.

    Args:
        monitor: Name of the quantity to watch, a key of the epoch logs.
            Defaults to `"val_loss"`.
        min_delta: How much a value must beat the best by, strictly, to count
            as an improvement; its sign is ignored. Defaults to `0`.
        patience: Epochs without improvement after which training stops.
            Defaults to `0`.
        verbose: `1` prints why and when training stopped. Defaults to `0`.
        mode: `"min"`, `"max"`, or `"auto"` to infer it from `monitor`.
            Defaults to `"auto"`.
        baseline: Value the metric must beat before patience restarts, or
            `None`. Defaults to `None`.
        restore_best_weights: Whether to load the weights of the best epoch at
            the end of training (stopped or not). Defaults to `False`.
        start_from_epoch: Epochs to ignore before monitoring starts (warm-up).
            Defaults to `0`.

    Attributes:
        monitor_op: `keras.ops.less` or `keras.ops.greater` from the first
            epoch's end; `None` before.
        min_delta: As Keras stores it: its size, negated once `monitor_op` is
            `keras.ops.less`.
        best: Best monitored value of the run, or `None`.
        best_epoch: 0-based epoch of `best` (or of `best_weights` before any
            value improves); 0 before that.
        best_weights: The weights to restore at the end, or `None`.
        wait: Epochs since the last improvement.
        stopped_epoch: 0-based epoch at whose end training was stopped, or 0
            when it was not stopped (Keras never stops at epoch 0).
        stop_reason: One sentence on why training stopped, or `None`.

    Raises:
        ValueError: On a bad argument, or from the hooks as listed above.

    Example:

    >>> stopper = EarlyStopping(monitor="val_loss", patience=3)
    >>> model.fit(x, y, validation_split=0.2, epochs=100,
    ...           callbacks=[stopper])  # doctest: +SKIP
    >>> stopper.stop_reason  # doctest: +SKIP
    'val_loss did not improve by more than 0 for 3 epochs after epoch 5 (best 0.2310)'
    """

    def __init__(
        self,
        monitor="val_loss",
        min_delta=0,
        patience=0,
        verbose=0,
        mode="auto",
        baseline=None,
        restore_best_weights=False,
        start_from_epoch=0,
    ) -> None:
        super().__init__()
        check("monitor", monitor, isinstance(monitor, str) and monitor != "", "a metric name such as 'val_loss'")
        check("min_delta", min_delta, is_real(min_delta) and math.isfinite(min_delta), "a finite number")
        check("patience", patience, is_count(patience), "a whole number >= 0")
        check("verbose", verbose, is_count(verbose) or is_flag(verbose), "a whole number >= 0")
        check("baseline", baseline, baseline is None or is_real(baseline), "a number or None")
        check("restore_best_weights", restore_best_weights, is_flag(restore_best_weights), "a bool")
        check("start_from_epoch", start_from_epoch, is_count(start_from_epoch), "a whole number >= 0")
        if mode not in _MODES:  # As Keras does.
            warnings.warn(f"EarlyStopping mode '{mode}' is unknown, fallback to auto mode.", stacklevel=2)
            mode = "auto"
        self.monitor = monitor
        self.mode = mode
        self.min_delta = abs(float(min_delta))
        self.patience = int(patience)
        self.verbose = int(verbose)
        self.baseline = None if baseline is None else float(baseline)
        self.restore_best_weights = bool(restore_best_weights)
        self.start_from_epoch = int(start_from_epoch)
        self.monitor_op = None
        self.best = None
        self.wait = 0
        self.stopped_epoch = 0
        self.best_epoch = 0
        self.best_weights = None
        self.stop_reason: str | None = None
        self._resume: dict[str, Any] | None = None
        self._keys_seen: list[str] | None = None  # Those of the last epoch, for the error.
        self._monitor_seen = False

    def get_config(self) -> dict[str, Any]:
        """Returns the constructor arguments, JSON-native."""
        names = ("monitor", "patience", "verbose", "mode", "baseline", "restore_best_weights", "start_from_epoch")
        return {"min_delta": abs(self.min_delta), **{name: getattr(self, name) for name in names}}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> EarlyStopping:
        """Builds an instance from `get_config()` output."""
        return cls(**config)

    def get_state(self) -> dict[str, Any]:
        """Returns the JSON-native run state, without the best weights.

        Save `best_weights` beside it (they are arrays) and pass them back to
        `set_state`; without them, weights are restored only from an epoch that
        improves on the loaded `best`.
        """
        return {key: getattr(self, key) for key in STATE_KEYS}

    def set_state(self, state: dict[str, Any], best_weights: list | None = None) -> None:
        """Loads `get_state()` output; the next `fit()` continues from it, unstopped.

        Checkpoints of earlier versions load too (see `read_state`).

        Args:
            state: Output of `get_state()`.
            best_weights: The `best_weights` saved with that state, if any.

        Raises:
            ValueError: When `state` is not what `get_state()` returns.
        """
        state = read_state(state)
        self.wait, self.best = state["wait"], state["best"]
        self.best_epoch, self.stopped_epoch = state["best_epoch"], state["stopped_epoch"]
        self.stop_reason = state["stop_reason"]  # set when the saved run had stopped
        self.best_weights = best_weights
        self._resume = {**state, "best_weights": best_weights}

    def on_train_begin(self, logs=None) -> None:
        resume, self._resume = self._resume or {}, None
        self.wait = resume.get("wait", 0)
        self.stopped_epoch = 0
        self.best = resume.get("best")
        self.best_weights = resume.get("best_weights")
        self.best_epoch = resume.get("best_epoch", 0)
        self.stop_reason = None
        self._keys_seen, self._monitor_seen = None, False

    def on_epoch_end(self, epoch, logs=None) -> None:
        logs = logs or {}
        self._keys_seen = sorted(logs)
        current = self.get_monitor_value(logs)
        if self.monitor_op is None:  # Once the model's metrics are built, as in Keras.
            self._set_monitor_op()
        if current is None:
            return  # No validation this epoch.
        self._monitor_seen = True
        if epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None and self.best is None:
            # Until a value improves, the first monitored epoch's weights are the best.
            self.best_weights, self.best_epoch = self.model.get_weights(), epoch
        self.wait += 1
        if not math.isnan(current) and self._is_improvement(current, self.best):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
        elif self.wait >= self.patience and epoch > 0:  # Keras never stops at epoch 0.
            self._stop(epoch)

    def on_train_end(self, logs=None) -> None:
        if self._keys_seen is not None and not self._monitor_seen:
            raise MissingMonitorError(self.monitor, self._keys_seen)
        if self.stopped_epoch > 0 and self.verbose > 0:
            reason = f": {self.stop_reason}." if self.stop_reason else ""
            print(f"Epoch {self.stopped_epoch + 1}: early stopping{reason}")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)

    def get_monitor_value(self, logs):
        """Returns the monitored value of `logs` as a float, or `None` for an epoch without validation.

        Raises:
            ValueError: When `monitor` is missing from logs that have it
                (listing the keys there), or holds several numbers.
        """
        logs = logs or {}
        if logs.get(self.monitor) is None:
            if self.monitor.startswith("val_") and not any(key.startswith("val_") for key in logs):
                return None  # `validation_freq` skips validation in some epochs.
            raise MissingMonitorError(self.monitor, sorted(logs))
        return as_float(logs[self.monitor], self.monitor)

    def _set_monitor_op(self) -> None:
        mode = infer_mode(self.model, self.monitor) if self.mode == "auto" else self.mode
        self.monitor_op = keras.ops.less if mode == "min" else keras.ops.greater
        if self.monitor_op is keras.ops.less:
            self.min_delta *= -1  # Keras' sign convention: `monitor_op(value - min_delta, best)`.

    def _is_improvement(self, value: float, reference: float | None) -> bool:
        if reference is None:
            return True
        # In `floatx`, as Keras does: Python floats disagree when a change rounds to `min_delta`.
        return bool(self.monitor_op(value - self.min_delta, reference))

    def _stop(self, epoch: int) -> None:
        self.stopped_epoch = epoch
        missed = self.best is not None and self.baseline is not None and not self._is_improvement(self.best, self.baseline)
        self.stop_reason = early_stopping_reason(
            self.monitor, wait=self.wait, best=self.best, best_epoch=self.best_epoch, min_delta=self.min_delta,
            missed_baseline=self.baseline if missed else None)
        self.model.stop_training = True
