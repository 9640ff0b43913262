"""Checks of the callbacks' constructor arguments, accepting NumPy scalars as Keras does."""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np


def check(name: str, value: Any, ok: bool, expected: str) -> None:
    """Raises `ValueError` naming the argument, its value and what it must be, unless `ok`.

    Raises:
        ValueError: When `ok` is false.
    """
    if not ok:
        raise ValueError(f"`{name}` ({value!r}) must be {expected}.")


def is_real(value: Any) -> bool:
    """Whether `value` is a number that is not NaN: a Python or NumPy int or float, not a bool."""
    # NumPy registers its scalar types with `numbers`; its bool type is not a Real.
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and not math.isnan(value)


def is_count(value: Any) -> bool:
    """Whether `value` is a whole number >= 0 (`3`, `np.int64(3)` or `3.0`), not a bool."""
    return is_real(value) and value >= 0 and float(value).is_integer()


def is_flag(value: Any) -> bool:
    """Whether `value` is a bool, a NumPy bool, or the integer 0 or 1 (Keras reads it as a truth value)."""
    return isinstance(value, (bool, np.bool_)) or (is_count(value) and value in (0, 1))
