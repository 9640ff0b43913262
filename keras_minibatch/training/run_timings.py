"""Where a run's time went, phase by phase: what `timings.json` holds.

Every value is in seconds of wall time, measured by the process that ran the run:

- `import`: from the process's start to the run's start: the interpreter's
  start-up, the imports (TensorFlow and Keras) and the command line's checks;
  everything the process did before, when a longer-lived process (a notebook)
  starts the run. `null` where the process's start time cannot be read
  (`/proc`, Linux).
- `data`: loading, fingerprinting and splitting the data.
- `build`: building and compiling the model (restoring a checkpoint, when
  resuming).
- `first_epoch`: from the start of training to the end of the first epoch:
  the input pipelines, tracing the training and validation functions (and
  compiling the updates, with XLA), the epoch itself and its checkpoint.
- `steady_epochs`: every later epoch, with its validation, checkpoint and logs;
  `epochs` says how many epochs this process trained in all.
- `evaluate`: scoring the test split (one pass of predictions).
- `save`: writing the model, the history and the test scalars.
- `plots`: waiting for the plots, drawn meanwhile in a process of their own
  (`plots.plot_process`); that process's work is not counted elsewhere.
- `other`: the rest of the run: taking the folder, `config.json`, the header,
  TensorBoard's hyperparameters.
- `run`: from the run's start until `timings.json` is written; every phase
  but `import` adds up to it.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from typing import Any

import keras

__all__ = ["EpochClock", "RunClock", "seconds_since_process_start"]

_PHASES = ("data", "build", "first_epoch", "steady_epochs", "evaluate", "save", "plots")


def seconds_since_process_start() -> float | None:
    """How long this process has been running, from `/proc`; `None` where that cannot be read."""
    try:
        with open("/proc/self/stat", encoding="ascii") as stat:
            # The command name (field 2) may hold spaces; the fields after its closing ")" do not.
            fields = stat.read().rsplit(")", 1)[1].split()
        with open("/proc/uptime", encoding="ascii") as uptime:
            seconds_since_boot = float(uptime.read().split()[0])
        started_after_boot = int(fields[19]) / os.sysconf("SC_CLK_TCK")  # Field 22, `starttime`, in clock ticks.
    except (OSError, ValueError, IndexError):
        return None
    return max(0.0, seconds_since_boot - started_after_boot)


class EpochClock(keras.callbacks.Callback):
    """Notes when each epoch of `fit` ended (`time.perf_counter()`), for `RunClock.record_training`."""

    def __init__(self) -> None:
        super().__init__()
        self.epoch_ends: list[float] = []

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.epoch_ends = []

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch_ends.append(time.perf_counter())


class RunClock:
    """Times a run's phases from its start; `summary()` is what `timings.json` holds (see the module)."""

    def __init__(self) -> None:
        self._start = time.perf_counter()
        self._import = seconds_since_process_start()
        self._seconds = dict.fromkeys(_PHASES, 0.0)
        self._epochs = 0

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Adds the time spent inside the block to phase `name`."""
        if name not in self._seconds:
            raise ValueError(f"unknown phase {name!r}; phases are {', '.join(_PHASES)}.")
        start = time.perf_counter()
        try:
            yield
        finally:
            self._seconds[name] += time.perf_counter() - start

    def record_training(self, started: float, ended: float, epoch_clock: EpochClock) -> None:
        """Splits a training from `started` to `ended` (`perf_counter`) into its first epoch and the rest."""
        first_end = epoch_clock.epoch_ends[0] if epoch_clock.epoch_ends else ended
        self._seconds["first_epoch"] += first_end - started
        self._seconds["steady_epochs"] += ended - first_end
        self._epochs += len(epoch_clock.epoch_ends)

    def summary(self) -> dict[str, Any]:
        """The phases so far, with `other` and `run` up to now, rounded to milliseconds."""
        run = time.perf_counter() - self._start
        phases = {name: round(seconds, 3) for name, seconds in self._seconds.items()}
        return {
            "import": None if self._import is None else round(self._import, 3),
            **phases, "other": round(max(0.0, run - sum(self._seconds.values())), 3), "run": round(run, 3), "epochs": self._epochs,
        }
