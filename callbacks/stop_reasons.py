"""The one sentence each of our callbacks gives for stopping a `fit`."""

from __future__ import annotations

from callbacks.log_values import format_value


def _plain(value: float) -> str:
    """An argument as a user writes it: `0` for 0.0, `0.05` for 0.05."""
    return f"{value:g}"


def _epochs(count: int) -> str:
    return f"{count} epoch{'s' if count != 1 else ''}"


def early_stopping_reason(monitor: str, *, wait: int, best: float | None, best_epoch: int, min_delta: float,
                          missed_baseline: float | None) -> str:
    """Why `EarlyStopping` stopped, such as `val_loss did not improve by more than 0 for 3 epochs ...`.

    Args:
        monitor: The monitored key.
        wait: Epochs since the last improvement.
        best: The best value, or `None` when every value was NaN.
        best_epoch: Its 0-based epoch.
        min_delta: The improvement needed (its size is used).
        missed_baseline: The baseline `best` did not beat, or `None`.
    """
    if best is None:
        return f"{monitor} was NaN for {_epochs(wait)}"
    if missed_baseline is not None:
        return (f"{monitor} did not beat baseline {_plain(missed_baseline)} by more than {_plain(abs(min_delta))} in "
                f"{_epochs(wait)} (best {format_value(best)} at epoch {best_epoch + 1})")
    return (f"{monitor} did not improve by more than {_plain(abs(min_delta))} for {_epochs(wait)} "
            f"after epoch {best_epoch + 1} (best {format_value(best)})")


def non_finite_reason(monitor: str, value: float, *, epoch: int, first_batch: int | None, last_batch: int | None) -> str:
    """Why `StopOnNonFiniteLoss` stopped, such as `loss became nan at epoch 3, batch 2`.

    Args:
        monitor: The watched key.
        value: Its first non-finite value.
        epoch: The 0-based epoch.
        first_batch: The first 0-based batch of the step that logged it
            (several batches with `steps_per_execution` > 1), or `None` when
            only the epoch logs showed it.
        last_batch: The last 0-based batch of that step, or `None`.
    """
    if first_batch is None or last_batch is None:
        return f"{monitor} became {value} during epoch {epoch + 1}"
    reason = f"{monitor} became {value} at epoch {epoch + 1}, batch {last_batch + 1}"
    if first_batch < last_batch:  # One call ran several batches; any of them may be the first bad one.
        reason += f" (one of batches {first_batch + 1}-{last_batch + 1}, run in one step)"
    return reason
