"""Reading the values of Keras' logs: numbers, NumPy scalars, tensors and per-class arrays.

Keras turns each log value into a Python float when it can; a metric with one
value per class (`keras.metrics.F1Score`, say) stays a NumPy array, of one
element for a single output unit. The callbacks read every value through here
so such a metric is a number (or a list of them), never a crash.
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np


def _array(value: Any) -> np.ndarray:
    if keras.ops.is_tensor(value):
        value = keras.ops.convert_to_numpy(value)
    return np.asarray(value)


def _is_numeric(array: np.ndarray) -> bool:
    return array.dtype.kind in "biuf"  # bool, signed, unsigned, float


def as_float(value: Any, name: str) -> float:
    """Returns a log value that holds one number as a Python float.

    Args:
        value: The log value: a number, a NumPy scalar, a tensor or an array
            of one element.
        name: Its key in the logs, for the error message.

    Returns:
        The number.

    Raises:
        ValueError: When `value` holds several numbers (a per-class metric)
            or is not a number.
    """
    array = _array(value)
    if array.size != 1 or not _is_numeric(array):
        raise ValueError(
            f"`{name}` logged {value!r}, not one number. A metric with one value per class "
            "(such as F1Score) needs `average='macro'` (or another average) to give one."
        )
    return float(array.reshape(()))


def loggable(value: Any) -> Any:
    """Returns a log value as a float, a list of floats (one per class), or its text when not numeric."""
    array = _array(value)
    if not _is_numeric(array):
        return str(value)
    if array.size == 1:
        return float(array.reshape(()))
    return [float(number) for number in array.reshape(-1)]


def all_finite(value: Any) -> bool:
    """Whether every number in a log value is finite (a value that is not numeric counts as finite)."""
    if isinstance(value, (int, float)):  # What Keras logs almost always: the quick path for batch hooks.
        return math.isfinite(value)
    array = _array(value)
    return not _is_numeric(array) or bool(np.all(np.isfinite(array)))


def format_value(value: Any) -> str:
    """Formats a `loggable` value as Keras' progress bar does: 4 decimals, scientific when tiny."""
    if isinstance(value, list):
        return "[" + ", ".join(format_value(number) for number in value) + "]"
    if isinstance(value, str):
        return value
    return f"{value:.4f}" if value == 0 or not abs(value) < 1e-3 else f"{value:.4e}"


def json_ready(value: Any) -> Any:
    """Returns a `loggable` value with NaN and infinities as `None`, for strict JSON."""
    if isinstance(value, list):
        return [json_ready(number) for number in value]
    return None if isinstance(value, float) and not math.isfinite(value) else value
