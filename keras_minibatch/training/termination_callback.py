"""A callback that stops `fit` once Ctrl-C or SIGTERM has arrived (see `termination`)."""

from __future__ import annotations

import keras

from keras_minibatch.training.termination import raise_if_stop_requested


class RaiseOnStopRequest(keras.callbacks.Callback):
    """Raises the remembered Ctrl-C or SIGTERM again at the next hook.

    A no-op until the command line's signal handler has run. It catches the
    rare interrupt whose first exception was swallowed before it stopped `fit`.
    Put it after any callback that saves an epoch, so a finished epoch is kept.
    """

    async_safe = True  # It only reads a flag; its exception comes back through Keras' futures.

    def on_train_begin(self, logs: dict | None = None) -> None:
        raise_if_stop_requested()

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        raise_if_stop_requested()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        raise_if_stop_requested()

    def on_test_batch_end(self, batch: int, logs: dict | None = None) -> None:
        raise_if_stop_requested()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        raise_if_stop_requested()
