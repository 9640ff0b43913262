"""Plain-text progress with time left, for logs and pipes where a progress bar is noise."""

from __future__ import annotations

import time
from typing import Any

import keras

from callbacks.arguments import check, is_real


def format_duration(seconds: float) -> str:
    """Returns `"1:02:03"` or `"2:03"` for a number of seconds."""
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


class ProgressLogger(keras.callbacks.Callback):
    """Prints one line every `interval` seconds inside long epochs: where it is, time left.

    Keras' progress bar redraws itself with carriage returns, which a log file
    records as noise. This callback prints whole lines instead, and only when an
    epoch runs longer than `interval` seconds (SGD with batch size 1, a big data
    set), so short epochs stay one line each (see `EpochMetricsLogger`).
    It reads no metric values, so it never waits for the accelerator, and it is
    `async_safe`: on the backends Keras treats as thread-safe (JAX, PyTorch) its
    batch hook runs off the training loop.

    Example line: `epoch 1/10  12,000/60,000 steps (20%)  0:40 left in epoch, 7:20 in run`
    (steps are batches, within the epoch, also under `steps_per_execution`).

    Args:
        interval: Seconds between two lines. Defaults to `10.0`.
    """

    async_safe = True  # Read by Keras' CallbackList: batch hooks may run off the main thread.

    def __init__(self, interval: float = 10.0) -> None:
        super().__init__()
        check("interval", interval, is_real(interval) and interval > 0, "a number of seconds > 0")
        self.interval = float(interval)
        self.on_train_begin()

    def get_config(self) -> dict[str, Any]:
        return {"interval": self.interval}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ProgressLogger:
        return cls(**config)

    def on_train_begin(self, logs: dict | None = None) -> None:
        logs = logs or {}
        self.lines_printed = 0
        self._epoch = 0
        self._epoch_start = self._last_line = time.perf_counter()

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        self._epoch = epoch
        self._epoch_start = self._last_line = time.perf_counter()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        now = time.perf_counter()
        if now - self._last_line < self.interval:
            return
        self._last_line = now
        params = self.params or {}
        steps, epochs = params.get("steps"), params.get("epochs")
        # With `steps_per_execution` > 1, `batch` is the last of the step's batches, counted
        # as if the step were full: the epoch's last step may end past its last batch.
        done = min(batch + 1, steps) if steps else batch + 1
        elapsed = now - self._epoch_start
        parts = [f"epoch {self._epoch + 1}/{epochs}" if epochs else f"epoch {self._epoch + 1}"]
        if steps:
            parts.append(f"{done:,}/{steps:,} steps ({100 * done / steps:.0f}%)")
            epoch_left = elapsed / done * (steps - done)
            run_left = epoch_left + (elapsed / done * steps) * ((epochs or 0) - self._epoch - 1)
            parts.append(f"{format_duration(epoch_left)} left in epoch, {format_duration(run_left)} in run")
        else:
            parts.append(f"{done:,} steps, {format_duration(elapsed)} so far")
        print("  ".join(parts), flush=True)
        self.lines_printed += 1
