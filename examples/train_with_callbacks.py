"""Train the lecture's MLP with plain `model.fit` and keras-minibatch's callbacks.

Run:  python examples/train_with_callbacks.py [EPOCHS]

Everything here is ordinary Keras: the `callbacks` package plugs into anyone's
`fit`. The test split is scored once, after training.
"""

import sys

import keras

from callbacks import EarlyStopping, EpochMetricsLogger
from keras_minibatch import build_mlp, load_dataset


def main(epochs: int = 10) -> dict[str, float]:
    keras.utils.set_random_seed(42)
    data = load_dataset("digits", test_fraction=0.2, seed=42)  # offline: scikit-learn's 8x8 digits
    model = build_mlp(data.input_shape, data.num_classes)  # Flatten, 32-64-128-256 relu, softmax

    model.fit(
        data.x_train,
        data.y_train,
        batch_size=32,
        epochs=epochs,
        validation_split=0.1,  # careful: Keras holds out the *last* rows; load_dataset shuffled them
        verbose=0,
        callbacks=[
            EpochMetricsLogger(num_samples=int(len(data.x_train) * 0.9)),  # one line per epoch
            EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True, verbose=1),
        ],
    )
    scores = model.evaluate(data.x_test, data.y_test, verbose=0, return_dict=True)
    print(f"test accuracy {scores['accuracy']:.4f}  test loss {scores['loss']:.4f}")
    return scores


if __name__ == "__main__":
    main(epochs=int(sys.argv[1]) if len(sys.argv) > 1 else 10)
