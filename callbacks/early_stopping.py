"""Early stopping that decides like `keras.callbacks.EarlyStopping`, but loudly."""

from __future__ import annotations

import math
from typing import Any

import keras

_MODES = ("auto", "min", "max")
_STATE_KEYS = ("wait", "best", "best_epoch", "stopped_epoch")


class MissingMonitorError(ValueError):
    """The monitored metric is not among the logged ones; the message lists those that are."""


def _is_number(value: Any, kinds: tuple = (int, float)) -> bool:
    return isinstance(value, kinds) and not isinstance(value, bool)


def _is_count(value: Any) -> bool:
    return _is_number(value, (int,)) and value >= 0


def _format(value: float) -> str:
    # As in Keras' progress bar: 4 decimals, scientific when tiny.
    return f"{value:.4f}" if value == 0 or abs(value) >= 1e-3 else f"{value:.4e}"


def _check(name: str, value: Any, ok: bool, expected: str) -> None:
    if not ok:
        raise ValueError(f"`{name}` ({value!r}) must be {expected}.")


class EarlyStopping(keras.callbacks.Callback):
    """Stops training when a monitored metric has stopped improving.

    A drop-in for `keras.callbacks.EarlyStopping`: same arguments, same stop
    epoch, same restored weights. As in Keras, `"auto"` minimizes `loss` and
    otherwise follows the compiled metric of that name (accuracy and AUC go
    up, errors go down); values are compared in `keras.ops`, in `floatx`; a
    better value that does not beat `baseline` becomes the best but does not
    restart patience (so one that keeps improving short of it never stops);
    and the best weights are restored at the end of every run, stopped or not.
    Unlike Keras:

    - A NaN value never becomes the best; it counts as no improvement (Keras
      keeps a NaN first value as its best, and nothing ever beats it).
    - A `monitor` missing from the logs raises `ValueError` listing the keys
      there (Keras warns). Epochs without any `val_*` key are skipped, as with
      `validation_freq`; a run that never logs `monitor` raises at its end.
    - A bad argument raises `ValueError` (Keras may fall back silently).

    Args:
        monitor: Name of the quantity to watch, a key of the epoch logs.
            Defaults to `"val_loss"`.
        min_delta: How much a value must beat the best by, strictly, to count
            as an improvement. Must be non-negative. Defaults to `0`.
        patience: Epochs without improvement after which training stops.
            Defaults to `0`.
        verbose: `1` prints why and when training stopped. Defaults to `0`.
        mode: `"min"`, `"max"`, or `"auto"` to infer it from `monitor`.
            Defaults to `"auto"`.
        baseline: Value the metric must beat before patience restarts, or
            `None`. Defaults to `None`.
        restore_best_weights: Whether to load the weights of the best epoch at
            the end of training. Defaults to `False`.
        start_from_epoch: Epochs to ignore before monitoring starts (warm-up).
            Defaults to `0`.

    Attributes:
        best: Best monitored value of the run, or `None`.
        best_epoch: 0-based epoch of `best` (like the hooks' `epoch`), or `None`.
        stopped_epoch: 0-based epoch at whose end training was stopped, or
            `None` when it was not stopped.
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
        monitor: str = "val_loss",
        min_delta: float = 0,
        patience: int = 0,
        verbose: int = 0,
        mode: str = "auto",
        baseline: float | None = None,
        restore_best_weights: bool = False,
        start_from_epoch: int = 0,
    ) -> None:
        super().__init__()
        _check("monitor", monitor, isinstance(monitor, str) and monitor != "",
               "a metric name such as 'val_loss'")
        _check("min_delta", min_delta, _is_number(min_delta) and 0 <= min_delta < math.inf,
               "a non-negative number; `mode` sets the direction")
        _check("patience", patience, _is_count(patience), "a non-negative integer")
        _check("verbose", verbose, _is_count(verbose), "a non-negative integer")
        _check("mode", mode, mode in _MODES, f"one of {_MODES}")
        _check("baseline", baseline, baseline is None
               or (_is_number(baseline) and math.isfinite(baseline)), "a finite number or None")
        _check("restore_best_weights", restore_best_weights,
               isinstance(restore_best_weights, bool), "a bool")
        _check("start_from_epoch", start_from_epoch, _is_count(start_from_epoch),
               "a non-negative integer")
        self.monitor = monitor
        self.min_delta = min_delta
        self.patience = patience
        self.verbose = verbose
        self.mode = mode
        self.baseline = baseline
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = start_from_epoch
        self._resume: dict[str, Any] | None = None
        self.on_train_begin()  # Sets the run state as it is before any `fit()`.

    def get_config(self) -> dict[str, Any]:
        """Returns the constructor arguments, JSON-native."""
        names = ("monitor", "min_delta", "patience", "verbose", "mode", "baseline",
                 "restore_best_weights", "start_from_epoch")
        return {name: getattr(self, name) for name in names}

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
        return {key: getattr(self, key) for key in _STATE_KEYS}

    @property
    def best_weights(self) -> list | None:
        """The weights of the best epoch so far (when `restore_best_weights`), or `None`."""
        return self._best_weights

    def set_state(self, state: dict[str, Any], best_weights: list | None = None) -> None:
        """Loads `get_state()` output; the next `fit()` continues from it, unstopped.

        Args:
            state: Output of `get_state()`.
            best_weights: The `best_weights` saved with that state, if any.
        """
        if not isinstance(state, dict) or set(state) != set(_STATE_KEYS):
            raise ValueError(f"`state` keys ({sorted(state) if isinstance(state, dict) else state!r}) must be {sorted(_STATE_KEYS)}.")
        if not _is_count(state["wait"]):
            raise ValueError(f"`state['wait']` ({state['wait']!r}) must be an integer >= 0.")
        for key in ("best_epoch", "stopped_epoch"):
            if state[key] is not None and not _is_count(state[key]):
                raise ValueError(f"`state[{key!r}]` ({state[key]!r}) must be an integer >= 0 or None.")
        if state["best"] is not None and not _is_number(state["best"]):
            raise ValueError(f"`state['best']` ({state['best']!r}) must be a number or None.")
        self._resume = {**state, "best_weights": best_weights}
        for key in _STATE_KEYS:
            setattr(self, key, state[key])

    def on_train_begin(self, logs: dict | None = None) -> None:
        logs = logs or {}
        resume, self._resume = self._resume or {}, None
        self.wait = resume.get("wait", 0)
        self.best: float | None = resume.get("best")
        self.best_epoch: int | None = resume.get("best_epoch")
        self.stopped_epoch: int | None = None
        self.stop_reason: str | None = None
        self._best_weights: list | None = resume.get("best_weights")
        self._direction: str | None = None  # Resolved once the metrics are built.
        self._keys_seen: list[str] | None = None
        self._monitor_seen = False

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        self._keys_seen = sorted(logs)
        if self.monitor not in logs:
            if self.monitor.startswith("val_") and not any(k.startswith("val_") for k in logs):
                return  # No validation this epoch (`validation_freq`).
            raise MissingMonitorError(self._missing_message())
        self._monitor_seen = True
        if self._direction is None:
            self._direction = self._infer_direction()
        current = float(logs[self.monitor])
        if epoch < self.start_from_epoch:
            return
        self.wait += 1
        if not math.isnan(current) and self._improves(current, self.best):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self._best_weights = self.model.get_weights()
            if self.baseline is None or self._improves(current, self.baseline):
                self.wait = 0
        elif self.wait >= self.patience and epoch > 0:  # Keras never stops at epoch 0.
            self.stopped_epoch, self.stop_reason = epoch, self._reason()
            self.model.stop_training = True

    def on_train_end(self, logs: dict | None = None) -> None:
        logs = logs or {}
        if self._keys_seen is not None and not self._monitor_seen:
            raise MissingMonitorError(self._missing_message())
        if self.stopped_epoch is not None and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping: {self.stop_reason}.")
        if self._best_weights is not None:
            if self.verbose > 0:
                print(f"Restoring model weights from the end of epoch {self.best_epoch + 1}.")
            self.model.set_weights(self._best_weights)

    def _improves(self, value: float, reference: float | None) -> bool:
        if reference is None:
            return True
        # `keras.ops` compares in `floatx`, as Keras does; Python floats would
        # disagree with it when a change rounds to `min_delta`.
        if self._direction == "min":
            return bool(keras.ops.less(value + self.min_delta, reference))
        return bool(keras.ops.greater(value - self.min_delta, reference))

    def _infer_direction(self) -> str:
        if self.mode != "auto":
            return self.mode
        name = self.monitor.removeprefix("val_")
        direction = "min" if name == "loss" else None
        for container in getattr(self.model, "metrics", None) or []:
            inner = getattr(container, "metrics", None)  # The compiled metrics.
            for metric in inner if isinstance(inner, list) else []:
                if metric.name == name and hasattr(metric, "_direction"):
                    direction = "max" if metric._direction == "up" else "min"
        if direction is None:
            raise ValueError(
                f"EarlyStopping cannot tell whether `monitor` ({self.monitor!r}) should go "
                "up or down: no compiled metric says. Pass `mode='max'` or `mode='min'`."
            )
        return direction

    def _reason(self) -> str:
        epochs = f"{self.wait} epoch{'s' if self.wait != 1 else ''}"
        if self.best is None:
            return f"{self.monitor} was NaN for {epochs}"
        if self.baseline is not None and not self._improves(self.best, self.baseline):
            return (f"{self.monitor} did not beat baseline {self.baseline} by more than "
                    f"{self.min_delta} in {epochs} "
                    f"(best {_format(self.best)} at epoch {self.best_epoch + 1})")
        return (f"{self.monitor} did not improve by more than {self.min_delta} for {epochs} "
                f"after epoch {self.best_epoch + 1} (best {_format(self.best)})")

    def _missing_message(self) -> str:
        return (f"EarlyStopping `monitor` ({self.monitor!r}) is not in the epoch logs; keys "
                f"there: {self._keys_seen}. Pass one of them, or validation data for `val_*`.")
