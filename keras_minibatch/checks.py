"""Value checks shared by `TrainConfig`, `SearchConfig` and `build_mlp`, and the `ConfigError` they raise.

One check per kind of value, so the same invalid value gets the same error
wherever it is given. Standard library only: the CLI runs these checks before
TensorFlow is imported, which keeps a typo's error instant.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Iterable, Mapping
from typing import Any

# TensorFlow counts rows and units with 32-bit integers; NumPy seeds are 32-bit.
MAX_INT32 = 2**31 - 1
MAX_SEED = 2**32 - 1
# Wider than any MLP that fits in memory; `model.check_model_size` judges the whole model.
MAX_UNITS = 2**20


class ConfigError(ValueError):
    """An invalid hyperparameter value.

    Carries the field name, the value received and what is allowed, so the CLI can
    name the flag (`--epochs=0`) and the library can name the field (`epochs`).

    Args:
        field: Name of the `TrainConfig` field (and of the CLI flag).
        value: The value that was received.
        allowed: What is allowed, as a phrase ("must be an integer >= 1").
    """

    def __init__(self, field: str, value: Any, allowed: str):
        self.field = field
        self.value = value
        self.allowed = allowed
        super().__init__(f"`{field}` ({value!r}) {allowed}.")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def plain_number(value: Any) -> Any:
    """NumPy's integer and float scalars as Python's `int` and `float`; anything else unchanged."""
    if type(value) in (bool, int, float) or not isinstance(value, numbers.Real):  # np.float64 subclasses float
        return value
    if type(value).__name__ == "bool_":
        return bool(value)
    return int(value) if isinstance(value, numbers.Integral) else float(value)


def _check_int_in(field: str, value: Any, minimum: int, maximum: int) -> None:
    if not _is_int(value) or value < minimum:
        raise ConfigError(field, value, f"must be an integer >= {minimum}")
    if value > maximum:
        raise ConfigError(field, value, f"must be an integer from {minimum} to {maximum:,}")


def check_positive_int(field: str, value: Any, *, maximum: int = MAX_INT32) -> None:
    """Raises `ConfigError` unless `value` is an integer in `[1, maximum]`."""
    _check_int_in(field, value, 1, maximum)


def check_non_negative_int(field: str, value: Any, *, maximum: int = MAX_INT32) -> None:
    """Raises `ConfigError` unless `value` is an integer in `[0, maximum]`."""
    _check_int_in(field, value, 0, maximum)


def check_hidden_units(value: Any) -> tuple[int, ...]:
    """Returns `value` as a tuple of layer sizes (a single size is one layer).

    Raises:
        ConfigError: unless `value` is one or more integers from 1 to `MAX_UNITS`.
    """
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = (value,)
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise ConfigError("hidden_units", value, f"must be one or more integers from 1 to {MAX_UNITS:,}, e.g. (32, 64)")
    units = tuple(plain_number(item) for item in value)
    if not units or not all(_is_int(item) and 1 <= item <= MAX_UNITS for item in units):
        raise ConfigError("hidden_units", list(units), f"must be one or more integers from 1 to {MAX_UNITS:,}")
    return units


def check_dropout(value: Any) -> None:
    """Raises `ConfigError` unless `0 <= value < 1`."""
    if not _is_number(value) or not 0.0 <= value < 1.0:
        raise ConfigError("dropout", value, "must be a number in [0, 1)")


def check_learning_rate(value: Any) -> None:
    """Raises `ConfigError` unless `value` is a finite number > 0."""
    if not _is_number(value) or not (0.0 < value < math.inf):
        raise ConfigError("learning_rate", value, "must be a finite number > 0")


def check_open_fraction(field: str, value: Any) -> None:
    """Raises `ConfigError` unless `0 < value < 1` (NaN is refused too)."""
    if not _is_number(value) or not 0.0 < value < 1.0:
        raise ConfigError(field, value, "must be a number strictly between 0 and 1")


def check_known_fields(config_class: type, values: Mapping[str, Any], kind: str) -> None:
    """Refuses a key of `values` that is not a field of the dataclass `config_class`.

    Raises:
        ConfigError: naming the first unknown key, its value and the known fields.
    """
    known = {field.name for field in dataclasses.fields(config_class)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(unknown[0], values[unknown[0]], f"is not a {kind} field; known fields: {', '.join(sorted(known))}")


def check_choice(field: str, value: Any, choices: tuple[str, ...]) -> None:
    """Raises `ConfigError` unless `value` is one of `choices`."""
    if value not in choices:
        raise ConfigError(field, value, f"must be one of: {', '.join(choices)}")


def check_finite_non_negative(field: str, value: Any) -> None:
    """Raises `ConfigError` unless `value` is a finite number >= 0."""
    if not _is_number(value) or not 0.0 <= value < math.inf:
        raise ConfigError(field, value, "must be a finite number >= 0")
