"""The hyperparameter search configuration: which tuner, what budget, which space.

`SearchConfig` is to a search what `TrainConfig` is to a training run: a frozen
dataclass checked on construction, built by the command line and by scripts, so
the same invalid value gets the same `ConfigError` everywhere. Everything that is
not searched (data, epochs, validation split, seed) comes from the `TrainConfig`
passed beside it. Standard library only: the CLI checks it before TensorFlow loads.

The search space, in KerasTuner's names (`best_hyperparameters` uses them too):

| name | kind | default range |
| --- | --- | --- |
| `num_layers` | integer | 1 to 4 |
| `units_1` ... `units_<max layers>` | choice, one per active layer | 32, 64, 128, 256 |
| `activation` | choice | relu, tanh, elu |
| `dropout` | number, steps of 0.1 | 0 to 0.5 |
| `optimizer` | choice | adam, sgd, rmsprop |
| `learning_rate` | number, log scale (grid: half-decade steps) | 1e-4 to 1e-2 |
| `batch_size` | choice (tuned through `HyperModel.fit`) | 16, 32, 64, 128 |

`fixed` pins any of `FIXABLE_HYPERPARAMETERS` to one value (`units` pins every layer).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from keras_minibatch.config import ACTIVATIONS, OPTIMIZERS, ConfigError, check_choice, check_known_fields, check_positive_int

__all__ = ["FIXABLE_HYPERPARAMETERS", "OBJECTIVES", "TUNERS", "SearchConfig", "parse_fix_spec"]

TUNERS = ("random", "bayesian", "grid", "hyperband")
# Validation metrics only, with their direction: the test split is never searched on.
OBJECTIVES = {"val_accuracy": "max", "val_loss": "min"}
FIXABLE_HYPERPARAMETERS = ("num_layers", "units", "activation", "dropout", "optimizer", "learning_rate", "batch_size")
_FIXED_TYPES = {"num_layers": int, "units": int, "batch_size": int, "dropout": float, "learning_rate": float, "activation": str, "optimizer": str}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_fixed_value(name: str, value: Any) -> None:
    """Raises `ConfigError` (field `fixed`) unless `value` suits hyperparameter `name`."""
    item = f"{name}={value}"
    if name not in FIXABLE_HYPERPARAMETERS:
        raise ConfigError("fixed", item, f"names an unknown hyperparameter {name!r}; known: {', '.join(FIXABLE_HYPERPARAMETERS)}")
    if name in ("num_layers", "units", "batch_size"):
        ok, allowed = _is_int(value) and value >= 1, "an integer >= 1"
    elif name == "dropout":
        ok, allowed = _is_number(value) and 0.0 <= value < 1.0, "a number in [0, 1)"
    elif name == "learning_rate":
        ok, allowed = _is_number(value) and 0.0 < value < math.inf, "a finite number > 0"
    else:
        choices = ACTIVATIONS if name == "activation" else OPTIMIZERS
        ok, allowed = value in choices, f"one of: {', '.join(choices)}"
    if not ok:
        raise ConfigError("fixed", item, f"fixes {name} to {value!r}, but it must be {allowed}")


def parse_fix_spec(spec: str | Sequence[str]) -> dict[str, Any]:
    """Parses `"learning_rate=1e-3,optimizer=adam"` into `{"learning_rate": 0.001, ...}`.

    Values are converted to the hyperparameter's type (integers for `num_layers`,
    `units` and `batch_size`, numbers for `dropout` and `learning_rate`).

    Args:
        spec: Comma-separated `name=value` items, or a list of such strings (as
            absl's `DEFINE_list` and `DEFINE_multi_string` give them).

    Returns:
        Dict from hyperparameter name to value, for `SearchConfig(fixed=...)`.

    Raises:
        ConfigError: (field `fixed`) for an item without `=`, an unknown or
            repeated name, or a value of the wrong type or range.
    """
    texts = [spec] if isinstance(spec, str) else list(spec)
    items = [item.strip() for text in texts for item in text.split(",") if item.strip()]
    fixed: dict[str, Any] = {}
    for item in items:
        name, sep, text = (part.strip() for part in item.partition("="))
        if not sep or not name or not text:
            raise ConfigError("fixed", item, f"must be name=value items separated by commas, e.g. learning_rate=1e-3,optimizer=adam; names: {', '.join(FIXABLE_HYPERPARAMETERS)}")
        if name not in FIXABLE_HYPERPARAMETERS:
            _check_fixed_value(name, text)  # raises, naming the known hyperparameters
        if name in fixed:
            raise ConfigError("fixed", item, f"fixes {name} twice; give each hyperparameter once")
        kind = _FIXED_TYPES[name]
        try:
            value = kind(text) if kind is not int else int(text, 10)
        except ValueError:
            noun = "an integer" if kind is int else "a number"
            raise ConfigError("fixed", item, f"fixes {name} to {text!r}, but it must be {noun}") from None
        _check_fixed_value(name, value)
        fixed[name] = value
    return fixed


def _normalize_fixed(fixed: Mapping[str, Any] | Iterable[Sequence[Any]]) -> tuple[tuple[str, Any], ...]:
    pairs = list(fixed.items()) if isinstance(fixed, Mapping) else [tuple(pair) for pair in fixed]
    seen: set[str] = set()
    for pair in pairs:
        if len(pair) != 2 or not isinstance(pair[0], str):
            raise ConfigError("fixed", pair, "must map hyperparameter names to values, e.g. {'learning_rate': 1e-3}")
        name, value = pair
        if name in seen:
            raise ConfigError("fixed", f"{name}={value}", f"fixes {name} twice; give each hyperparameter once")
        seen.add(name)
        _check_fixed_value(name, value)
    return tuple(sorted(pairs))


def _check_choices(field: str, values: tuple, check_one) -> None:
    if not values:
        raise ConfigError(field, list(values), "must list at least one value")
    for value in values:
        check_one(value)
    if len(set(values)) != len(values):
        raise ConfigError(field, list(values), "must not repeat a value")


def _check_range(field: str, values: tuple, ok_one, allowed: str) -> None:
    if len(values) != 2 or not all(ok_one(value) for value in values) or values[0] > values[1]:
        raise ConfigError(field, list(values), f"must be a pair (min, max) with min <= max, each {allowed}")


def _positive_int_choices(field: str, values: tuple) -> None:
    def check_one(value: Any) -> None:
        if not _is_int(value) or value < 1:
            raise ConfigError(field, list(values), "must be integers >= 1")

    _check_choices(field, values, check_one)


@dataclasses.dataclass(frozen=True)
class SearchConfig:
    """How to search, checked on construction.

    Args:
        tuner: KerasTuner's `"random"` (`RandomSearch`), `"bayesian"`
            (`BayesianOptimization`), `"grid"` (`GridSearch`) or `"hyperband"`.
            Defaults to `"random"`.
        max_trials: Most trials (hyperparameter sets) to run, resumed runs
            included; Hyperband is capped at it too. Defaults to `10`.
        executions_per_trial: Trainings per trial, averaged into its objective. Defaults to `1`.
        objective: `"val_accuracy"` (maximized) or `"val_loss"` (minimized). Defaults to `"val_accuracy"`.
        num_layers_range: `(min, max)` number of hidden layers. Defaults to `(1, 4)`.
        units_choices: Units a hidden layer may have. Defaults to `(32, 64, 128, 256)`.
        activation_choices: Hidden activations to try. Defaults to `("relu", "tanh", "elu")`.
        dropout_range: `(min, max)` dropout rate, sampled in steps of 0.1. Defaults to `(0.0, 0.5)`.
        optimizer_choices: Optimizers to try. Defaults to `("adam", "sgd", "rmsprop")`.
        learning_rate_range: `(min, max)` learning rate, sampled on a log scale. Defaults to `(1e-4, 1e-2)`.
        batch_size_choices: Batch sizes to try. Defaults to `(16, 32, 64, 128)`.
        fixed: Hyperparameters pinned to one value, as a mapping or `(name, value)`
            pairs, e.g. `{"learning_rate": 1e-3}`; names from
            `FIXABLE_HYPERPARAMETERS`. Stored as sorted pairs. Defaults to `()`.
        hyperband_factor: Hyperband's reduction factor between rounds (its
            `max_epochs` is the `TrainConfig`'s `epochs`). Defaults to `3`.
        num_initial_points: Random trials before Bayesian optimization fits its
            Gaussian process; `None` keeps KerasTuner's default (3 per
            hyperparameter, so at least 21 for the full space). Defaults to `None`.

    Raises:
        ConfigError: (a `ValueError`) naming the field, the value and what is allowed.
    """

    tuner: str = "random"
    max_trials: int = 10
    executions_per_trial: int = 1
    objective: str = "val_accuracy"
    num_layers_range: tuple[int, int] = (1, 4)
    units_choices: tuple[int, ...] = (32, 64, 128, 256)
    activation_choices: tuple[str, ...] = ("relu", "tanh", "elu")
    dropout_range: tuple[float, float] = (0.0, 0.5)
    optimizer_choices: tuple[str, ...] = ("adam", "sgd", "rmsprop")
    learning_rate_range: tuple[float, float] = (1e-4, 1e-2)
    batch_size_choices: tuple[int, ...] = (16, 32, 64, 128)
    fixed: tuple[tuple[str, Any], ...] = ()
    hyperband_factor: int = 3
    num_initial_points: int | None = None

    def __post_init__(self) -> None:
        for field in ("num_layers_range", "units_choices", "activation_choices", "dropout_range",
                      "optimizer_choices", "learning_rate_range", "batch_size_choices"):
            value = getattr(self, field)
            if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
                raise ConfigError(field, value, "must be a list of values")
            object.__setattr__(self, field, tuple(value))
        if isinstance(self.fixed, (str, bytes)):
            raise ConfigError("fixed", self.fixed, "must be a mapping of names to values; parse text with parse_fix_spec")
        object.__setattr__(self, "fixed", _normalize_fixed(self.fixed))
        check_choice("tuner", self.tuner, TUNERS)
        check_positive_int("max_trials", self.max_trials)
        check_positive_int("executions_per_trial", self.executions_per_trial)
        if self.objective not in OBJECTIVES:
            raise ConfigError(
                "objective", self.objective,
                "must be a validation metric: val_accuracy (maximized) or val_loss (minimized); "
                "the search scores on the validation split and never on the test split",
            )
        _check_range("num_layers_range", self.num_layers_range, lambda v: _is_int(v) and v >= 1, "an integer >= 1")
        _positive_int_choices("units_choices", self.units_choices)
        _check_choices("activation_choices", self.activation_choices, lambda v: check_choice("activation_choices", v, ACTIVATIONS))
        _check_range("dropout_range", self.dropout_range, lambda v: _is_number(v) and 0.0 <= v < 1.0, "a number in [0, 1)")
        _check_choices("optimizer_choices", self.optimizer_choices, lambda v: check_choice("optimizer_choices", v, OPTIMIZERS))
        _check_range("learning_rate_range", self.learning_rate_range, lambda v: _is_number(v) and 0.0 < v < math.inf, "a finite number > 0")
        _positive_int_choices("batch_size_choices", self.batch_size_choices)
        if not _is_int(self.hyperband_factor) or self.hyperband_factor < 2:
            raise ConfigError("hyperband_factor", self.hyperband_factor, "must be an integer >= 2")
        if self.num_initial_points is not None:
            check_positive_int("num_initial_points", self.num_initial_points)

    @property
    def direction(self) -> str:
        """`"max"` or `"min"`: whether a larger objective is better."""
        return OBJECTIVES[self.objective]

    @property
    def fixed_values(self) -> dict[str, Any]:
        """`fixed` as a dict."""
        return dict(self.fixed)

    def to_dict(self) -> dict[str, Any]:
        """Returns the config as JSON-native values (tuples become lists, `fixed` a dict)."""
        values = {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}
        values = {key: list(value) if isinstance(value, tuple) else value for key, value in values.items()}
        values["fixed"] = self.fixed_values
        return values

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> SearchConfig:
        """Builds a config from `to_dict()` output, refusing unknown keys.

        Raises:
            ConfigError: for an unknown key or an invalid value.
        """
        check_known_fields(cls, values, "search config")
        return cls(**values)

    def replace(self, **changes: Any) -> SearchConfig:
        """Returns a copy with `changes` applied (and checked)."""
        return dataclasses.replace(self, **changes)
