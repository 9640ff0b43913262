"""Stops training at the first NaN or infinite loss and says where it happened."""

from __future__ import annotations

import math
from typing import Any

import keras


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
        logs = logs or {}
        self.epoch: int | None = None
        self.batch: int | None = None
        self.value: float | None = None
        self.stop_reason: str | None = None
        self._current_epoch = 0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        self._current_epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        if self.stop_reason is not None or self.monitor not in logs:
            return
        value = float(logs[self.monitor])
        if not math.isfinite(value):
            self.epoch, self.batch, self.value = self._current_epoch, batch, value
            self.stop_reason = f"{self.monitor} became {value} at epoch {self._current_epoch + 1}, batch {batch + 1}"
            self.model.stop_training = True

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        # A safety net when batch logs lack the key (a custom train_step, say).
        value = logs.get(self.monitor)
        if self.stop_reason is None and value is not None and not math.isfinite(float(value)):
            self.epoch, self.value = epoch, float(value)
            self.stop_reason = f"{self.monitor} became {float(value)} during epoch {epoch + 1}"
            self.model.stop_training = True
