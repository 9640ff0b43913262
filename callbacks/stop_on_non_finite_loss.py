"""Stops training at the first NaN or infinite loss and says where it happened."""

from __future__ import annotations

from typing import Any

import keras

from callbacks.log_values import all_finite, loggable
from callbacks.stop_reasons import non_finite_reason


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Stops `fit()` when the monitored loss becomes NaN or infinite.

    Unlike `keras.callbacks.TerminateOnNaN`, it declares itself `async_safe`:
    on the backends Keras treats as thread-safe (JAX, PyTorch) its batch hook
    runs on a helper thread while steps keep being dispatched (a step or two may
    run after the bad one before training stops). Keras' TensorFlow trainer runs
    every batch hook on the training thread, after the step has finished. It
    records where the loss first went bad, so a caller can report it: `epoch`
    and `batch` (both 0-based), `value` and a one-line `stop_reason`.

    Batch logs hold the running mean of the epoch so far, so the first batch
    whose mean is not finite is the first batch whose own loss was not finite.
    With `steps_per_execution` > 1 Keras logs once per step of several
    batches: `batch` is then the step's last batch within the epoch, and
    `stop_reason` names the step's batches, any of which may be the bad one.
    A monitored value of several numbers stops when any is not finite.

    Args:
        monitor: The key watched in the batch logs. Defaults to `"loss"`.

    Example:

    ```python
    guard = StopOnNonFiniteLoss()
    model.fit(x, y, epochs=10, callbacks=[guard])
    if guard.stop_reason:
        print(guard.stop_reason)
    ```
    """

    async_safe = True  # Read by Keras' CallbackList: batch hooks may run off the main thread.

    def __init__(self, monitor: str = "loss") -> None:
        super().__init__()
        if not isinstance(monitor, str) or not monitor:
            raise ValueError(f"`monitor` ({monitor!r}) must be a non-empty metric name such as 'loss'.")
        self.monitor = monitor
        self.on_train_begin()

    def get_config(self) -> dict[str, Any]:
        return {"monitor": self.monitor}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> StopOnNonFiniteLoss:
        return cls(**config)

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.epoch: int | None = None
        self.batch: int | None = None
        self.value: float | list[float] | None = None
        self.stop_reason: str | None = None
        self._current_epoch = 0
        self._next_batch = 0  # The first batch of the next step.

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._current_epoch = epoch
        self._next_batch = 0

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        # With `steps_per_execution` > 1 one call runs several batches and `batch` is the
        # last of them, counted as if the step were full (the epoch's last may overshoot).
        steps = (self.params or {}).get("steps")
        first, last = self._next_batch, min(batch, steps - 1) if steps else batch
        self._next_batch = batch + 1
        if self.stop_reason is not None or self.monitor not in logs or all_finite(logs[self.monitor]):
            return
        self.epoch, self.batch, self.value = self._current_epoch, last, loggable(logs[self.monitor])
        self.stop_reason = non_finite_reason(self.monitor, self.value, epoch=self.epoch, first_batch=first, last_batch=last)
        self.model.stop_training = True

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        # A safety net when batch logs lack the key (a custom train_step, say).
        if self.stop_reason is None and self.monitor in logs and not all_finite(logs[self.monitor]):
            self.epoch, self.value = epoch, loggable(logs[self.monitor])
            self.stop_reason = non_finite_reason(self.monitor, self.value, epoch=epoch, first_batch=None, last_batch=None)
            self.model.stop_training = True
