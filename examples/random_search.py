"""Random search over the lecture MLP's hyperparameters, from Python.

Run:  python examples/random_search.py [MAX_TRIALS] [EPOCHS]

KerasTuner's RandomSearch samples hyperparameter sets; each trial trains on the
training rows and is scored on the validation rows. Only the winner, retrained,
ever sees the test split, once.
"""

import sys
import tempfile

from keras_minibatch import SearchConfig, TrainConfig, search


def main(max_trials: int = 10, epochs: int = 10, workdir: str | None = None) -> dict:
    result = search(
        TrainConfig(dataset="digits", epochs=epochs),
        SearchConfig(tuner="random", max_trials=max_trials, objective="val_accuracy"),
        workdir or tempfile.mkdtemp(prefix="random-search-"),
    )
    print("best hyperparameters:", result.best_hyperparameters)
    print("test accuracy of the retrained winner:", round(result.test_metrics["test_accuracy"], 4))
    return result.best_hyperparameters


if __name__ == "__main__":
    main(*(int(arg) for arg in sys.argv[1:3]))
