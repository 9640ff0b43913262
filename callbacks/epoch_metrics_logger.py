"""One line per epoch: every metric, the epoch time and the throughput."""

from __future__ import annotations

import os
import time
from typing import Any

import keras

from callbacks.arguments import check, is_count, is_flag
from callbacks.log_values import format_value, loggable
from callbacks.metrics_file import MetricsFile
from callbacks.terminal_lines import pack_lines, terminal_width

_SUFFIXES = (".jsonl", ".json", ".csv")


def _format_rate(rate: float) -> str:
    return f"{rate:,.0f}" if rate >= 100 else f"{rate:.3g}"


class EpochMetricsLogger(keras.callbacks.Callback):
    """Prints, records and optionally writes each epoch's metrics.

    Keras resets its metrics at the start of every epoch, so each value in
    the epoch logs (and here) covers that epoch alone: the epoch-2 `loss` is
    the mean over epoch 2's batches, not a running mean since the start of
    training, which would lag behind the model and hide a late jump.

    At the end of each epoch it builds one row: `epoch` (1-based), the
    metrics (training ones first, then `val_*`, each in log order),
    `epoch_seconds` (wall time from the epoch's start to its end, validation
    included) and the throughput, `samples_per_second` when `num_samples` is
    given, else `steps_per_second` from `params["steps"]` (`None` when Keras
    does not know the steps). A metric with one value per class (such as
    `keras.metrics.F1Score`) is a number when it has one value, else a list.
    A metric an earlier epoch of this `fit` logged and this one lacks (no
    validation this epoch, under `validation_freq`) is `None`: `null` in
    JSON, an empty CSV cell. Rows go to `history`, to stdout as one line
    (without the `None` values), and to `filename`. Only epoch-level hooks
    are used, so it never forces a per-batch device sync.

    Args:
        filename: File to write one row per epoch to, or `None`. `.jsonl` and
            `.json` write JSON lines (NaN and infinities as `null`); `.csv`
            writes CSV under a header (the one already in the file when
            appending), rewritten once to add a column a later row brings.
            While one logger has a file open, another refuses to open it.
            Defaults to `None`.
        num_samples: Training samples per epoch, to report samples per
            second instead of steps per second. Defaults to `None`.
        verbose: `1` prints one line per epoch, `0` is silent. Defaults to
            `1`.
        append: Whether to append to `filename` instead of truncating it at
            the start of each `fit()`; a torn last line (a process killed
            while writing it) is dropped first. Defaults to `False`.
        wrap: Whether a printed line wider than the terminal (see
            `shutil.get_terminal_size`) is wrapped between two values, the
            rest indented under the first metric, where the terminal would
            cut it mid-word. Defaults to `False`: one line per epoch however
            long, as logs and pipes want.

    Attributes:
        history: The rows of the current (or last) `fit()`, as dicts.

    Raises:
        ValueError: On a bad argument; from `on_train_begin`, when another
            logger has `filename` open.

    Example:

    >>> logger = EpochMetricsLogger("runs/metrics.jsonl", num_samples=60000)
    >>> model.fit(x, y, epochs=10, callbacks=[logger])  # doctest: +SKIP
    epoch 1/10  loss 0.3512  accuracy 0.9012  time 1.87s  32,086 samples/s
    """

    def __init__(
        self,
        filename: str | None = None,
        *,
        num_samples: int | None = None,
        verbose: int = 1,
        append: bool = False,
        wrap: bool = False,
    ) -> None:
        super().__init__()
        check("filename", filename, filename is None or isinstance(filename, str), "a string or None; pass `str(path)`")
        check("filename", filename, filename is None or os.path.splitext(filename)[1].lower() in _SUFFIXES,
              f"a name ending in one of {_SUFFIXES}")
        check("num_samples", num_samples, num_samples is None or (is_count(num_samples) and num_samples > 0),
              "a positive integer or None")
        check("verbose", verbose, is_count(verbose) or is_flag(verbose), "a non-negative integer")
        check("append", append, is_flag(append), "a bool")
        check("wrap", wrap, is_flag(wrap), "a bool")
        self.filename = filename
        self.num_samples = None if num_samples is None else int(num_samples)
        self.verbose = int(verbose)
        self.append = bool(append)
        self.wrap = bool(wrap)
        self.history: list[dict[str, Any]] = []
        self._output: MetricsFile | None = None
        self._metric_names: list[str] = []  # Every metric this `fit` logged, in first-seen order.
        self._epoch_start: float | None = None

    def get_config(self) -> dict[str, Any]:
        """Returns the constructor arguments, JSON-native."""
        names = ("filename", "num_samples", "verbose", "append", "wrap")
        return {name: getattr(self, name) for name in names}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> EpochMetricsLogger:
        """Builds an instance from `get_config()` output."""
        return cls(**config)

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.history = []
        self._metric_names = []
        self._epoch_start = None
        self.close()
        if self.filename is not None:
            self._output = MetricsFile(self.filename, append=self.append)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch_start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        seconds = None
        if self._epoch_start is not None:
            seconds = time.perf_counter() - self._epoch_start
        row = self._row(epoch, logs, seconds)
        self.history.append(row)
        if self.verbose >= 1:
            print("\n".join(self._lines(row)), flush=True)
        if self._output is not None:
            self._output.write(row)

    def on_train_end(self, logs: dict | None = None) -> None:
        self.close()

    def _row(self, epoch: int, logs: dict, seconds: float | None) -> dict[str, Any]:
        self._metric_names += [key for key in logs if key not in self._metric_names]
        train = [key for key in self._metric_names if not key.startswith("val_")]
        validation = [key for key in self._metric_names if key.startswith("val_")]
        row: dict[str, Any] = {"epoch": epoch + 1}
        row.update({key: loggable(logs[key]) if key in logs else None for key in train + validation})
        row["epoch_seconds"] = seconds
        if self.num_samples is not None:
            unit, count = "samples", self.num_samples
        else:
            unit, count = "steps", (self.params or {}).get("steps")
        row[f"{unit}_per_second"] = count / seconds if count and seconds else None
        return row

    def _lines(self, row: dict[str, Any]) -> list[str]:
        epochs = (self.params or {}).get("epochs")
        parts = [f"epoch {row['epoch']}" + (f"/{epochs}" if epochs else "")]
        *metrics, (_, seconds), (rate_key, rate) = list(row.items())[1:]
        parts += [f"{key} {format_value(value)}" for key, value in metrics if value is not None]
        if seconds is not None:
            parts.append(f"time {seconds:.2f}s")
        if rate is not None:
            parts.append(f"{_format_rate(rate)} {rate_key.removesuffix('_per_second')}/s")
        if not self.wrap:
            return ["  ".join(parts)]
        return pack_lines(parts, terminal_width() - 1, indent=" " * (len(parts[0]) + 2))

    def close(self) -> None:
        """Closes the log file. `fit()` does this at its end; an interrupted `fit()` does not."""
        if self._output is not None:
            self._output.close()
            self._output = None
