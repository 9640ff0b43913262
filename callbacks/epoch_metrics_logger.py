"""One line per epoch: every metric, the epoch time and the throughput."""

from __future__ import annotations

import csv
import json
import math
import os
import time
from typing import IO, Any

import keras

_SUFFIXES = (".jsonl", ".json", ".csv")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check(name: str, value: Any, ok: bool, expected: str) -> None:
    if not ok:
        raise ValueError(f"`{name}` ({value!r}) must be {expected}.")


def _format_value(value: float) -> str:
    # Like Keras' progress bar: 4 decimals, scientific for tiny values.
    if value == 0 or not abs(value) < 1e-3:
        return f"{value:.4f}"
    return f"{value:.4e}"


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
    does not know the steps). Rows go to `history`, to stdout as one line,
    and to `filename`. Only epoch-level hooks are used, so it never forces
    a per-batch device sync.

    Args:
        filename: File to write one row per epoch to, or `None`. `.jsonl` and
            `.json` write JSON lines (NaN and infinities as `null`); `.csv`
            writes CSV with a header whose columns are fixed by the first row
            (or by the header already in the file when appending). Defaults
            to `None`.
        num_samples: Training samples per epoch, to report samples per
            second instead of steps per second. Defaults to `None`.
        verbose: `1` prints one line per epoch, `0` is silent. Defaults to
            `1`.
        append: Whether to append to `filename` instead of truncating it at
            the start of each `fit()`. Defaults to `False`.

    Attributes:
        history: The rows of the current (or last) `fit()`, as dicts.

    Raises:
        ValueError: On a bad argument; from `on_epoch_end`, when a CSV row
            has a column the header lacks.

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
    ) -> None:
        super().__init__()
        _check("filename", filename, filename is None or isinstance(filename, str),
               "a string or None; pass `str(path)`")
        _check("filename", filename, filename is None
               or os.path.splitext(filename)[1].lower() in _SUFFIXES,
               f"a name ending in one of {_SUFFIXES}")
        _check("num_samples", num_samples, num_samples is None
               or (_is_int(num_samples) and num_samples > 0), "a positive integer or None")
        _check("verbose", verbose, _is_int(verbose) and verbose >= 0, "a non-negative integer")
        _check("append", append, isinstance(append, bool), "a bool")
        self.filename = filename
        self.num_samples = num_samples
        self.verbose = verbose
        self.append = append
        self.history: list[dict[str, Any]] = []
        self._file: IO[str] | None = None
        self._columns: list[str] | None = None
        self._epoch_start: float | None = None

    def get_config(self) -> dict[str, Any]:
        """Returns the constructor arguments, JSON-native."""
        names = ("filename", "num_samples", "verbose", "append")
        return {name: getattr(self, name) for name in names}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> EpochMetricsLogger:
        """Builds an instance from `get_config()` output."""
        return cls(**config)

    @property
    def _is_csv(self) -> bool:
        return self.filename is not None and self.filename.lower().endswith(".csv")

    def on_train_begin(self, logs: dict | None = None) -> None:
        logs = logs or {}
        self.history = []
        self._columns = None
        self._epoch_start = None
        self.close()
        if self.filename is None:
            return
        if self._is_csv and self.append and os.path.exists(self.filename):
            with open(self.filename, newline="", encoding="utf-8") as existing:
                self._columns = next(csv.reader(existing), None)
        newline = "" if self._is_csv else None
        mode = "a" if self.append else "w"
        self._file = open(self.filename, mode, newline=newline, encoding="utf-8")

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        self._epoch_start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        seconds = None
        if self._epoch_start is not None:
            seconds = time.perf_counter() - self._epoch_start
        row = self._row(epoch, logs, seconds)
        self.history.append(row)
        if self.verbose >= 1:
            print(self._line(row), flush=True)
        if self._file is not None:
            self._write(row)

    def on_train_end(self, logs: dict | None = None) -> None:
        logs = logs or {}
        self.close()

    def _row(self, epoch: int, logs: dict, seconds: float | None) -> dict[str, Any]:
        train = [key for key in logs if not key.startswith("val_")]
        validation = [key for key in logs if key.startswith("val_")]
        row: dict[str, Any] = {"epoch": epoch + 1}
        row.update({key: float(logs[key]) for key in train + validation})
        row["epoch_seconds"] = seconds
        if self.num_samples is not None:
            unit, count = "samples", self.num_samples
        else:
            unit, count = "steps", (self.params or {}).get("steps")
        row[f"{unit}_per_second"] = count / seconds if count and seconds else None
        return row

    def _line(self, row: dict[str, Any]) -> str:
        epochs = (self.params or {}).get("epochs")
        parts = [f"epoch {row['epoch']}" + (f"/{epochs}" if epochs else "")]
        *metrics, (_, seconds), (rate_key, rate) = list(row.items())[1:]
        parts += [f"{key} {_format_value(value)}" for key, value in metrics]
        if seconds is not None:
            parts.append(f"time {seconds:.2f}s")
        if rate is not None:
            parts.append(f"{_format_rate(rate)} {rate_key.removesuffix('_per_second')}/s")
        return "  ".join(parts)

    def _write(self, row: dict[str, Any]) -> None:
        if not self._is_csv:
            finite = {
                key: None if isinstance(value, float) and not math.isfinite(value) else value
                for key, value in row.items()
            }
            self._file.write(json.dumps(finite, allow_nan=False) + "\n")
        else:
            writer = csv.writer(self._file)
            if self._columns is None:
                self._columns = list(row)
                writer.writerow(self._columns)
            extra = [key for key in row if key not in self._columns]
            if extra:
                self.close()  # `fit` skips `on_train_end` after an error.
                raise ValueError(
                    f"Epoch {row['epoch']} logged {extra}, which are not columns of "
                    f"{self.filename!r} ({self._columns}). Write to a new file or use "
                    "a `.jsonl` filename, whose rows may differ."
                )
            writer.writerow([self._cell(row.get(key)) for key in self._columns])
        # A crash mid-run still leaves whole lines on disk.
        self._file.flush()

    @staticmethod
    def _cell(value: Any) -> Any:
        if value is None:
            return ""
        if isinstance(value, float) and math.isnan(value):
            return "NaN"
        return value

    def close(self) -> None:
        """Closes the log file. `fit()` does this at its end; an interrupted `fit()` does not."""
        if self._file is not None:
            self._file.close()
            self._file = None
