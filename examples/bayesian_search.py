"""Bayesian optimization of the learning rate and width, from Python.

Run:  python examples/bayesian_search.py [MAX_TRIALS] [EPOCHS]

A Gaussian process models val_accuracy as a function of the hyperparameters and
proposes the next trial where improvement is likely. Fixing the rest of the
space keeps the search small enough for few trials to matter.
"""

import sys
import tempfile

from keras_minibatch import SearchConfig, TrainConfig, search


def main(max_trials: int = 12, epochs: int = 10, workdir: str | None = None) -> dict:
    result = search(
        TrainConfig(dataset="digits", epochs=epochs),
        SearchConfig(
            tuner="bayesian",
            max_trials=max_trials,
            fixed={"num_layers": 1, "activation": "relu", "dropout": 0.0, "optimizer": "adam", "batch_size": 32},
            num_initial_points=3,  # random trials before the Gaussian process takes over
        ),
        workdir or tempfile.mkdtemp(prefix="bayesian-search-"),
    )
    print("best hyperparameters:", result.best_hyperparameters)
    print("test accuracy of the retrained winner:", round(result.test_metrics["test_accuracy"], 4))
    return result.best_hyperparameters


if __name__ == "__main__":
    main(*(int(arg) for arg in sys.argv[1:3]))
