"""A callback that times one regime of a batch-size comparison and records its curve.

It measures training time only (validation scoring is excluded), stops `fit`
when a time budget is spent, even mid-epoch, and scores the validation rows
before the first update, at epoch ends and at regular points in between.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Sequence

import keras
import numpy as np

from keras_minibatch.batch_sizes.results import CurvePoint

# Epochs `fit` is asked for when only a seconds budget bounds a regime.
UNBOUNDED_EPOCHS = 1_000_000
# At most one progress line per this many seconds of wall time.
_PROGRESS_EVERY_SECONDS = 5.0


def weights_sha256(weights: Sequence[np.ndarray]) -> str:
    """Returns a digest of a list of weight arrays (values, shapes and order)."""
    digest = hashlib.sha256()
    for array in weights:
        array = np.ascontiguousarray(array)
        digest.update(str((array.shape, array.dtype.str)).encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


class RegimeClock(keras.callbacks.Callback):
    """Times training (validation excluded), stops it at the time budget, records the curve.

    The batch hook reads the clock only, never `logs`; Keras calls it once per
    call into the compiled function (every `fit_batch_size` rows), so a time
    budget is overrun by at most one such call, and even batch size 1 on a large
    training set stops on time and reports progress. One instance serves one `fit()` at a
    time; its state is reset in `on_train_begin`.

    Args:
        evaluate: Returns `(val_loss, val_accuracy)` of the model as it is now.
        batch_size: Rows per optimizer update.
        fit_batch_size: Rows per batch handed to `fit` (a multiple of
            `batch_size` when several updates run per call).
        num_fit_samples: Training rows per epoch.
        budget_seconds: Training seconds after which `fit` stops, or `None`.
        evaluate_every_updates: Updates between mid-epoch curve points, or `None`.
        evaluate_every_seconds: Training seconds between curve points, or `None`.
        progress: Receives a curve point to show, at most every few seconds.

    Attributes:
        points: The `CurvePoint`s so far, the first before any update.
        updates: Updates done.
        stopped_by: `"seconds"` when the time budget stopped `fit`, else `"epochs"`.
        initial_weights_sha256: Digest of the weights at `on_train_begin`.
    """

    def __init__(
        self,
        *,
        evaluate: Callable[[], tuple[float, float]],
        batch_size: int,
        fit_batch_size: int,
        num_fit_samples: int,
        budget_seconds: float | None,
        evaluate_every_updates: int | None,
        evaluate_every_seconds: float | None,
        progress: Callable[[CurvePoint], object],
    ) -> None:
        super().__init__()
        self._evaluate = evaluate
        self._batch_size = batch_size
        self._fit_batch_size = fit_batch_size
        self._num_fit_samples = num_fit_samples
        self._updates_per_epoch = math.ceil(num_fit_samples / batch_size)
        self._budget_seconds = budget_seconds
        self._every_updates = evaluate_every_updates
        self._every_seconds = evaluate_every_seconds
        self._progress = progress

    @property
    def seconds(self) -> float:
        """Training seconds: wall time since the start, less validation time, until the end."""
        end = time.perf_counter() if self._end is None else self._end
        return end - self._start - self._paused

    def on_train_begin(self, logs=None):
        logs = logs or {}
        self.points: list[CurvePoint] = []
        self.updates = 0
        self.stopped_by = "epochs"
        self.initial_weights_sha256 = weights_sha256(self.model.get_weights())
        self._start, self._end, self._paused, self._epoch_start_updates = time.perf_counter(), None, 0.0, 0
        self._next_updates = self._every_updates
        self._next_seconds = self._every_seconds
        self._last_progress, self._last_shown = -math.inf, None
        self._record(seconds=0.0)

    def on_train_batch_end(self, batch, logs=None):
        # `batch` counts calls into the compiled function; each covers `fit_batch_size` rows.
        rows = min((batch + 1) * self._fit_batch_size, self._num_fit_samples)
        self.updates = self._epoch_start_updates + math.ceil(rows / self._batch_size)
        seconds = self.seconds
        if self._budget_seconds is not None and seconds >= self._budget_seconds:
            self.stopped_by = "seconds"
            self.model.stop_training = True
            return  # `on_epoch_end` records the last point.
        due = (self._next_updates is not None and self.updates >= self._next_updates) or (
            self._next_seconds is not None and seconds >= self._next_seconds)
        if due and rows < self._num_fit_samples:  # An epoch end is recorded by `on_epoch_end`.
            self._record()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        self._epoch_start_updates = self.updates
        # With a seconds budget alone, fast epochs are recorded only when a point is due.
        only_when_due = self.params.get("epochs") == UNBOUNDED_EPOCHS and not self.model.stop_training
        if not only_when_due or (self._next_seconds is not None and self.seconds >= self._next_seconds):
            self._record()

    def on_train_end(self, logs=None):
        logs = logs or {}
        if self.points[-1].updates != self.updates:
            self._record()
        self._end = time.perf_counter()  # `seconds` stays the training time from now on.
        if self._last_shown is not self.points[-1]:
            self._show(self.points[-1])

    def _record(self, seconds: float | None = None) -> None:
        seconds = self.seconds if seconds is None else seconds
        paused_at = time.perf_counter()
        val_loss, val_accuracy = self._evaluate()
        point = CurvePoint(epoch=self.updates / self._updates_per_epoch, updates=self.updates, seconds=seconds,
                           val_loss=val_loss, val_accuracy=val_accuracy)
        self.points.append(point)
        # The next point is the first interval mark past now: computed, not stepped to (a tiny
        # interval would take billions of steps).
        if self._next_updates is not None and self._next_updates <= self.updates:
            self._next_updates += (math.floor((self.updates - self._next_updates) / self._every_updates) + 1) * self._every_updates
        if self._next_seconds is not None and self._next_seconds <= seconds:
            self._next_seconds += (math.floor((seconds - self._next_seconds) / self._every_seconds) + 1) * self._every_seconds
        if paused_at - self._last_progress >= _PROGRESS_EVERY_SECONDS:
            self._show(point)
        self._paused += time.perf_counter() - paused_at

    def _show(self, point: CurvePoint) -> None:
        self._last_progress, self._last_shown = time.perf_counter(), point
        self._progress(point)
