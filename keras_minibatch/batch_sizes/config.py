"""Checks the arguments of `keras-minibatch compare` (standard library only).

The CLI calls these before TensorFlow is imported, so a typo in `--batch_sizes`
fails instantly, with the same `ConfigError` the library raises.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Union

from keras_minibatch.checks import ConfigError
from keras_minibatch.config import TrainConfig

# The word for "every training row in one batch" (full-batch gradient descent).
FULL_BATCH = "full"

BatchSize = Union[int, str]  # An integer >= 1, or FULL_BATCH.

_BATCH_SIZES_ALLOWED = f"must be a comma-separated list of '{FULL_BATCH}' and integers >= 1, each at most once, e.g. full,1,32"


def parse_batch_sizes(value: str | Sequence[BatchSize]) -> tuple[BatchSize, ...]:
    """Parses `"full,1,32"` (or `["full", "1", 32]`) into `("full", 1, 32)`.

    Args:
        value: A comma-separated string, or a sequence of `"full"`, integers
            and strings of integers. Spaces around items are ignored.

    Returns:
        The batch sizes in the order given: `"full"` or integers >= 1.

    Raises:
        ConfigError: (a `ValueError`) for an empty list, an item that is neither
            `"full"` nor an integer >= 1, or an item given twice.
    """
    items = value.split(",") if isinstance(value, str) else list(value)
    if not items or items == [""]:
        raise ConfigError("batch_sizes", value, _BATCH_SIZES_ALLOWED)
    parsed: list[BatchSize] = []
    for item in items:
        parsed.append(_parse_one(item, value))
    repeated = sorted({str(size) for size in parsed if parsed.count(size) > 1})
    if repeated:
        raise ConfigError("batch_sizes", value, f"{_BATCH_SIZES_ALLOWED}; {', '.join(repeated)} is repeated")
    return tuple(parsed)


def _parse_one(item: object, whole: object) -> BatchSize:
    if isinstance(item, bool):
        raise ConfigError("batch_sizes", whole, _BATCH_SIZES_ALLOWED)
    if isinstance(item, int):
        number = item
    elif isinstance(item, str):
        text = item.strip()
        if text.lower() == FULL_BATCH:
            return FULL_BATCH
        if not text.isdecimal():
            raise ConfigError("batch_sizes", whole, f"{_BATCH_SIZES_ALLOWED}; {item.strip()!r} is neither")
        number = int(text)
    else:
        raise ConfigError("batch_sizes", whole, _BATCH_SIZES_ALLOWED)
    if number < 1:
        raise ConfigError("batch_sizes", whole, f"{_BATCH_SIZES_ALLOWED}; {number} is below 1")
    return number


def check_budget(budget_epochs: int | None, budget_seconds: float | None) -> None:
    """Checks the training budget of each regime: epochs, wall seconds, or both.

    With both, each regime stops at whichever comes first.

    Raises:
        ConfigError: when neither is given, `budget_epochs` is not an integer
            >= 1, or `budget_seconds` is not a finite number > 0.
    """
    if budget_epochs is None and budget_seconds is None:
        raise ConfigError("budget_epochs", None, "or `budget_seconds` must be given: the budget every regime trains for")
    if budget_epochs is not None and (
        not isinstance(budget_epochs, int) or isinstance(budget_epochs, bool) or budget_epochs < 1
    ):
        raise ConfigError("budget_epochs", budget_epochs, "must be an integer >= 1 (or None to use `budget_seconds` alone)")
    if budget_seconds is not None and (
        not isinstance(budget_seconds, (int, float))
        or isinstance(budget_seconds, bool)
        or not 0 < budget_seconds < math.inf
    ):
        raise ConfigError("budget_seconds", budget_seconds, "must be a finite number of seconds > 0 (or None to use `budget_epochs` alone)")


def resolve_batch_size(batch_size: BatchSize, num_fit_samples: int) -> int:
    """Returns the rows per update: `"full"` (or anything larger) means all of them."""
    if batch_size == FULL_BATCH:
        return num_fit_samples
    return min(int(batch_size), num_fit_samples)


def regime_name(batch_size: int, num_fit_samples: int) -> str:
    """Names the regime of a resolved batch size, as the lecture does."""
    if batch_size >= num_fit_samples:
        return "full batch"
    if batch_size == 1:
        return "SGD"
    return "mini-batch"


def check_train_config(config: TrainConfig) -> None:
    """Refuses the training settings a comparison cannot honour.

    Raises:
        ConfigError: for early stopping (every regime trains for the same
            budget), plug-in callbacks (they would run inside the clock that
            times the updates) or `distribution="multi_worker"` (one process
            trains every regime).
    """
    if config.early_stopping:
        raise ConfigError("early_stopping", True, "cannot be used with compare: every regime trains for the same budget; drop it")
    if config.callbacks:
        raise ConfigError("callbacks", list(config.callbacks), "cannot be used with compare: its clock times the updates alone; use them with train or tune")
    if config.distribution == "multi_worker":
        raise ConfigError("distribution", config.distribution, "must be none or mirrored for compare: one process trains every regime")
