"""The lecture's MLP and its training loop, as the benchmarks' baselines build them."""

from __future__ import annotations

import time

BATCH_SIZE = 32
LEARNING_RATE = 1e-3


def build_model(*, uint8: bool, jit_compile: bool | str = False, steps_per_execution: int = 1):
    """The lecture's MLP, as `keras_minibatch.training.model.build_mlp` builds it; optionally fed uint8 pixels."""
    import keras

    inputs = [keras.Input(shape=(28, 28), dtype="uint8" if uint8 else "float32"), keras.layers.Flatten()]
    if uint8:  # Pixels stay 1 byte until here: 4x less memory for the training set.
        inputs.append(keras.layers.Rescaling(1 / 255))
    hidden = [keras.layers.Dense(units, activation="relu") for units in (32, 64, 128, 256)]
    model = keras.Sequential([*inputs, *hidden, keras.layers.Dense(10, activation="softmax")])
    model.compile(
        optimizer=keras.optimizers.Adam(LEARNING_RATE), loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=["accuracy"], jit_compile=jit_compile, steps_per_execution=steps_per_execution,
    )
    return model


class LectureLoop:
    """The lecture's loop: a `tf.function` GradientTape step over `shuffle(1024).batch(32)`.

    Args:
        x, y: The training rows, pixels as the loop is given them (the seed
            notebook's `x / 255.0` is float64; float32 is faster).
        x_test, y_test: Rows for `test_accuracy`.
    """

    def __init__(self, x, y, x_test, y_test):
        import keras
        import tensorflow as tf

        self.model = build_model(uint8=False)
        optimizer = keras.optimizers.Adam(LEARNING_RATE)
        loss_fn = keras.losses.SparseCategoricalCrossentropy()
        self.train_loss, self.train_accuracy = keras.metrics.Mean(), keras.metrics.SparseCategoricalAccuracy()
        self.dataset = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(1024).batch(BATCH_SIZE)
        self.x_test, self.y_test = x_test, y_test
        model, train_loss, train_accuracy = self.model, self.train_loss, self.train_accuracy

        @tf.function
        def train_step(images, labels):
            with tf.GradientTape() as tape:
                predictions = model(images, training=True)
                loss = loss_fn(labels, predictions)
            gradients = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(gradients, model.trainable_variables))
            train_loss.update_state(loss)
            train_accuracy.update_state(labels, predictions)

        self.train_step = train_step

    def epoch(self) -> float:
        start = time.perf_counter()
        for images, labels in self.dataset:
            self.train_step(images, labels)
        float(self.train_loss.result()), float(self.train_accuracy.result())  # The lecture prints these.
        self.train_loss.reset_state()
        self.train_accuracy.reset_state()
        return time.perf_counter() - start

    def test_accuracy(self) -> float:
        return float(self.model.evaluate(self.x_test, self.y_test, batch_size=1024, verbose=0, return_dict=True)["accuracy"])
