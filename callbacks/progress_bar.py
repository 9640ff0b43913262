"""A live progress line for a terminal: mini-batch updates done, updates per second, time left."""

from __future__ import annotations

import sys
import time
from typing import Any

import keras

from callbacks.arguments import check, is_count, is_real
from callbacks.log_values import format_value, loggable
from callbacks.progress_logger import format_duration
from callbacks.terminal_lines import terminal_width

_ERASE = "\r\x1b[K"  # Back to the line's start, then clear to its end.
_BAR_WIDTH = 22  # brackets included: inside, as wide as Keras' bar
_MIN_BAR_WIDTH = 10  # narrower, a bar would say little


def _bar(done: int, total: int, width: int) -> str:
    filled = (width - 2) * done // total
    head = ">" if 0 < filled < width - 2 else ""
    return "[" + "=" * (filled - len(head)) + head + "." * (width - 2 - filled) + "]"


class ProgressBar(keras.callbacks.Callback):
    """Shows the epoch's progress on one terminal line, redrawn in place and erased when the epoch ends.

    The line counts mini-batch updates, however many of them each of `fit`'s
    steps applies, and gives the updates per second, the time left in the
    epoch and the latest batch metrics, the loss first:

    `epoch 2/10  [====>.....]  845/1688 updates  2,345/s  0:03 left  loss 0.3120  accuracy 0.9012`

    It fits the terminal's width (read at every epoch's start), dropping the
    metrics that do not fit, so the terminal never wraps it. When the epoch
    ends the line is erased, so what is printed next (put `EpochMetricsLogger`
    after this callback for one summary line per epoch) starts on a clean
    line; `erase()` does the same after an interrupted `fit()`. The line is
    redrawn at most every `interval` seconds, and it reads only the batch
    logs Keras has already made Python numbers. It writes carriage returns
    and an escape code: for a terminal only (`ProgressLogger` suits logs and
    pipes).

    Args:
        updates_per_step: Mini-batch updates each step of `fit` applies, where
            the batch hooks' `batch` counts steps: `1` for a plain `fit`
            (with Keras' `steps_per_execution`, `batch` already counts
            batches). Defaults to `1`.
        updates_per_epoch: Updates in one epoch, or `None` for Keras'
            `params["steps"]` times `updates_per_step`. Defaults to `None`.
        label: Text at the start of the line, e.g. `"trial 3/10"`. Defaults
            to `""`.
        interval: Fewest seconds between two redraws. Defaults to `0.1`.

    Example:

    >>> model.fit(x, y, epochs=10, verbose=0, callbacks=[ProgressBar(), EpochMetricsLogger()])  # doctest: +SKIP
    """

    async_safe = True  # Read by Keras' CallbackList: batch hooks may run off the main thread.

    def __init__(self, updates_per_step: int = 1, updates_per_epoch: int | None = None, label: str = "", interval: float = 0.1) -> None:
        super().__init__()
        check("updates_per_step", updates_per_step, is_count(updates_per_step) and updates_per_step >= 1, "an integer >= 1")
        check("updates_per_epoch", updates_per_epoch, updates_per_epoch is None or (is_count(updates_per_epoch) and updates_per_epoch >= 1),
              "an integer >= 1 or None")
        check("label", label, isinstance(label, str) and "\n" not in label and "\r" not in label, "a one-line string")
        check("interval", interval, is_real(interval) and interval >= 0, "a number of seconds >= 0")
        self.updates_per_step = int(updates_per_step)
        self.updates_per_epoch = None if updates_per_epoch is None else int(updates_per_epoch)
        self.label = label
        self.interval = float(interval)
        self._shown = False
        self._epoch: int | None = None

    def get_config(self) -> dict[str, Any]:
        """Returns the constructor arguments, JSON-native."""
        names = ("updates_per_step", "updates_per_epoch", "label", "interval")
        return {name: getattr(self, name) for name in names}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ProgressBar:
        """Builds an instance from `get_config()` output."""
        return cls(**config)

    def on_train_begin(self, logs: dict | None = None) -> None:
        logs = logs or {}
        self._epoch = None

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        self._epoch = epoch
        self._width = terminal_width()
        self._start = self._drawn_at = time.perf_counter()
        self._done = 0
        self._first: tuple[float, int] | None = None  # (time, updates) at the epoch's first step: it may hold compilation.
        self._last: tuple[float, int] | None = None
        self._metrics: dict[str, Any] = {}
        self._note = ""
        self._draw()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        if self._epoch is None:
            return
        now = time.perf_counter()
        total = self._total()
        done = (batch + 1) * self.updates_per_step
        # The epoch's last step may be short (or, with Keras' steps_per_execution, counted as full).
        self._done = min(done, total) if total else done
        self._last = (now, self._done)
        if self._first is None:
            self._first = self._last
        self._metrics = logs
        if now - self._drawn_at >= self.interval or self._done == total:
            self._draw()

    def on_test_begin(self, logs: dict | None = None) -> None:
        logs = logs or {}
        if self._epoch is not None:  # `fit`'s validation, not an `evaluate()` of its own
            self._note = "validating"
            self._draw()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        self._epoch = None
        self.erase()

    def on_train_end(self, logs: dict | None = None) -> None:
        logs = logs or {}
        self._epoch = None
        self.erase()

    def erase(self) -> None:
        """Clears the line if one is shown; `fit()` does this at each epoch's end, an interrupted `fit()` does not."""
        if self._shown:
            sys.stdout.write(_ERASE)
            sys.stdout.flush()
            self._shown = False

    def _total(self) -> int | None:
        if self.updates_per_epoch is not None:
            return self.updates_per_epoch
        steps = (self.params or {}).get("steps")
        return steps * self.updates_per_step if steps else None

    def _rate(self) -> float | None:
        """Updates per second: from the epoch's first step on when it had two, else since the epoch began."""
        if self._first is not None and self._last is not None and self._last[0] > self._first[0]:
            return (self._last[1] - self._first[1]) / (self._last[0] - self._first[0])
        if self._last is not None and self._last[0] > self._start:
            return self._last[1] / (self._last[0] - self._start)
        return None

    def _counts(self, total: int | None) -> list[str]:
        """The updates done, then (when known) the rate and the time left or what is running instead."""
        counts = [f"{self._done}/{total} updates" if total else f"{self._done} updates"]
        rate = self._rate()
        if rate:
            counts.append(f"{rate:,.0f}/s" if rate >= 10 else f"{rate:.2g}/s")
        if self._note:
            counts.append(self._note)
        elif rate and total:
            counts.append(f"{format_duration((total - self._done) / rate)} left")
        return counts

    def _line(self) -> str:
        """The line, fitted to the terminal: the rate, the time left, the bar and the metrics where they fit."""
        epochs, total = (self.params or {}).get("epochs"), self._total()
        room = self._width - 1  # The last column would make some terminals wrap.
        heading = "  ".join([*([self.label] if self.label else []), f"epoch {self._epoch + 1}" + (f"/{epochs}" if epochs else "")])
        progress, *optional = self._counts(total)
        for part in optional:
            if len(heading) + len(progress) + len(part) + 4 <= room:
                progress += "  " + part
        bar_width = min(_BAR_WIDTH, max(_MIN_BAR_WIDTH, self._width // 8))  # one width per terminal: the bar stays put
        fits = total and len(heading) + bar_width + len(progress) + 4 <= room
        line = "  ".join([heading, _bar(self._done, total, bar_width), progress] if fits else [heading, progress])
        for key in sorted(self._metrics, key=lambda key: key != "loss"):  # the loss first, then Keras' order
            value = loggable(self._metrics[key])
            if not isinstance(value, float):
                continue  # a per-class metric: the epoch's summary shows it
            if len(line) + len(part := f"  {key} {format_value(value)}") > room:
                break
            line += part
        return line[:room]

    def _draw(self) -> None:
        sys.stdout.write(_ERASE + self._line())
        sys.stdout.flush()
        self._shown = True
        self._drawn_at = time.perf_counter()
