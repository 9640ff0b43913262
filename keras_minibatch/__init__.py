"""keras-minibatch: train, inspect and tune the lecture's mini-batch MLP with Keras.

Importing this package is cheap: names that need TensorFlow (`build_mlp`,
`train_and_evaluate`, `GridSearch`, ...) are imported on first use, so the
command line can check its flags before TensorFlow loads.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# Public name -> module that defines it.
_EXPORTS = {
    "ConfigError": "keras_minibatch.checks",
    "TrainConfig": "keras_minibatch.config",
    "DataError": "keras_minibatch.data.dataset",
    "Dataset": "keras_minibatch.data.dataset",
    "load_dataset": "keras_minibatch.data.loading",
    "build_mlp": "keras_minibatch.training.model",
    "TrainResult": "keras_minibatch.training.run",
    "train_and_evaluate": "keras_minibatch.training.run",
    "evaluate_saved_model": "keras_minibatch.training.evaluation",
    "prepare_run_dir": "keras_minibatch.run_folders.folder_claim",
    "SearchConfig": "keras_minibatch.tuning.search_config",
    "SearchResult": "keras_minibatch.tuning.search_result",
    "SearchError": "keras_minibatch.tuning.search_result",
    "search": "keras_minibatch.tuning.search",
    "load_tuner": "keras_minibatch.tuning.search",
    "seed_variance": "keras_minibatch.tuning.seed_variance",
    "seed_variance_report": "keras_minibatch.tuning.seed_variance",
    "ComparisonResult": "keras_minibatch.tuning.strategy_comparison",
    "compare_search_strategies": "keras_minibatch.tuning.strategy_comparison",
    # KerasTuner's tuners with its arguments (`keras_tuner.RandomSearch` -> `keras_minibatch.RandomSearch`).
    "RandomSearch": "keras_minibatch.tuning.tuners",
    "BayesianOptimization": "keras_minibatch.tuning.tuners",
    "GridSearch": "keras_minibatch.tuning.tuners",
    "Hyperband": "keras_minibatch.tuning.tuners",
    "RandomSearchOracle": "keras_minibatch.tuning.oracles",
    "BayesianOptimizationOracle": "keras_minibatch.tuning.oracles",
    "ResumableGridSearchOracle": "keras_minibatch.tuning.oracles",
    "CappedHyperbandOracle": "keras_minibatch.tuning.oracles",
    "predict": "keras_minibatch.inference.prediction",
    "Predictions": "keras_minibatch.inference.prediction",
    "export_model": "keras_minibatch.inference.export",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'keras_minibatch' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
