"""Load a model that `keras-minibatch train` saved and score it on the held-out test split.

Run:  python examples/evaluate_saved_model.py RUN_FOLDER

The run's config.json says which data and which seeded split it was trained
with, so the same test rows are scored. `model.keras` itself is plain Keras:
`keras.models.load_model` needs nothing from this package.
"""

import json
import sys
from pathlib import Path

import keras

from keras_minibatch import load_dataset


def main(run_folder: str) -> dict[str, float]:
    run = Path(run_folder)
    config = json.loads((run / "config.json").read_text())["config"]
    data = load_dataset(config["dataset"], test_fraction=config["test_fraction"], seed=config["seed"])
    model = keras.models.load_model(run / "model.keras")
    scores = model.evaluate(data.x_test, data.y_test, verbose=0, return_dict=True)
    print(f"{run}: test accuracy {scores['accuracy']:.4f}  test loss {scores['loss']:.4f}")
    return scores


if __name__ == "__main__":
    main(sys.argv[1])
