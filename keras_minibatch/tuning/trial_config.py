"""A trial's hyperparameter values as the `TrainConfig` that trains the same model. Standard library only."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from keras_minibatch.config import TrainConfig

__all__ = ["train_config_for"]


def _units_names(values: Mapping[str, Any]) -> list[str]:
    return [f"units_{index}" for index in range(1, int(values["num_layers"]) + 1)]


def train_config_for(train_config: TrainConfig, hyperparameters: Mapping[str, Any]) -> TrainConfig:
    """Returns `train_config` with a trial's hyperparameters in place of its own.

    Args:
        train_config: Supplies everything that is not searched (data, epochs, seed...).
        hyperparameters: A trial's values, e.g. `SearchResult.best_hyperparameters`:
            `num_layers`, `units_1`...`units_<num_layers>`, `activation`,
            `dropout`, `optimizer`, `learning_rate`, `batch_size`.

    Returns:
        A checked `TrainConfig`; `keras-minibatch train` with these values trains
        the same model.
    """
    return train_config.replace(
        hidden_units=tuple(int(hyperparameters[name]) for name in _units_names(hyperparameters)),
        activation=hyperparameters["activation"],
        dropout=round(float(hyperparameters["dropout"]), 10),  # 0.30000000000000004 from a 0.1 step
        optimizer=hyperparameters["optimizer"],
        learning_rate=float(hyperparameters["learning_rate"]),
        batch_size=int(hyperparameters["batch_size"]),
    )
